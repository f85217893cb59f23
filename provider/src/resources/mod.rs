//! Managed resources, one folder each, written against `crate::plugin`. The AWS-backed ones
//! implement `framework::AwsObject` over a typed model; AWS plumbing lives in `aws`, the policy
//! documents in `policies`.

pub mod aws;
pub mod framework;
pub mod policies;
pub mod roles;

pub mod bootstrap_stack;
pub mod controller_install;
pub mod controller_policy;
pub mod controller_role;
pub mod instance_profile;
pub mod interruption_queue;
pub mod interruption_rule;
pub mod node_access;
pub mod node_role;
pub mod provisioner;

use std::sync::Arc;

use crate::plugin::Resource;
use framework::Aws;

pub fn all() -> Vec<Arc<dyn Resource>> {
    vec![
        Arc::new(Aws(interruption_queue::InterruptionQueue)),
        Arc::new(Aws(interruption_rule::InterruptionRule)),
        Arc::new(Aws(node_role::NodeRole)),
        Arc::new(Aws(instance_profile::InstanceProfile)),
        Arc::new(Aws(controller_policy::ControllerPolicy)),
        Arc::new(Aws(controller_role::ControllerRole)),
        Arc::new(Aws(bootstrap_stack::BootstrapStack)),
        Arc::new(provisioner::ProvisionerResource),
        Arc::new(controller_install::ControllerInstall),
        Arc::new(node_access::NodeAccess),
    ]
}

#[cfg(test)]
mod tests {
    use super::framework::{assert_model_matches, assert_model_matches_schema};
    use crate::plugin::Resource;

    #[test]
    fn every_models_fields_are_its_schemas_attributes() {
        assert_model_matches_schema(super::interruption_queue::InterruptionQueue);
        assert_model_matches_schema(super::interruption_rule::InterruptionRule);
        assert_model_matches_schema(super::node_role::NodeRole);
        assert_model_matches_schema(super::instance_profile::InstanceProfile);
        assert_model_matches_schema(super::controller_policy::ControllerPolicy);
        assert_model_matches_schema(super::controller_role::ControllerRole);
        assert_model_matches_schema(super::bootstrap_stack::BootstrapStack);
        use super::{controller_install as install, node_access as access};
        let block = install::ControllerInstall.schema().block;
        assert_model_matches::<install::Installation>("karpenter_controller", &block, &[]);
        let block = access::NodeAccess.schema().block;
        assert_model_matches::<access::Access>("karpenter_node_access", &block, &[]);
    }
}
