//! `karpenter_controller_role`: the role the controller's pods assume, through EKS Pod Identity
//! (default) or IRSA, with the controller policy attached.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;

use crate::aws_context::AwsContext;
use crate::model;
use crate::plugin::validate::{CharsIn, LengthBetween};
use crate::plugin::{Attribute, AttributePath, Block, Diagnostics, PlannedChange, Value};
use crate::resources::aws::iam;
use crate::resources::aws::identifiers::{Arn, IamName};
use crate::resources::aws::tags::tags_for_state;
use crate::resources::framework::{AwsObject, Fetched, Op, Timeouts, default_name};
use crate::resources::policies::{Irsa, controller_trust, doc_for_state};
use crate::resources::roles::{self as iam_role, RoleSpec};

pub struct ControllerRole;

model! {
    pub struct Role {
        name: Option<String>,
        policy_arn: Option<String>,
        oidc_provider_arn: Option<String>,
        namespace: Option<String>,
        service_account: Option<String>,
        tags: Option<BTreeMap<String, String>>,
        arn: Option<String>,
        assume_role_policy: Option<String>,
        attached_policy_arns: Option<BTreeSet<String>>,
    }
}

/// The trust policy of the planned inputs: None while one is unknown, or when the OIDC
/// provider's ARN is not one.
fn trust_of(oidc: &Value, namespace: &Value, service_account: &Value) -> Option<String> {
    let irsa = match oidc {
        Value::Null => None,
        Value::String(arn) => Some(Irsa {
            oidc_provider_arn: arn,
            namespace: namespace.as_str()?,
            service_account: service_account.as_str()?,
        }),
        _ => return None,
    };
    controller_trust(irsa).map(|j| j.to_string())
}

fn spec(r: &Role) -> RoleSpec<'_> {
    RoleSpec {
        trust: r.assume_role_policy.as_deref(),
        attached: r.attached_policy_arns.as_ref(),
        tags: &r.tags,
    }
}

#[async_trait]
impl AwsObject for ControllerRole {
    type State = Role;
    const TYPE_NAME: &'static str = "karpenter_controller_role";
    const NOUN: &'static str = "IAM role";
    const IMPORT_ID: &'static str = "the role name";
    const TIMEOUTS: Timeouts = &[("create", Duration::from_secs(120))];

