//! kube-system/aws-auth `mapRoles`: merging one role's entry in or out without touching the
//! others, written with optimistic concurrency (the resourceVersion read) so a concurrent edit by
//! someone else is never overwritten: on conflict we read again and redo the merge. A ConfigMap
//! we had to create is labelled so, and deleted again when our removal leaves it empty.

use serde_json::{Value as Json, json};

use crate::kube::MANAGED_BY;
use crate::kube::objects::{self, ObjectRef, error_text};

pub const NODE_USERNAME: &str = "system:node:{{EC2PrivateDNSName}}";
const GROUPS: [&str; 2] = ["system:bootstrappers", "system:nodes"];
const ATTEMPTS: usize = 5;

pub enum Change<'a> {
    Add { arn: &'a str, username: &'a str },
    Remove { arn: &'a str },
}

fn aws_auth_ref() -> ObjectRef {
    ObjectRef::new("v1", "ConfigMap", Some("kube-system"), "aws-auth")
}

/// `mapRoles` after the change. Entries of other roles keep their position and content.
pub fn merged(map_roles: &str, change: &Change) -> Result<String, String> {
    let mut entries: Vec<Json> = if map_roles.trim().is_empty() {
        Vec::new()
    } else {
        serde_yaml_ng::from_str(map_roles)
            .map_err(|e| format!("mapRoles is not a YAML list: {e}"))?
    };
    let arn = match change {
        Change::Add { arn, .. } | Change::Remove { arn } => *arn,
    };
    let pos = entries.iter().position(|e| e["rolearn"] == arn);
    match (change, pos) {
        (Change::Add { username, .. }, Some(i)) => {
            entries[i]["username"] = json!(username);
            entries[i]["groups"] = json!(GROUPS);
        }
        (Change::Add { username, .. }, None) => {
            entries.push(json!({"rolearn": arn, "username": username, "groups": GROUPS}))
        }
        (Change::Remove { .. }, Some(i)) => {
            entries.remove(i);
        }
        (Change::Remove { .. }, None) => {}
    }
    if entries.is_empty() {
        return Ok(String::new());
    }
    serde_yaml_ng::to_string(&entries).map_err(|e| e.to_string())
}

/// The username mapped for `arn`, if the role is mapped.
pub async fn find(client: &kube::Client, arn: &str) -> Result<Option<String>, String> {
    let cm = objects::get(client, &aws_auth_ref())
        .await
        .map_err(|e| error_text(&e))?;
    let Some(cm) = cm else { return Ok(None) };
    let roles: Vec<Json> = match cm["data"]["mapRoles"].as_str() {
        Some(s) if !s.trim().is_empty() => {
            serde_yaml_ng::from_str(s).map_err(|e| format!("mapRoles is not a YAML list: {e}"))?
        }
        _ => Vec::new(),
    };
    Ok(roles
        .iter()
        .find(|e| e["rolearn"] == arn)
        .map(|e| e["username"].as_str().unwrap_or_default().to_string()))
}

/// Applies `change` to the live ConfigMap (creating it when absent and adding).
pub async fn edit(client: &kube::Client, change: &Change<'_>) -> Result<(), String> {
    let r = aws_auth_ref();
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        let current = objects::get(client, &r).await.map_err(|e| error_text(&e))?;
        let Some(cm) = current else {
            if matches!(change, Change::Remove { .. }) {
                return Ok(());
            }
            let roles = merged("", change)?;
            let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "aws-auth", "namespace": "kube-system",
                                          "labels": {MANAGED_BY.0: MANAGED_BY.1}},
                             "data": {"mapRoles": roles}});
            return objects::create(client, &obj)
                .await
                .map_err(|e| error_text(&e));
        };
        let roles = merged(cm["data"]["mapRoles"].as_str().unwrap_or_default(), change)?;
        let version = cm["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        let written = if roles.is_empty() && ours_and_empty(&cm) {
            objects::delete_unchanged(client, &r, version)
                .await
                .map(drop)
        } else {
            let patch =
                json!({"metadata": {"resourceVersion": version}, "data": {"mapRoles": roles}});
            objects::merge_patch(client, &r, &patch).await
        };
        match written {
            Ok(()) => return Ok(()),
            Err(e) if matches!(&e, kube::Error::Api(s) if s.code == 409) => last = error_text(&e),
            Err(e) => return Err(error_text(&e)),
        }
    }
    Err(format!(
        "kube-system/aws-auth kept changing under us ({ATTEMPTS} attempts): {last}"
    ))
}

/// Created by us and holding nothing but `mapRoles`: once that is empty, nobody needs the object.
fn ours_and_empty(cm: &Json) -> bool {
    let ours = cm["metadata"]["labels"][MANAGED_BY.0] == MANAGED_BY.1;
    let others_empty = cm["data"].as_object().is_none_or(|data| {
        data.iter()
            .filter(|(k, _)| k.as_str() != "mapRoles")
            .all(|(_, v)| v.as_str().is_none_or(|s| matches!(s.trim(), "" | "[]")))
    });
    ours && others_empty
}

#[cfg(test)]
mod tests {
    use super::*;

    const OTHERS: &str = "- rolearn: arn:aws:iam::1:role/ng\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n  - system:nodes\n- rolearn: arn:aws:iam::1:role/admin\n  username: admin\n  groups:\n  - system:masters\n";

    fn parse(s: &str) -> Vec<Json> {
        serde_yaml_ng::from_str(s).unwrap_or_default()
    }

    #[test]
    fn adding_keeps_every_other_entry_unchanged() -> Result<(), String> {
        let arn = "arn:aws:iam::1:role/KarpenterNodeRole-demo";
        let out = merged(
            OTHERS,
            &Change::Add {
                arn,
                username: NODE_USERNAME,
            },
        )?;
        let (before, after) = (parse(OTHERS), parse(&out));
        assert_eq!(after.len(), 3);
        assert_eq!(&after[..2], &before[..]);
        assert_eq!(after[2]["rolearn"], arn);
        // Adding twice does not duplicate.
        assert_eq!(
            parse(&merged(
                &out,
                &Change::Add {
                    arn,
                    username: NODE_USERNAME
                }
            )?)
            .len(),
            3
        );
        Ok(())
    }

    #[test]
    fn removing_takes_out_only_our_entry() -> Result<(), String> {
        let arn = "arn:aws:iam::1:role/KarpenterNodeRole-demo";
        let with = merged(
            OTHERS,
            &Change::Add {
                arn,
                username: NODE_USERNAME,
            },
        )?;
        let without = merged(&with, &Change::Remove { arn })?;
        assert_eq!(parse(&without), parse(OTHERS));
        assert_eq!(merged("", &Change::Remove { arn })?, "");
        Ok(())
    }

    #[test]
    fn only_a_config_map_we_created_and_nobody_else_uses_is_deleted() {
        let cm = |labels: Json, data: Json| json!({"metadata": {"labels": labels}, "data": data});
        let ours = json!({MANAGED_BY.0: MANAGED_BY.1});
        assert!(ours_and_empty(&cm(ours.clone(), json!({"mapRoles": ""}))));
        assert!(ours_and_empty(&cm(
            ours.clone(),
            json!({"mapUsers": "[]\n"})
        )));
        assert!(!ours_and_empty(&cm(
            ours,
            json!({"mapUsers": "- userarn: x\n"})
        )));
        assert!(!ours_and_empty(&cm(json!({}), json!({"mapRoles": ""}))));
    }

    #[test]
    fn garbage_is_an_error_not_a_reset() {
        assert!(merged("rolearn: [", &Change::Remove { arn: "x" }).is_err());
    }
}
