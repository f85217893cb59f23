//! `karpenter_controller`: installs or upgrades the controller (CRD, namespace, ServiceAccount,
//! RBAC, settings, Deployment, metrics Service, PodDisruptionBudget) with server-side apply, and on
//! destroy removes every provisioner's capacity before uninstalling (see `controller_teardown`).

pub mod chart;
mod objects;
mod rollout;
pub mod teardown;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use karpenter_contract::settings::SettingKey;
use karpenter_core::interruption::{Action, EventKind};

use crate::kube::objects::{self as kobj, ObjectRef, error_text};
use crate::model;
use crate::plugin::Model;
use crate::plugin::model::Field;
use crate::plugin::validate::IntBetween;
use crate::plugin::{
    Attribute, AttributePath, Block, BlockNesting, CallContext, Diagnostics, NestedBlock,
    PlannedChange, Read, Resource, Schema, Value,
};
use crate::resources::aws::context;
use crate::resources::aws::retry::wait_until;
use crate::resources::framework::decode_model;
use crate::resources::framework::timeouts::{self, Timeouts, parse_duration};
use objects::{APP, IRSA_ANNOTATION, Install, LEASE_NAME, RESERVED_ENV, objects};
use teardown::{controller_alive, remove_capacity};

pub struct ControllerInstall;

const TYPE_NAME: &str = "karpenter_controller";

const TIMEOUTS: Timeouts = &[
    ("create", Duration::from_secs(5 * 60)),
    ("delete", Duration::from_secs(15 * 60)),
];

model! {
    pub struct Installation {
        namespace: Option<String>,
        image: Option<String>,
        replicas: Option<i64>,
        role_arn: Option<String>,
        service_account_annotations: Option<BTreeMap<String, String>>,
        project_web_identity_token: Option<bool>,
        wait_for_rollout: Option<bool>,
        env: Option<BTreeMap<String, String>>,
        cluster_endpoint: Option<String>,
        cluster_ca_bundle: Option<String>,
        service_cidr: Option<String>,
        interruption_queue: Option<String>,
        batch_idle_duration: Option<String>,
        batch_max_duration: Option<String>,
        ice_cache_ttl: Option<String>,
        registration_timeout: Option<String>,
        spot_quota_fallback: Option<bool>,
        interruption_actions: Option<BTreeMap<String, String>>,
        cpu_request: Option<String>,
        memory_request: Option<String>,
        memory_limit: Option<String>,
        log_level: Option<String>,
        imds_monitor: Option<bool>,
        objects: Option<Vec<String>>,
        timeouts: Value,
    }
}

type Setting = fn(&Installation) -> &Option<String>;

/// The settings ConfigMap keys of the plain string settings: attribute name, key, field.
const STRING_SETTINGS: [(&str, SettingKey, Setting); 8] = [
    ("cluster_endpoint", SettingKey::ClusterEndpoint, |i| {
        &i.cluster_endpoint
    }),
    ("cluster_ca_bundle", SettingKey::ClusterCaBundle, |i| {
        &i.cluster_ca_bundle
    }),
    ("service_cidr", SettingKey::ServiceCidr, |i| &i.service_cidr),
    ("interruption_queue", SettingKey::InterruptionQueue, |i| {
        &i.interruption_queue
    }),
    ("batch_idle_duration", SettingKey::BatchIdleDuration, |i| {
        &i.batch_idle_duration
    }),
    ("batch_max_duration", SettingKey::BatchMaxDuration, |i| {
        &i.batch_max_duration
    }),
    ("ice_cache_ttl", SettingKey::IceCacheTtl, |i| {
        &i.ice_cache_ttl
    }),
    (
        "registration_timeout",
        SettingKey::RegistrationTimeout,
        |i| &i.registration_timeout,
    ),
];

fn settings_of(v: &Installation, cluster_name: &str) -> BTreeMap<String, String> {
    let mut s = BTreeMap::from([(SettingKey::ClusterName.name(), cluster_name.to_string())]);
    for (_, key, field) in STRING_SETTINGS {
        if let Some(x) = field(v) {
            s.insert(key.name(), x.clone());
        }
    }
    if let Some(b) = v.spot_quota_fallback {
        s.insert(SettingKey::SpotQuotaFallback.name(), b.to_string());
    }
    // Kinds are validated at plan time; an unknown one never reaches apply.
    for (kind, action) in v.interruption_actions.iter().flatten() {
        if let Ok(kind) = kind.parse::<EventKind>() {
            s.insert(SettingKey::Action(kind).name(), action.clone());
        }
    }
    s
}

