//! Managed resources, one module each, written against `crate::plugin` only.

mod bootstrap_stack;
mod bootstrap_template;
mod common;
pub mod controller_chart;
pub mod controller_install;
mod controller_objects;
mod controller_policy;
mod controller_role;
mod controller_rollout;
mod controller_teardown;
pub mod iam_common;
mod iam_role;
mod instance_profile;
pub mod interruption_queue;
pub mod interruption_rule;
pub mod node_access;
mod node_access_aws_auth;
mod node_role;
pub mod provisioner;
mod provisioner_checks;
mod provisioner_hcl;
mod provisioner_offerings;

use std::sync::Arc;

use crate::plugin::Resource;

pub fn all() -> Vec<Arc<dyn Resource>> {
    vec![
        Arc::new(interruption_queue::InterruptionQueue),
        Arc::new(interruption_rule::InterruptionRule),
        Arc::new(node_role::NodeRole),
        Arc::new(instance_profile::InstanceProfile),
        Arc::new(controller_policy::ControllerPolicy),
        Arc::new(controller_role::ControllerRole),
        Arc::new(bootstrap_stack::BootstrapStack),
        Arc::new(provisioner::ProvisionerResource),
        Arc::new(controller_install::ControllerInstall),
        Arc::new(node_access::NodeAccess),
    ]
}
