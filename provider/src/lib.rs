//! terraform-provider-karpenter: the Terraform provider of karpenter-rs (source address
//! `karpenter-rs/karpenter`, plugin protocol 6).
//!
//! Layout:
//! - `plugin`: the protocol layer (handshake, mTLS, gRPC, cty codec, schema model, diagnostics,
//!   plan helpers, docs); it knows nothing of Karpenter and could serve any provider.
//! - `provider`: the provider configuration (`region`, `cluster_name`, `aws {}`, `default_tags`)
//!   and the AWS clients it builds into `aws_context::AwsContext`, which resources read.
//! - `kube`: the provider's `kubernetes {}` block, the client built from it, untyped object I/O.
//! - `resources`: the resource framework, AWS plumbing, policy documents, one folder per resource.
//! - `data_sources`: `karpenter_instance_types` and the catalog behind it.
//! - `permissions`: the AWS operations the provider itself calls, as a published page.
#![forbid(unsafe_code)]

pub mod aws_context;
pub mod data_sources;
pub mod kube;
pub mod permissions;
pub mod plugin;
pub mod provider;
pub mod resources;

/// The source address users write in `required_providers`.
pub const SOURCE_ADDRESS: &str = "karpenter-rs/karpenter";

/// Every generated page below docs/: the schema's pages and the permissions guide.
pub fn docs() -> std::collections::BTreeMap<String, String> {
    let mut pages = plugin::docs::render(&provider::KarpenterProvider::new());
    pages.insert(permissions::PAGE.to_string(), permissions::page());
    pages
}

#[cfg(test)]
mod docs_tests {
    use std::path::Path;

    /// docs/ at the repository root must be exactly what the schema generates; on failure run
    /// `cargo run -p terraform-provider-karpenter -- docs --out docs`.
    #[test]
    fn committed_docs_match_the_schema() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        for (rel, text) in crate::docs() {
            let on_disk = std::fs::read_to_string(docs.join(&rel)).unwrap_or_default();
            assert!(
                on_disk == text,
                "docs/{rel} differs from the schema; regenerate with `terraform-provider-karpenter docs --out docs`"
            );
        }
    }
}
