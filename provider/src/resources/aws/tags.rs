//! Tags: what state shows of them and how IAM takes them.

use std::collections::BTreeMap;

use crate::aws_context::AwsContext;
use crate::plugin::Diagnostics;

/// The user's own tags as they should appear in state: provider default tags with the same value
/// and the ownership tag are not the user's, and no tags at all stays null when the user wrote none.
pub fn tags_for_state(
    remote: &BTreeMap<String, String>,
    aws: &AwsContext,
    prior: &Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    let own: BTreeMap<String, String> = remote
        .iter()
        .filter(|(k, v)| {
            k.as_str() != karpenter_contract::tags::TERRAFORM_OWNER
                && (prior.as_ref().is_some_and(|p| p.contains_key(*k))
                    || aws.default_tags.get(*k) != Some(*v))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!own.is_empty() || prior.is_some()).then_some(own)
}

/// Keys present before and absent now: what an update must untag.
pub fn stale_keys(had: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> Vec<String> {
    had.keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect()
}

pub fn iam_tags(
    m: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) -> Option<Vec<aws_sdk_iam::types::Tag>> {
    m.iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| diags.error("Invalid tag", e.to_string()))
        .ok()
}

pub fn iam_tag_map(tags: &[aws_sdk_iam::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}
