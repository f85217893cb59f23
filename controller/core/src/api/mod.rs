//! Provisioner API types (karpenter.sh/v1alpha5), well-known labels and requirements.