fn install_of(v: &Installation, a: &crate::aws_context::AwsContext) -> Install {
    let or = |x: &Option<String>, d: &str| x.clone().unwrap_or_else(|| d.to_string());
    let mut annotations = v.service_account_annotations.clone().unwrap_or_default();
    if let Some(arn) = &v.role_arn {
        annotations.insert(IRSA_ANNOTATION.into(), arn.clone());
    }
    let project_token = v.project_web_identity_token == Some(true);
    Install {
        namespace: or(&v.namespace, "karpenter"),
        image: or(&v.image, ""),
        replicas: v.replicas.unwrap_or(2),
        service_account_annotations: annotations,
        region: a.region.clone(),
        web_identity_role_arn: v.role_arn.clone().filter(|_| project_token),
        env: v.env.clone().unwrap_or_default(),
        settings: settings_of(v, &a.cluster_name),
        cpu_request: or(&v.cpu_request, "250m"),
        memory_request: or(&v.memory_request, "256Mi"),
        memory_limit: or(&v.memory_limit, "512Mi"),
        log_level: or(&v.log_level, "info"),
        imds_monitor: v.imds_monitor.unwrap_or(false),
    }
}

fn deployment_ref(ns: &str) -> ObjectRef {
    ObjectRef::new("apps/v1", "Deployment", Some(ns), APP)
}

fn object_names(install: &Install) -> Vec<String> {
    objects(install)
        .iter()
        .filter_map(ObjectRef::of)
        .map(|r| r.to_string())
        .collect()
}

