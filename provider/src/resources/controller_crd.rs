//! The Provisioner CRD, compiled from the controller's own source file so the provider installs
//! exactly the schema the controller is built against (no second copy to drift). That file needs
//! only kube's core types, k8s-openapi and karpenter-core, which the provider has anyway; a test
//! also compares it with what `karpenter-controller manifests` prints.
#![allow(dead_code)]

#[path = "../../../controller/src/crd.rs"]
mod source;

pub use source::{CRD_NAME, crd_json};

#[cfg(test)]
mod tests {
    #[test]
    fn the_installed_crd_is_the_one_karpenter_controller_manifests_prints() {
        let printed = karpenter_controller::manifests::objects();
        let crd = printed
            .iter()
            .find(|o| o["kind"] == "CustomResourceDefinition");
        assert_eq!(crd, Some(&super::crd_json()));
    }
}
