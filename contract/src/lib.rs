//! karpenter-contract: everything the Terraform provider and the controller must agree on, in one
//! place, so neither spells a fact the other defines.
//!
//! - [`crd`]: the Provisioner custom resource and its CustomResourceDefinition.
//! - [`case`]: one name spelt as AWS, Kubernetes and the settings want it.
//! - [`interruption`]: the interruption kinds, their EventBridge patterns, queue and rule names.
//! - [`settings`]: the settings ConfigMap's keys and the installation's names.
//! - [`tags`]: the tags on everything the controller creates.
//! - [`pricing`]: how an on-demand price is read from the AWS Price List.
//! - [`iam_policy`]: the controller's IAM policy and the AWS operations each program calls;
//!   [`aws_calls`]: finding those calls in source; [`rbac`]: the controller's (and the IMDS
//!   monitor's) RBAC rules.
#![forbid(unsafe_code)]

pub mod aws_calls;
pub mod case;
pub mod crd;
pub mod iam_policy;
pub mod interruption;
pub mod pricing;
pub mod rbac;
pub mod settings;
pub mod tags;
