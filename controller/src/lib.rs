//! karpenter-controller: the in-cluster controller of karpenter-rs.
#![forbid(unsafe_code)]
