//! `karpenter_provisioner`: a Provisioner object in the cluster, written with server-side apply.
//!
//! The HCL form and its conversions are in `provisioner_hcl`, plan-time checks in
//! `provisioner_checks` (pure) and `provisioner_offerings` (EC2).

mod checks;
mod hcl;
mod model;
mod offerings;

use std::time::Duration;

use async_trait::async_trait;
use karpenter_core::api::labels;
use serde_json::Value as Json;

use crate::kube::objects::{self, ObjectRef, error_text};
use crate::plugin::{
    AttributePath, CallContext, Diagnostics, Importer, PlannedChange, Read, Resource, Schema, Value,
};
use crate::resources::aws::context;
use crate::resources::aws::retry::{Stopped, wait_until};
use crate::resources::controller_install::teardown::{
    DrainEnd, controller_alive_anywhere, wait_for_controller,
};
use crate::resources::framework::decode_model;
use crate::resources::framework::timeouts::{self, Timeouts};
use hcl::{object_json, schema, spec_from_hcl, state_from_spec};
use model::ProvisionerHcl;

pub struct ProvisionerResource;

const TIMEOUTS: Timeouts = &[("delete", Duration::from_secs(15 * 60))];

/// The name of a Provisioner in a plan or state.
fn name_of(v: &Value, diags: &mut Diagnostics) -> Option<String> {
    let hcl = decode_model::<ProvisionerHcl>("karpenter_provisioner", v, diags)?;
    if hcl.name.is_none() {
        diags.error(
            "karpenter_provisioner has no name",
            "Remove it from state (`terraform state rm`) and import it again by name.",
        );
    }
    hcl.name
}

/// The spec of a configuration or plan when everything in it is known, else None (checks then
/// wait for apply, where the API server applies the same rules).
fn known_spec(v: &Value, diags: &mut Diagnostics) -> Option<karpenter_core::api::ProvisionerSpec> {
    let mut body = v.clone();
    body.set("timeouts", Value::Null);
    if !body.is_wholly_known() {
        return None;
    }
    match spec_from_hcl(&body) {
        Ok(s) => Some(s),
        Err(e) => {
            diags.error(
                "Invalid provisioner",
                format!("The configuration does not form a Provisioner spec: {e}"),
            );
            None
        }
    }
}

fn spec_of_json(
    obj: &Json,
    diags: &mut Diagnostics,
) -> Option<karpenter_core::api::ProvisionerSpec> {
    match serde_json::from_value(obj["spec"].clone()) {
        Ok(s) => Some(s),
        Err(e) => {
            diags.error(
                "Unreadable Provisioner",
                format!("The Provisioner in the cluster has a spec this provider cannot read: {e}"),
            );
            None
        }
    }
}

