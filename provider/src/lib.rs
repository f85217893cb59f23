//! terraform-provider-karpenter: the Terraform provider of karpenter-rs (source address
//! `karpenter-rs/karpenter`, plugin protocol 6).
//!
//! Layout:
//! - `plugin`: the protocol layer (handshake, mTLS, gRPC, cty codec, schema model, diagnostics,
//!   plan helpers, docs); it knows nothing of Karpenter and could serve any provider.
//! - `provider`: the provider configuration (`region`, `cluster_name`, `aws {}`, `default_tags`)
//!   and the AWS clients it builds.
//! - `kube`: the provider's `kubernetes {}` block, the client built from it, untyped object I/O.
//! - `resources`: one module per managed resource.
//! - `data_sources`: one module per data source (none yet).
#![forbid(unsafe_code)]

pub mod data_sources;
pub mod kube;
pub mod plugin;
pub mod provider;
pub mod resources;

/// The source address users write in `required_providers`.
pub const SOURCE_ADDRESS: &str = "karpenter-rs/karpenter";

#[cfg(test)]
mod docs_tests {
    use std::path::Path;

    /// docs/ at the repository root must be exactly what the schema generates; on failure run
    /// `cargo run -p terraform-provider-karpenter -- docs --out docs`.
    #[test]
    fn committed_docs_match_the_schema() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        let provider = crate::provider::KarpenterProvider::new();
        for (rel, text) in crate::plugin::docs::render(&provider) {
            let on_disk = std::fs::read_to_string(docs.join(&rel)).unwrap_or_default();
            assert!(
                on_disk == text,
                "docs/{rel} differs from the schema; regenerate with `terraform-provider-karpenter docs --out docs`"
            );
        }
    }
}
