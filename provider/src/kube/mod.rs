//! The provider's `kubernetes { ... }` block and the Kubernetes client built from it.
//!
//! - `config`: the block's schema and the kubeconfig resolution (explicit settings over the
//!   kubeconfig file, `KUBECONFIG` honoured), the way the kubernetes and helm providers do it.
//! - `objects`: server-side apply, read, delete-and-wait over dynamic objects.

pub mod config;
pub mod objects;

pub use config::{KubeHandle, kubernetes_block};

/// Field manager of every server-side apply this provider makes, so `kubectl` shows who owns what.
pub const FIELD_MANAGER: &str = "terraform-provider-karpenter";

/// The `app.kubernetes.io/managed-by` label on objects the provider creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", FIELD_MANAGER);
