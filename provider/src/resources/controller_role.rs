//! `karpenter_controller_role`: the role the controller's pods assume, through EKS Pod Identity
//! (default) or IRSA, with the controller policy attached.

use std::time::Duration;

use async_trait::async_trait;

use super::common::{aws, tags_for_state};
use super::iam_common::{
    ArnWithResource, IamName, doc_for_state, iam, set_value, timeouts_block, validate_timeouts,
};
use super::iam_role;
use crate::plugin::validate::{CharsIn, LengthBetween};
use crate::plugin::{
    Attribute, AttributePath, Block, CallContext, Diagnostics, Importer, PlannedChange, Resource,
    Schema, Value,
};
use crate::provider::AwsContext;

pub struct ControllerRole;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Pod Identity trust, or IRSA trust when an OIDC provider is given. None while inputs are unknown.
pub fn trust_policy(
    oidc_provider_arn: &Value,
    namespace: &Value,
    service_account: &Value,
) -> Option<String> {
    let doc = match oidc_provider_arn {
        Value::Null => serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "EksPodIdentity",
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"]
            }]
        }),
        Value::String(arn) => {
            let issuer = arn.split_once(":oidc-provider/").map(|(_, i)| i)?;
            let (ns, sa) = (namespace.as_str()?, service_account.as_str()?);
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "IrsaServiceAccount",
                    "Effect": "Allow",
                    "Principal": {"Federated": arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {
                        format!("{issuer}:aud"): "sts.amazonaws.com",
                        format!("{issuer}:sub"): format!("system:serviceaccount:{ns}:{sa}")
                    }}
                }]
            })
        }
        _ => return None,
    };
    Some(doc.to_string())
}

impl ControllerRole {
    async fn fetch(
        &self,
        aws: &AwsContext,
        name: &str,
        prior: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let remote = iam_role::fetch(&iam(aws), name, diags).await?;
        let trust_json: serde_json::Value = serde_json::from_str(&remote.trust).unwrap_or_default();
        let federated = trust_json["Statement"][0]["Principal"]["Federated"]
            .as_str()
            .map(str::to_string);
        // On import, recover the IRSA inputs from the trust policy we wrote.
        let sub = trust_json["Statement"][0]["Condition"]["StringEquals"]
            .as_object()
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.ends_with(":sub"))
                    .and_then(|(_, v)| v.as_str().map(str::to_string))
            });
        let (ns, sa) = sub
            .as_deref()
            .and_then(|s| s.strip_prefix("system:serviceaccount:"))
            .and_then(|s| s.split_once(':'))
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .unwrap_or(("karpenter".into(), "karpenter".into()));
        let pick = |k: &str, found: Value| {
            if prior.is_null() {
                found
            } else {
                prior.get(k).clone()
            }
        };
        // One policy attached is the controller policy; more are the user's business.
        let policy = match prior.get("policy_arn").as_str() {
            Some(p) if remote.attached.contains(p) => Value::string(p),
            Some(_) => Value::Null,
            None => remote
                .attached
                .iter()
                .next()
                .map(Value::string)
                .unwrap_or(Value::Null),
        };
        let expected = prior.get("assume_role_policy");
        Some(Value::object([
            ("name", Value::string(name)),
            ("policy_arn", policy),
            (
                "oidc_provider_arn",
                pick(
                    "oidc_provider_arn",
                    federated.map(Value::String).unwrap_or(Value::Null),
                ),
            ),
            ("namespace", pick("namespace", Value::String(ns))),
            (
                "service_account",
                pick("service_account", Value::String(sa)),
            ),
            ("arn", Value::string(remote.arn)),
            ("assume_role_policy", doc_for_state(&remote.trust, expected)),
            ("attached_policy_arns", set_value(remote.attached)),
            ("tags", tags_for_state(&remote.tags, aws, prior)),
            ("timeouts", prior.get("timeouts").clone()),
        ]))
    }
}

