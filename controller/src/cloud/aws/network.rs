//! Subnets and security groups by the provisioner's tag selectors.

use super::AwsCloud;
use super::sdk_error::from_sdk;
use crate::cloud::error::CloudError;
use crate::cloud::provider::{SELECTOR_ANY_VALUE, SELECTOR_IDS_KEY, Selector};
use crate::cloud::types::{SecurityGroup, Subnet};
use aws_sdk_ec2::types::{Filter, Tag};
use std::collections::BTreeMap;

/// EC2 filters for a selector, plus the ids of an `aws-ids` entry.
pub(super) fn selector_filters(
    kind: &str,
    selector: &Selector,
) -> Result<(Vec<Filter>, Vec<String>), CloudError> {
    if selector.is_empty() {
        return Err(CloudError::invalid_request(format!(
            "empty {kind} selector: it would select every {kind} in the account; give at least one tag"
        )));
    }
    let mut filters = Vec::new();
    let mut ids = Vec::new();
    for (key, value) in selector {
        let values: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect();
        if key == SELECTOR_IDS_KEY {
            ids.extend(values);
        } else if value == SELECTOR_ANY_VALUE {
            filters.push(Filter::builder().name("tag-key").values(key).build());
        } else {
            filters.push(
                Filter::builder()
                    .name(format!("tag:{key}"))
                    .set_values(Some(values))
                    .build(),
            );
        }
    }
    Ok((filters, ids))
}

pub(super) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

impl AwsCloud {
    pub(super) async fn describe_subnets(
        &self,
        selector: &Selector,
    ) -> Result<Vec<Subnet>, CloudError> {
        let op = "DescribeSubnets";
        let (filters, ids) = selector_filters("subnet", selector)?;
        let found = self
            .ec2
            .describe_subnets()
            .set_filters(Some(filters))
            .set_subnet_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk(op, e))?;
        let mut out: Vec<Subnet> = found
            .iter()
            .filter_map(|s| {
                Some(Subnet {
                    id: s.subnet_id()?.to_string(),
                    zone: s.availability_zone()?.to_string(),
                    available_ips: s.available_ip_address_count().unwrap_or(0),
                    tags: tag_map(s.tags()),
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    pub(super) async fn describe_security_groups(
        &self,
        selector: &Selector,
    ) -> Result<Vec<SecurityGroup>, CloudError> {
        let op = "DescribeSecurityGroups";
        let (filters, ids) = selector_filters("security group", selector)?;
        let found = self
            .ec2
            .describe_security_groups()
            .set_filters(Some(filters))
            .set_group_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk(op, e))?;
        let mut out: Vec<SecurityGroup> = found
            .iter()
            .filter_map(|g| {
                Some(SecurityGroup {
                    id: g.group_id()?.to_string(),
                    name: g.group_name().unwrap_or_default().to_string(),
                    tags: tag_map(g.tags()),
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_become_tag_filters_and_ids() {
        let selector = Selector::from([
            ("karpenter.sh/discovery".to_string(), "demo".to_string()),
            ("tier".to_string(), "*".to_string()),
            ("aws-ids".to_string(), "subnet-1, subnet-2".to_string()),
            ("env".to_string(), "dev,test".to_string()),
        ]);
        let (filters, ids) = selector_filters("subnet", &selector).unwrap_or_default();
        assert_eq!(ids, ["subnet-1", "subnet-2"]);
        let as_pairs: Vec<(&str, Vec<&str>)> = filters
            .iter()
            .map(|f| {
                (
                    f.name().unwrap_or_default(),
                    f.values().iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            as_pairs,
            [
                ("tag:env", vec!["dev", "test"]),
                ("tag:karpenter.sh/discovery", vec!["demo"]),
                ("tag-key", vec!["tier"])
            ]
        );
    }

    #[test]
    fn an_empty_selector_is_refused_with_the_reason() {
        let err = selector_filters("subnet", &Selector::new()).err();
        assert!(err.is_some_and(|e| e.to_string().contains("every subnet")));
    }
}