/// Names of the Nodes still labelled with the provisioner, for a diagnostic.
async fn remaining_nodes(client: &kube::Client, name: &str) -> Vec<String> {
    let sel = format!("{}={name}", labels::PROVISIONER_NAME);
    objects::list(client, "v1", "Node", Some(&sel))
        .await
        .map(|v| {
            v.iter()
                .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Deletes the Provisioner and waits until it is gone and, while a controller is running to do
/// it, until its nodes are drained and terminated. On timeout the diagnostic lists what remains.
pub async fn delete_and_wait(
    ctx: &CallContext,
    client: &kube::Client,
    name: &str,
    timeout: Duration,
    diags: &mut Diagnostics,
) -> bool {
    let r = ObjectRef::provisioner(name);
    if let Err(e) = objects::delete(client, &r).await {
        diags.error(format!("Cannot delete Provisioner {name}"), error_text(&e));
        return false;
    }
    let object_gone = || {
        let r = r.clone();
        async move { matches!(objects::get(client, &r).await, Ok(None)) }
    };
    // Nodes are drained by a running controller only: without one, waiting would only time out,
    // and karpenter_controller's destroy terminates the instances itself.
    let mut wait_nodes = !remaining_nodes(client, name).await.is_empty();
    if wait_nodes && !controller_alive_anywhere(ctx, client).await {
        wait_nodes = false;
        let nodes = remaining_nodes(client, name).await;
        diags.warning(
            format!("Provisioner {name} deleted while no controller is running"),
            format!(
                "Its {} node(s) [{}] were not drained; destroying karpenter_controller terminates their instances.",
                nodes.len(),
                nodes.join(", ")
            ),
        );
    }
    let waited = if wait_nodes {
        wait_for_controller(ctx, client, None, timeout, || async {
            object_gone().await && remaining_nodes(client, name).await.is_empty()
        })
        .await
    } else {
        match wait_until(ctx, timeout, || async { object_gone().await.then_some(()) }).await {
            Ok(()) => DrainEnd::Done,
            Err(Stopped::Cancelled) => DrainEnd::Cancelled,
            Err(Stopped::TimedOut) => DrainEnd::TimedOut,
        }
    };
    let why = match waited {
        DrainEnd::Done => return true,
        DrainEnd::ControllerStopped if object_gone().await => {
            let nodes = remaining_nodes(client, name).await;
            diags.warning(
                format!("The controller stopped while draining Provisioner {name}"),
                format!(
                    "Its {} node(s) [{}] were not all drained; destroying karpenter_controller terminates their instances.",
                    nodes.len(),
                    nodes.join(", ")
                ),
            );
            return true;
        }
        DrainEnd::Cancelled => "Interrupted",
        DrainEnd::ControllerStopped => "Gave up (the controller stopped)",
        DrainEnd::TimedOut => "Timed out",
    };
    let nodes = remaining_nodes(client, name).await;
    let finalizers = match objects::get(client, &r).await {
        Ok(Some(o)) => o["metadata"]["finalizers"].to_string(),
        Ok(None) => "gone".into(),
        Err(e) => error_text(&e),
    };
    diags.error(
        format!("{why} waiting for Provisioner {name} to be deleted"),
        format!(
            "Still present after {timeout:?}: the Provisioner object (finalizers: {finalizers}) and {} node(s): [{}]. \
             Run destroy again once the controller has drained them.",
            nodes.len(),
            nodes.join(", ")
        ),
    );
    false
}

#[async_trait]
impl Resource for ProvisionerResource {
    fn type_name(&self) -> &'static str {
        "karpenter_provisioner"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        timeouts::validate(config, TIMEOUTS, diags);
        if let Some(name) = config.get("name").as_str()
            && let Err(m) = dns_subdomain(name)
        {
            diags.error_at(AttributePath::attr("name"), "Invalid provisioner name", m);
        }
        if let Some(spec) = known_spec(config, diags) {
            checks::validate(&spec, diags);
        }
    }

    async fn modify_plan(
        &self,
        ctx: &CallContext,
        prior: &Value,
        _config: &Value,
        plan: &mut PlannedChange,
        diags: &mut Diagnostics,
    ) {
        if plan.planned.is_null() {
            return;
        }
        let mut ignore = Diagnostics::new();
        let Some(spec) = known_spec(&plan.planned, &mut ignore) else {
            return;
        };
        let unchanged = !prior.is_null() && known_spec(prior, &mut ignore).as_ref() == Some(&spec);
        if unchanged {
            return;
        }
        checks::advise(&spec, diags);
        if let Some(aws) = ctx.provider_data::<crate::aws_context::AwsContext>() {
            offerings::check(&aws, &spec, diags).await;
        }
    }

    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let client = context(ctx, diags)?.kube.client(diags)?;
        let name = name_of(planned, diags)?;
        match objects::get(&client, &ObjectRef::provisioner(&name)).await {
            Ok(None) => {}
            // Written by our server-side apply (its field manager is ours) and not in state: an
            // apply stopped between writing and recording it. Take it over.
            Ok(Some(obj)) if objects::applied_by_us(&obj) => {
                diags.warning(
                    format!("Took over Provisioner {name}"),
                    "It was not in state but was written by this provider: an earlier apply wrote it and was stopped before it recorded it. It is now brought to the configuration and recorded.",
                );
            }
            Ok(Some(_)) => {
                diags.error_at(
                    AttributePath::attr("name"),
                    "Provisioner already exists",
                    format!("A Provisioner named {name:?} is already in the cluster; import it with `terraform import <address> {name}`."),
                );
                return None;
            }
            Err(e) => {
                diags.error(format!("Cannot read Provisioner {name}"), error_text(&e));
                return None;
            }
        }
        self.write(&client, &name, planned, diags).await
    }

    async fn read(&self, ctx: &CallContext, state: &Value, diags: &mut Diagnostics) -> Read {
        let Some(client) = context(ctx, diags).and_then(|a| a.kube.client(diags)) else {
            return Read::Failed;
        };
        let Some(name) = name_of(state, diags) else {
            return Read::Failed;
        };
        match objects::get(&client, &ObjectRef::provisioner(&name)).await {
            Ok(Some(obj)) => match spec_of_json(&obj, diags) {
                Some(spec) => Read::Found(state_from_spec(&name, &spec, state)),
                None => Read::Failed,
            },
            Ok(None) => Read::Gone,
            Err(e) => {
                diags.error(format!("Cannot read Provisioner {name}"), error_text(&e));
                Read::Failed
            }
        }
    }

    async fn update(
        &self,
        ctx: &CallContext,
        _prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let client = context(ctx, diags)?.kube.client(diags)?;
        let name = name_of(planned, diags)?;
        self.write(&client, &name, planned, diags).await
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(a) = context(ctx, diags) else { return };
        let Some(client) = a.kube.client(diags) else {
            return;
        };
        let Some(name) = name_of(prior, diags) else {
            return;
        };
        let timeout = timeouts::of(prior, TIMEOUTS, "delete");
        delete_and_wait(ctx, &client, &name, timeout, diags).await;
    }

    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}

impl ProvisionerResource {
    /// Server-side applies the planned spec; the API server's CRD schema has the last word.
    async fn write(
        &self,
        client: &kube::Client,
        name: &str,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let spec = known_spec(planned, diags)?;
        if let Err(e) = objects::apply(client, &object_json(name, &spec)).await {
            diags.error(
                format!("The API server rejected Provisioner {name}"),
                error_text(&e),
            );
            return None;
        }
        // What was planned is what was written; a later read shows any drift.
        Some(planned.clone())
    }
}

#[async_trait]
impl Importer for ProvisionerResource {
    fn id_description(&self) -> String {
        "the Provisioner's name".into()
    }

    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let client = context(ctx, diags)?.kube.client(diags)?;
        match objects::get(&client, &ObjectRef::provisioner(id)).await {
            Ok(Some(obj)) => {
                let spec = spec_of_json(&obj, diags)?;
                Some(state_from_spec(id, &spec, &Value::Null))
            }
            Ok(None) => {
                diags.error(
                    "Provisioner not found",
                    format!("No Provisioner named {id:?} exists in the cluster."),
                );
                None
            }
            Err(e) => {
                diags.error(format!("Cannot read Provisioner {id}"), error_text(&e));
                None
            }
        }
    }
}

/// Object names are DNS subdomains: lowercase alphanumerics, `-` and `.`, at most 253 characters.
fn dns_subdomain(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty()
        || name.len() > 253
        || !ok_chars
        || !ends(name.chars().next())
        || !ends(name.chars().last())
    {
        return Err(format!(
            "{name:?} is not a valid object name: use lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubernetes_rules() {
        assert!(dns_subdomain("spot-fleet").is_ok());
        assert!(dns_subdomain("Spot").is_err());
        assert!(dns_subdomain("-a").is_err());
        assert!(dns_subdomain("").is_err());
    }
}