#[async_trait]
impl Resource for ControllerInstall {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        let opt = |n: &str, d: &str| Attribute::string(n).optional().description(d);
        let dflt = |n: &str, v: &str, d: &str| {
            Attribute::string(n)
                .default_value(Value::string(v))
                .description(d)
        };
        let mut b = Block::new()
            .description(
                "Installs the karpenter-rs controller into the cluster with server-side apply: the Provisioner CRD, \
                 namespace, ServiceAccount (IRSA role annotation), least-privilege RBAC, the settings ConfigMap, a \
                 Deployment with leader election, a metrics Service, a PodDisruptionBudget and, optionally, the IMDS \
                 monitor DaemonSet. Destroy first removes \
                 every provisioner's capacity (nodes, instances, launch templates) and fails with the list of \
                 leftovers rather than orphan anything.",
            )
            .attribute(Attribute::string("namespace").default_value(Value::string("karpenter")).requires_replace().description("Namespace of the controller."))
            .attribute(Attribute::string("image").required().description(
                "Controller image, best by digest (`<registry>/karpenter-controller@sha256:...`). There is no published image: \
                 `make image` builds one and prints its reference after pushing it (see the controller image guide). Apply \
                 waits until the Deployment has rolled out and fails naming the image and the pods' waiting reason \
                 (`ImagePullBackOff`, `CrashLoopBackOff`, ...) when it does not within `timeouts.create`.",
            ))
            .attribute(
                Attribute::number("replicas")
                    .default_value(Value::int(2))
                    .validator(IntBetween(2, 20))
                    .description("Replicas; one leads, the others stand by (leader election)."),
            )
            .attribute(opt("role_arn", "IAM role for the controller (IRSA): sets the ServiceAccount's `eks.amazonaws.com/role-arn`."))
            .attribute(Attribute::string_map("service_account_annotations").optional().description("Further ServiceAccount annotations (e.g. for pod identity)."))
            .attribute(Attribute::bool("project_web_identity_token").default_value(Value::Bool(false)).description(
                "Mount a service-account token for `sts.amazonaws.com` into the controller and set `AWS_ROLE_ARN` and \
                 `AWS_WEB_IDENTITY_TOKEN_FILE` (IRSA without the EKS pod identity webhook: self-managed clusters, the local \
                 environment). Needs `role_arn`. Leave it off on EKS, where the webhook does this.",
            ))
            .attribute(Attribute::bool("wait_for_rollout").default_value(Value::Bool(true)).description(
                "Wait, on create and update, until the controller Deployment has rolled out (every replica available), \
                 within `timeouts.create`. Turn off only where the controller is meant not to run, such as a cluster \
                 with no node for it yet.",
            ))
            .attribute(Attribute::string_map("env").optional().description(
                "Further environment variables of the controller (and of the IMDS monitor, when on), e.g. \
                 `AWS_ENDPOINT_URL` (a VPC endpoint or a local emulator), `HTTPS_PROXY`, or the monitor's `IMDS_ENDPOINT`. \
                 `AWS_REGION` is always the provider's region; the variables the installation sets itself cannot be given here.",
            ));
        for (attr, key, _) in STRING_SETTINGS {
            b = b.attribute(opt(
                attr,
                &format!(
                    "Setting `{key}` of the controller (see the controller settings reference)."
                ),
            ));
        }
        b = b
            .attribute(Attribute::bool("spot_quota_fallback").optional().description(format!("Setting `{}`: fall back to on-demand when the account's spot quota is exhausted.", SettingKey::SpotQuotaFallback)))
            .attribute(Attribute::string_map("interruption_actions").optional().description(
                "Action per interruption kind (`spot_interruption`, `rebalance_recommendation`, `scheduled_change`, \
                 `instance_state_change`, `capacity_reservation_interruption`): `ignore`, `cordon`, `cordon-and-drain`, \
                 `replace-and-cordon` or `replace-and-drain`.",
            ))
            .attribute(dflt("cpu_request", "250m", "CPU request of each replica."))
            .attribute(dflt("memory_request", "256Mi", "Memory request of each replica."))
            .attribute(dflt("memory_limit", "512Mi", "Memory limit of each replica."))
            .attribute(dflt("log_level", "info", "`RUST_LOG` of the controller."))
            .attribute(Attribute::bool("imds_monitor").default_value(Value::Bool(false)).description(
                "Also run `karpenter-controller imds-monitor` on every Linux node (a DaemonSet on the host network): it \
                 watches the node's instance metadata and cordons and drains the node ahead of a spot interruption or \
                 scheduled maintenance, and cordons it on a rebalance recommendation. Needs no queue and no AWS access.",
            ))
            .attribute(Attribute::string_list("objects").computed().use_state_for_unknown().description("The objects installed, as `Kind namespace/name`."))
            .block(NestedBlock::new(
                "timeouts",
                BlockNesting::Single,
                Block::new()
                    .description("How long operations may take.")
                    .attribute(opt("create", "Wait for the CRD to be established and the controller Deployment to roll out (every replica available), e.g. `5m` (the default). Also bounds updates."))
                    .attribute(opt("delete", "Wait for provisioners' capacity to be removed, e.g. `15m` (the default).")),
            ));
        Schema::new(b)
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        for name in config.get("env").as_string_map().keys() {
            if RESERVED_ENV.contains(&name.as_str()) {
                diags.error_at(
                    AttributePath::attr("env").push_key(name),
                    "Environment variable set by the installation",
                    format!(
                        "{name} is set by karpenter_controller itself ({}); remove it from `env`. The region is the \
                         provider's `region`; the web identity variables come from `role_arn` with `project_web_identity_token`; \
                         the log filter is `log_level`.",
                        RESERVED_ENV.join(", ")
                    ),
                );
            }
        }
        if config.get("project_web_identity_token").as_bool() == Some(true)
            && config.get("role_arn").is_null()
        {
            diags.error_at(
                AttributePath::attr("project_web_identity_token"),
                "Web identity token without a role",
                "`project_web_identity_token` needs `role_arn`: the role the token is exchanged for (e.g. \
                 `karpenter_controller_role.<name>.arn`). Set it, or turn the token off.",
            );
        }
        for (kind, action) in config.get("interruption_actions").as_string_map() {
            let at = AttributePath::attr("interruption_actions").push_key(&kind);
            if !EventKind::ALL.iter().any(|k| k.name() == kind) {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
                diags.error_at(
                    at.clone(),
                    "Unknown interruption kind",
                    format!("{kind:?} is not one of {}.", known.join(", ")),
                );
            }
            if !Action::ALL.iter().any(|a| a.as_str() == action) {
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                diags.error_at(
                    at,
                    "Unknown interruption action",
                    format!("{action:?} is not one of {}.", known.join(", ")),
                );
            }
        }
        timeouts::validate(config, TIMEOUTS, diags);
        for (attr, _, _) in STRING_SETTINGS.iter().filter(|(a, _, _)| {
            a.ends_with("duration") || a.ends_with("ttl") || a.ends_with("timeout")
        }) {
            if let Some(d) = config.get(attr).as_str()
                && parse_duration(d).is_none()
                && !d.ends_with("ms")
            {
                diags.error_at(
                    AttributePath::attr(*attr),
                    "Invalid duration",
                    format!("{d:?} is not a duration; write e.g. `1s`, `3m` or `1h30m`."),
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
        if plan.planned.is_null()
            || !plan.planned.is_wholly_known() && !plan.planned.get("objects").is_unknown()
        {
            return;
        }
        if let Some(a) = ctx.provider_data::<crate::aws_context::AwsContext>()
            && let Ok(planned) = Installation::decode(&plan.planned)
        {
            let names = object_names(&install_of(&planned, &a));
            plan.planned.set("objects", names.to_value());
        }
    }

    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        self.install(ctx, planned, diags).await
    }

    async fn read(&self, ctx: &CallContext, state: &Value, diags: &mut Diagnostics) -> Read {
        let Some(client) = context(ctx, diags).and_then(|a| a.kube.client(diags)) else {
            return Read::Failed;
        };
        let Some(had) = decode_model::<Installation>(TYPE_NAME, state, diags) else {
            return Read::Failed;
        };
        let ns = had.namespace.as_deref().unwrap_or("karpenter");
        match kobj::get(&client, &deployment_ref(ns)).await {
            Ok(Some(d)) => {
                let spec = &d["spec"];
                let image = spec["template"]["spec"]["containers"][0]["image"].as_str();
                Read::Found(
                    Installation {
                        image: image.map(str::to_string).or(had.image.clone()),
                        replicas: spec["replicas"].as_i64().or(had.replicas),
                        ..had
                    }
                    .encode(),
                )
            }
            Ok(None) => Read::Gone,
            Err(e) => {
                diags.error("Cannot read the controller Deployment", error_text(&e));
                Read::Failed
            }
        }
    }

    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let state = self.install(ctx, planned, diags).await?;
        // Objects the new configuration no longer has (the IMDS monitor turned off) are removed.
        let a = context(ctx, diags)?;
        let client = a.kube.client(diags)?;
        let had = decode_model::<Installation>(TYPE_NAME, prior, diags)?;
        let want = decode_model::<Installation>(TYPE_NAME, planned, diags)?;
        let keep: Vec<ObjectRef> = objects(&install_of(&want, &a))
            .iter()
            .filter_map(ObjectRef::of)
            .collect();
        for r in objects(&install_of(&had, &a))
            .iter()
            .rev()
            .filter_map(ObjectRef::of)
            .filter(|r| !keep.contains(r))
        {
            if let Err(e) = kobj::delete(&client, &r).await {
                diags.error(format!("Cannot remove {r}"), error_text(&e));
            }
        }
        Some(state)
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(a) = context(ctx, diags) else { return };
        let Some(client) = a.kube.client(diags) else {
            return;
        };
        let Some(had) = decode_model::<Installation>(TYPE_NAME, prior, diags) else {
            return;
        };
        let install = install_of(&had, &a);
        let running = controller_alive(ctx, &client, &install.namespace, LEASE_NAME).await;
        tracing::info!(
            running,
            "removing cluster capacity before uninstalling the controller"
        );
        let ec2 = aws_sdk_ec2::Client::new(&a.sdk);
        let wait = timeouts::of(prior, TIMEOUTS, "delete");
        let namespace = running.then_some(install.namespace.as_str());
        let left = remove_capacity(ctx, &client, &ec2, &a.cluster_name, namespace, wait).await;
        if !left.is_empty() {
            diags.error(
                "Cluster capacity left behind",
                format!(
                    "The controller stays installed because these could not be removed:\n- {}\n\nRemove them (or fix the cause) and run destroy again.",
                    left.join("\n- ")
                ),
            );
            return;
        }
        let mut failed = Vec::new();
        let all = objects(&install);
        for r in all.iter().rev().filter_map(ObjectRef::of) {
            if r.kind == "Namespace" && matches!(r.name.as_str(), "kube-system" | "default") {
                continue;
            }
            if let Err(e) = kobj::delete(&client, &r).await {
                failed.push(format!("{r}: {}", error_text(&e)));
            }
        }
        // The namespace is waited for too, so a re-install right after does not hit "namespace is
        // being terminated".
        let refs: Vec<ObjectRef> = all
            .iter()
            .filter_map(ObjectRef::of)
            .filter(|r| {
                !(r.kind == "Namespace" && matches!(r.name.as_str(), "kube-system" | "default"))
            })
            .collect();
        let gone = wait_until(ctx, wait, || async {
            for r in &refs {
                if !matches!(kobj::get(&client, r).await, Ok(None)) {
                    return None;
                }
            }
            Some(())
        })
        .await;
        if !matches!(gone, Ok(())) {
            for r in &refs {
                if !matches!(kobj::get(&client, r).await, Ok(None)) {
                    failed.push(format!("{r} still exists"));
                }
            }
        }
        if !failed.is_empty() {
            diags.error(
                "Controller objects left behind",
                format!("- {}", failed.join("\n- ")),
            );
        }
    }
}

