//! IAM role operations the node role and the controller role share: create with trust and
//! policies, read back (trust, tags, attached policies), converge, delete.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_iam::error::ProvideErrorMetadata as _;

use super::aws::errors::{aws_error, is_no_such_entity, sdk_error_text};
use super::aws::retry::{RetryEnd, retry_eventual};
use super::aws::tags::{iam_tag_map, iam_tags, stale_keys};
use crate::aws_context::AwsContext;
use crate::plugin::{CallContext, Diagnostics};
use crate::resources::framework::{Fetched, Op};
use crate::resources::policies::decode_policy;

/// What a role looks like in IAM.
pub struct RemoteRole {
    pub arn: String,
    /// Decoded JSON text of the trust policy.
    pub trust: String,
    pub tags: BTreeMap<String, String>,
    pub attached: BTreeSet<String>,
}

/// The role's name when it exists and this provider created it for this cluster
/// (`AwsContext::owns`): what `AwsObject::left_by_an_interrupted_apply` asks of both roles.
pub async fn owned(aws: &AwsContext, name: Option<&str>) -> Option<String> {
    let name = name?;
    let tags = super::aws::iam(aws)
        .list_role_tags()
        .role_name(name)
        .send()
        .await
        .ok()?;
    aws.owns(&iam_tag_map(tags.tags()))
        .then(|| name.to_string())
}

/// Reads a role.
pub async fn fetch(
    iam: &aws_sdk_iam::Client,
    name: &str,
    diags: &mut Diagnostics,
) -> Fetched<RemoteRole> {
    match read(iam, name, diags).await {
        Some(r) => Fetched::Found(r),
        None if diags.has_errors() => Fetched::Failed,
        None => Fetched::Gone,
    }
}

/// None without errors when the role does not exist.
async fn read(
    iam: &aws_sdk_iam::Client,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<RemoteRole> {
    let role = match iam.get_role().role_name(name).send().await {
        Ok(o) => o.role?,
        Err(e) => {
            if !e.as_service_error().is_some_and(is_no_such_entity) {
                aws_error(
                    diags,
                    "iam:GetRole",
                    &format!("role {name}"),
                    &sdk_error_text(&e),
                );
            }
            return None;
        }
    };
    let tags = match iam.list_role_tags().role_name(name).send().await {
        Ok(o) => iam_tag_map(o.tags()),
        Err(e) => {
            aws_error(
                diags,
                "iam:ListRoleTags",
                &format!("role {name}"),
                &sdk_error_text(&e),
            );
            return None;
        }
    };
    let attached = attached_policies(iam, name, diags).await?;
    Some(RemoteRole {
        arn: role.arn().to_string(),
        trust: decode_policy(role.assume_role_policy_document().unwrap_or_default()),
        tags,
        attached,
    })
}

pub async fn attached_policies(
    iam: &aws_sdk_iam::Client,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        match iam
            .list_attached_role_policies()
            .role_name(name)
            .set_marker(marker.take())
            .send()
            .await
        {
            Ok(o) => {
                out.extend(
                    o.attached_policies()
                        .iter()
                        .filter_map(|p| p.policy_arn())
                        .map(str::to_string),
                );
                match o.marker() {
                    Some(m) if o.is_truncated() => marker = Some(m.to_string()),
                    _ => return Some(out),
                }
            }
            Err(e) => {
                aws_error(
                    diags,
                    "iam:ListAttachedRolePolicies",
                    &format!("role {name}"),
                    &sdk_error_text(&e),
                );
                return None;
            }
        }
    }
}

/// Creates the role; returns its ARN, or None (with an error) when nothing was created.
pub async fn create(
    iam: &aws_sdk_iam::Client,
    name: &str,
    trust: &str,
    description: &str,
    tags: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) -> Option<String> {
    let tags = iam_tags(tags, diags)?;
    match iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .description(description)
        .set_tags(Some(tags).filter(|t| !t.is_empty()))
        .send()
        .await
    {
        Ok(o) => Some(o.role.map(|r| r.arn).unwrap_or_default()),
        Err(e) => {
            let hint = if e.code() == Some("EntityAlreadyExists") {
                format!(
                    "A role named {name} already exists: import it (`terraform import <address> {name}`) or choose another name."
                )
            } else {
                sdk_error_text(&e)
            };
            aws_error(diags, "iam:CreateRole", &format!("role {name}"), &hint);
            None
        }
    }
}

/// Attaches and detaches managed policies so exactly `want` is attached. Newly created policies
/// may not be visible to IAM yet: attaching retries `NoSuchEntity` until `timeout`.
pub async fn sync_policies(
    ctx: &CallContext,
    iam: &aws_sdk_iam::Client,
    name: &str,
    had: &BTreeSet<String>,
    want: &BTreeSet<String>,
    timeout: Duration,
    diags: &mut Diagnostics,
) -> bool {
    for arn in had.difference(want) {
        if let Err(e) = iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            && !e.as_service_error().is_some_and(is_no_such_entity)
        {
            aws_error(
                diags,
                "iam:DetachRolePolicy",
                &format!("{arn} on role {name}"),
                &sdk_error_text(&e),
            );
            return false;
        }
    }
    for arn in want.difference(had) {
        let r = retry_eventual(ctx, timeout, || {
            iam.attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
        })
        .await;
        match r {
            Ok(_) => {}
            Err(RetryEnd::Failed(e)) => {
                let why = format!(
                    "{}\n\nThe policy must exist and be attachable; check the ARN {arn}.",
                    sdk_error_text(&e)
                );
                aws_error(
                    diags,
                    "iam:AttachRolePolicy",
                    &format!("{arn} on role {name}"),
                    &why,
                );
                return false;
            }
            Err(RetryEnd::Cancelled) => {
                diags.error(
                    "Interrupted while attaching policies",
                    format!("The role {name} exists and is recorded in state; run apply again to attach {arn}."),
                );
                return false;
            }
        }
    }
    true
}