    fn schema(&self) -> Block {
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
                .description("Role name.")
            .plan_modifier(default_name("KarpenterControllerRole-<cluster_name>", |aws| {
                format!("KarpenterControllerRole-{}", aws.cluster_name)
            }))
                .validator(IamName(64))
                .requires_replace()
                .use_state_for_unknown(),
        )
        .attribute(
            Attribute::string("policy_arn")
                .required()
                .description("ARN of the controller policy (`karpenter_controller_policy.<name>.arn`). Changes in place.")
                .validator(Arn::with_resource("iam", "policy/")),
        )
        .attribute(
            Attribute::string("oidc_provider_arn")
                .optional()
                .description("The cluster's IAM OIDC provider, for IRSA trust. Leave unset for EKS Pod Identity.")
                .validator(Arn::with_resource("iam", "oidc-provider/")),
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
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
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

    fn plan(&self, _aws: &AwsContext, _prior: &Value, plan: &mut PlannedChange) {
        let p = &mut plan.planned;
        let trust = trust_of(
            p.get("oidc_provider_arn"),
            p.get("namespace"),
            p.get("service_account"),
        );
        p.set(
            "assume_role_policy",
            trust.map(Value::String).unwrap_or(Value::Unknown),
        );
        let attached = match p.get("policy_arn") {
            Value::String(s) => Value::Set(vec![Value::string(s.as_str())]),
            _ => Value::Unknown,
        };
        p.set("attached_policy_arns", attached);
    }

    fn locator(state: &Role) -> Option<String> {
        state.name.clone()
    }

    fn imported(id: &str, _locator: &str) -> Role {
        Role {
            name: Some(id.to_string()),
            ..Role::default()
        }
    }

    async fn fetch(
        &self,
        aws: &AwsContext,
        name: &str,
        prior: &Role,
        diags: &mut Diagnostics,
    ) -> Fetched<Role> {
        let remote = match iam_role::fetch(&iam(aws), name, diags).await {
            Fetched::Found(r) => r,
            Fetched::Gone => return Fetched::Gone,
            Fetched::Failed => return Fetched::Failed,
        };
        // An import knows nothing but the name: recover the IRSA inputs from the trust policy
        // we wrote. A read keeps what the configuration said.
        let importing = prior.arn.is_none();
        let trust_json: serde_json::Value = serde_json::from_str(&remote.trust).unwrap_or_default();
        let statement = &trust_json["Statement"][0];
        let federated = statement["Principal"]["Federated"]
            .as_str()
            .map(str::to_string);
        let sub = statement["Condition"]["StringEquals"]
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
        // One policy attached is the controller policy; more are the user's business.
        let policy_arn = match &prior.policy_arn {
            Some(p) => remote.attached.contains(p).then(|| p.clone()),
            None => remote.attached.iter().next().cloned(),
        };
        let (oidc_provider_arn, namespace, service_account) = if importing {
            (federated, Some(ns), Some(sa))
        } else {
            (
                prior.oidc_provider_arn.clone(),
                prior.namespace.clone(),
                prior.service_account.clone(),
            )
        };
        Fetched::Found(Role {
            name: Some(name.to_string()),
            policy_arn,
            oidc_provider_arn,
            namespace,
            service_account,
            arn: Some(remote.arn),
            assume_role_policy: Some(doc_for_state(
                &remote.trust,
                prior.assume_role_policy.as_deref(),
            )),
            attached_policy_arns: Some(remote.attached),
            tags: tags_for_state(&remote.tags, aws, &prior.tags),
        })
    }

    async fn left_by_an_interrupted_apply(
        &self,
        aws: &AwsContext,
        planned: &Role,
    ) -> Option<String> {
        iam_role::owned(aws, planned.name.as_deref()).await
    }

    async fn create(&self, op: &Op<'_>, planned: &Role, diags: &mut Diagnostics) -> Option<Role> {
        let aws = op.aws;
        let name = planned.name.clone().unwrap_or_default();
        let opt = |v: &Option<String>| v.as_deref().map_or(Value::Null, Value::string);
        let Some(trust) = trust_of(
            &opt(&planned.oidc_provider_arn),
            &opt(&planned.namespace),
            &opt(&planned.service_account),
        ) else {
            diags.error_at(
                AttributePath::attr("oidc_provider_arn"),
                "Invalid OIDC provider ARN",
                "Expected `arn:aws:iam::<account>:oidc-provider/<issuer>`.",
            );
            return None;
        };
        let description = format!("karpenter-rs controller of cluster {}", aws.cluster_name);
        let want = Role {
            assume_role_policy: Some(trust.clone()),
            ..planned.clone()
        };
        let (arn, attached) =
            iam_role::create_with_policies(op, &name, &trust, &description, spec(&want), diags)
                .await?;
        Some(Role {
            arn: Some(arn),
            attached_policy_arns: want.attached_policy_arns.clone().filter(|_| attached),
            ..want
        })
    }

    async fn update(
        &self,
        op: &Op<'_>,
        prior: &Role,
        planned: &Role,
        diags: &mut Diagnostics,
    ) -> Option<Role> {
        let name = prior.name.as_deref()?;
        iam_role::update(op, name, spec(prior), spec(planned), diags)
            .await
            .then(|| planned.clone())
    }

    async fn delete(&self, op: &Op<'_>, prior: &Role, diags: &mut Diagnostics) {
        if let Some(name) = prior.name.as_deref() {
            iam_role::delete(&iam(op.aws), name, diags).await;
        }
    }
}