impl ControllerInstall {
    async fn install(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let a = context(ctx, diags)?;
        let client = a.kube.client(diags)?;
        let want = decode_model::<Installation>(TYPE_NAME, planned, diags)?;
        let install = install_of(&want, &a);
        let all = objects(&install);
        let state = Installation {
            objects: Some(object_names(&install)),
            ..want.clone()
        }
        .encode();
        for (i, obj) in all.iter().enumerate() {
            let r = ObjectRef::of(obj)?;
            if let Err(e) = kobj::apply(&client, obj).await {
                diags.error(format!("The API server rejected {r}"), error_text(&e));
                // Whatever was applied already is recorded so destroy can find it.
                return (i > 0).then_some(state);
            }
            if r.kind == "CustomResourceDefinition"
                && !self
                    .wait_established(ctx, &client, &r, planned, diags)
                    .await
            {
                return Some(state);
            }
        }
        if want.wait_for_rollout == Some(false) {
            return Some(state);
        }
        let t = timeouts::of(planned, TIMEOUTS, "create");
        if let Err(problem) = rollout::wait(ctx, &client, &install, t).await {
            diags.error(
                format!("The controller did not start: {}", install.image),
                format!(
                    "{problem}\n\nThe objects are installed (and in the state), so the next apply continues from here and \
                     destroy removes them. Check that `image` names an image the nodes can pull (`make image` prints one), \
                     then apply again."
                ),
            );
        }
        Some(state)
    }