pub async fn sync_tags(
    iam: &aws_sdk_iam::Client,
    name: &str,
    had: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) -> bool {
    let stale = stale_keys(had, want);
    if !stale.is_empty()
        && let Err(e) = iam
            .untag_role()
            .role_name(name)
            .set_tag_keys(Some(stale))
            .send()
            .await
    {
        aws_error(
            diags,
            "iam:UntagRole",
            &format!("role {name}"),
            &sdk_error_text(&e),
        );
        return false;
    }
    if want != had && !want.is_empty() {
        let Some(tags) = iam_tags(want, diags) else {
            return false;
        };
        if let Err(e) = iam
            .tag_role()
            .role_name(name)
            .set_tags(Some(tags))
            .send()
            .await
        {
            aws_error(
                diags,
                "iam:TagRole",
                &format!("role {name}"),
                &sdk_error_text(&e),
            );
            return false;
        }
    }
    true
}

pub async fn update_trust(
    iam: &aws_sdk_iam::Client,
    name: &str,
    trust: &str,
    diags: &mut Diagnostics,
) -> bool {
    match iam
        .update_assume_role_policy()
        .role_name(name)
        .policy_document(trust)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) => {
            aws_error(
                diags,
                "iam:UpdateAssumeRolePolicy",
                &format!("role {name}"),
                &sdk_error_text(&e),
            );
            false
        }
    }
}

/// Detaches managed policies, deletes inline ones, then the role. A role still in an instance
/// profile cannot be deleted: the error says which profile holds it.
pub async fn delete(iam: &aws_sdk_iam::Client, name: &str, diags: &mut Diagnostics) {
    let what = format!("role {name}");
    let Some(attached) = attached_policies(iam, name, &mut Diagnostics::new()).await else {
        // Gone already, or unreadable: the delete below reports which.
        return delete_only(iam, name, &what, diags).await;
    };
    for arn in attached {
        if let Err(e) = iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(&arn)
            .send()
            .await
            && !e.as_service_error().is_some_and(is_no_such_entity)
        {
            aws_error(
                diags,
                "iam:DetachRolePolicy",
                &format!("{arn} on {what}"),
                &sdk_error_text(&e),
            );
            return;
        }
    }
    if let Ok(o) = iam.list_role_policies().role_name(name).send().await {
        for p in o.policy_names() {
            if let Err(e) = iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(p)
                .send()
                .await
            {
                aws_error(
                    diags,
                    "iam:DeleteRolePolicy",
                    &format!("inline policy {p} of {what}"),
                    &sdk_error_text(&e),
                );
                return;
            }
        }
    }
    delete_only(iam, name, &what, diags).await;
}

async fn delete_only(iam: &aws_sdk_iam::Client, name: &str, what: &str, diags: &mut Diagnostics) {
    if let Err(e) = iam.delete_role().role_name(name).send().await
        && !e.as_service_error().is_some_and(is_no_such_entity)
    {
        let mut why = sdk_error_text(&e);
        if e.code() == Some("DeleteConflict") {
            why.push_str("\n\nThe role is still used (e.g. by an instance profile); remove it from there first.");
        }
        aws_error(diags, "iam:DeleteRole", what, &why);
    }
}

/// Creates a role and attaches its managed policies. None (with an error) when no role was
/// created; else its ARN and whether every policy got attached. Once the role exists, the caller
/// returns its state even when attaching failed, so Terraform tracks it.
pub async fn create_with_policies(
    op: &Op<'_>,
    name: &str,
    trust: &str,
    description: &str,
    want: RoleSpec<'_>,
    diags: &mut Diagnostics,
) -> Option<(String, bool)> {
    let iam = super::aws::iam(op.aws);
    let tags = op.aws.owned_tags(want.tags);
    let arn = create(&iam, name, trust, description, &tags, diags).await?;
    let none = BTreeSet::new();
    let policies = want.attached.unwrap_or(&none);
    let attached = sync_policies(op.ctx, &iam, name, &none, policies, op.timeout, diags).await;
    Some((arn, attached))
}

/// What a role should be, or was: the parts that change in place.
pub struct RoleSpec<'a> {
    pub trust: Option<&'a str>,
    pub attached: Option<&'a BTreeSet<String>>,
    pub tags: &'a Option<BTreeMap<String, String>>,
}

/// A role's `update`: trust policy, managed policies and tags brought from `had` to `want`.
pub async fn update(
    op: &Op<'_>,
    name: &str,
    had: RoleSpec<'_>,
    want: RoleSpec<'_>,
    diags: &mut Diagnostics,
) -> bool {
    let iam = super::aws::iam(op.aws);
    if let Some(trust) = want.trust
        && want.trust != had.trust
        && !update_trust(&iam, name, trust, diags).await
    {
        return false;
    }
    let none = BTreeSet::new();
    let (had_p, want_p) = (
        had.attached.unwrap_or(&none),
        want.attached.unwrap_or(&none),
    );
    if !sync_policies(op.ctx, &iam, name, had_p, want_p, op.timeout, diags).await {
        return false;
    }
    let had_tags = op.aws.merged_tags(had.tags);
    sync_tags(&iam, name, &had_tags, &op.aws.merged_tags(want.tags), diags).await
}