#[async_trait]
impl Resource for ControllerRole {
    fn type_name(&self) -> &'static str {
        "karpenter_controller_role"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new()
                .description(
                    "The IAM role the karpenter-rs controller's pods assume, with the controller policy attached. Trusts \
                     EKS Pod Identity (`pods.eks.amazonaws.com`) by default; with `oidc_provider_arn` it trusts that \
                     service account through IRSA instead. Its `arn` is what the service account annotation \
                     (`eks.amazonaws.com/role-arn`) or the Pod Identity association needs.",
                )
                .attribute(
                    Attribute::string("name")
                        .optional()
                        .computed()
                        .description("Role name. Defaults to `KarpenterControllerRole-<cluster_name>`.")
                        .validator(IamName(64))
                        .requires_replace()
                        .use_state_for_unknown(),
                )
                .attribute(
                    Attribute::string("policy_arn")
                        .required()
                        .description("ARN of the controller policy (`karpenter_controller_policy.<name>.arn`). Changes in place.")
                        .validator(ArnWithResource("iam", "policy/")),
                )
                .attribute(
                    Attribute::string("oidc_provider_arn")
                        .optional()
                        .description("The cluster's IAM OIDC provider, for IRSA trust. Leave unset for EKS Pod Identity.")
                        .validator(ArnWithResource("iam", "oidc-provider/")),
                )
                .attribute(
                    Attribute::string("namespace")
                        .default_value(Value::string("karpenter"))
                        .description("Namespace of the controller's service account (IRSA only).")
                        .validator(LengthBetween(1, 63))
                        .validator(CharsIn {
                            allowed: "lowercase letters, digits and `-` (a Kubernetes namespace)",
                            test: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
                        }),
                )
                .attribute(
                    Attribute::string("service_account")
                        .default_value(Value::string("karpenter"))
                        .description("Name of the controller's service account (IRSA only).")
                        .validator(LengthBetween(1, 253))
                        .validator(CharsIn {
                            allowed: "lowercase letters, digits, `-` and `.` (a Kubernetes name)",
                            test: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.',
                        }),
                )
                .attribute(Attribute::string_map("tags").optional().description("Tags of the role, added to the provider's `default_tags`."))
                .attribute(Attribute::string("arn").computed().use_state_for_unknown().description("Role ARN."))
                .attribute(Attribute::string("assume_role_policy").computed().description("The trust policy (JSON)."))
                .attribute(
                    Attribute::string_set("attached_policy_arns")
                        .computed()
                        .description("Managed policies attached; anything but `policy_arn` shows as a change and is detached."),
                )
                .block(timeouts_block(&["create"], "2m")),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_timeouts(config, &["create"], diags);
        let oidc_unset = config.get("oidc_provider_arn").is_null();
        for k in ["namespace", "service_account"] {
            if oidc_unset && !config.get(k).is_null() {
                diags.warning_at(
                    AttributePath::attr(k),
                    "Only used with IRSA",
                    format!("`{k}` matters only with `oidc_provider_arn`; EKS Pod Identity names the service account in its association."),
                );
            }
        }
    }

    async fn modify_plan(
        &self,
        ctx: &CallContext,
        _prior: &Value,
        _config: &Value,
        plan: &mut PlannedChange,
        _diags: &mut Diagnostics,
    ) {
        if plan.planned.is_null() {
            return;
        }
        let Some(aws) = ctx.provider_data::<AwsContext>() else {
            return;
        };
        let p = &mut plan.planned;
        if p.get("name").is_unknown() {
            p.set(
                "name",
                Value::string(format!("KarpenterControllerRole-{}", aws.cluster_name)),
            );
        }
        let trust = trust_policy(
            p.get("oidc_provider_arn"),
            p.get("namespace"),
            p.get("service_account"),
        );
        p.set(
            "assume_role_policy",
            trust.map(Value::String).unwrap_or(Value::Unknown),
        );
        let attached = match p.get("policy_arn") {
            Value::String(s) => set_value([s.clone()]),
            _ => Value::Unknown,
        };
        p.set("attached_policy_arns", attached);
    }

    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let client = iam(&aws);
        let name = planned.get("name").as_str().unwrap_or_default().to_string();
        let Some(trust) = trust_policy(
            planned.get("oidc_provider_arn"),
            planned.get("namespace"),
            planned.get("service_account"),
        ) else {
            diags.error_at(
                AttributePath::attr("oidc_provider_arn"),
                "Invalid OIDC provider ARN",
                "Expected `arn:aws:iam::<account>:oidc-provider/<issuer>`.",
            );
            return None;
        };
        let description = format!("karpenter-rs controller of cluster {}", aws.cluster_name);
        let arn = iam_role::create(
            &client,
            &name,
            &trust,
            &description,
            &aws.merged_tags(planned.get("tags")),
            diags,
        )
        .await?;
        let mut state = planned.clone();
        state.set("arn", Value::string(arn));
        state.set("assume_role_policy", Value::string(trust));
        if !iam_role::sync_planned_policies(
            ctx,
            &client,
            &name,
            &Value::Null,
            planned,
            DEFAULT_TIMEOUT,
            diags,
        )
        .await
        {
            state.set("attached_policy_arns", Value::Null);
        }
        Some(state)
    }

    async fn read(
        &self,
        ctx: &CallContext,
        state: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let name = state.get("name").as_str()?.to_string();
        self.fetch(&aws, &name, state, diags).await
    }

    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        iam_role::update(ctx, prior, planned, DEFAULT_TIMEOUT, diags).await
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(aws) = aws(ctx, diags) else { return };
        let Some(name) = prior.get("name").as_str() else {
            return;
        };
        iam_role::delete(&iam(&aws), name, diags).await;
    }

    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}

#[async_trait]
impl Importer for ControllerRole {
    fn id_description(&self) -> String {
        "the role name".into()
    }

    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let state = self.fetch(&aws, id, &Value::Null, diags).await;
        if state.is_none() && !diags.has_errors() {
            diags.error(
                "Role not found",
                format!("No IAM role named {id:?} exists."),
            );
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_identity_is_the_default_trust() {
        let t: serde_json::Value =
            serde_json::from_str(&trust_policy(&Value::Null, &Value::Null, &Value::Null).unwrap())
                .unwrap();
        assert_eq!(
            t["Statement"][0]["Principal"]["Service"],
            "pods.eks.amazonaws.com"
        );
        assert_eq!(t["Statement"][0]["Action"][1], "sts:TagSession");
    }

    #[test]
    fn irsa_trust_names_the_service_account() {
        let arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC";
        let t = trust_policy(
            &Value::string(arn),
            &Value::string("karpenter"),
            &Value::string("ctl"),
        )
        .unwrap();
        let t: serde_json::Value = serde_json::from_str(&t).unwrap();
        let cond = &t["Statement"][0]["Condition"]["StringEquals"];
        assert_eq!(
            cond["oidc.eks.us-east-1.amazonaws.com/id/ABC:sub"],
            "system:serviceaccount:karpenter:ctl"
        );
        assert_eq!(
            cond["oidc.eks.us-east-1.amazonaws.com/id/ABC:aud"],
            "sts.amazonaws.com"
        );
        assert!(trust_policy(&Value::Unknown, &Value::Null, &Value::Null).is_none());
    }
}