    /// New Provisioners can be created only once the CRD is Established.
    async fn wait_established(
        &self,
        ctx: &CallContext,
        client: &kube::Client,
        r: &ObjectRef,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> bool {
        let t = timeouts::of(planned, TIMEOUTS, "create");
        let waited = wait_until(ctx, t, || async {
            let crd = kobj::get(client, r).await.ok()??;
            let conds = crd["status"]["conditions"].as_array()?.clone();
            conds
                .iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
                .then_some(())
        })
        .await;
        match waited {
            Ok(()) => true,
            _ => {
                diags.error(format!("{r} not established"), format!("The API server did not report the CRD Established within {t:?}; run apply again."));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_attribute_becomes_its_configmap_key() {
        let mut v = Value::object([
            ("spot_quota_fallback", Value::Bool(true)),
            (
                "interruption_actions",
                Value::string_map(EventKind::ALL.map(|k| (k.name(), "cordon"))),
            ),
        ]);
        for (attr, _, _) in STRING_SETTINGS {
            v.set(attr, Value::string("1s"));
        }
        let Ok(install) = Installation::decode(&v) else {
            panic!("decodes");
        };
        for (attr, _, field) in STRING_SETTINGS {
            assert_eq!(
                field(&install).as_deref(),
                Some("1s"),
                "{attr} is its own field"
            );
        }
        let s = settings_of(&install, "demo");
        let written: Vec<SettingKey> = s.keys().filter_map(|k| k.parse().ok()).collect();
        assert_eq!(written.len(), s.len(), "{s:?}");
        assert_eq!(s.len(), SettingKey::all().count());
    }
}
