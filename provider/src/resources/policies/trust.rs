//! Who may assume the roles: EC2 for the nodes, the controller's pods (EKS Pod Identity, or
//! IRSA through the cluster's OIDC provider) for the controller.

use serde_json::{Value as Json, json};

use crate::resources::aws::partition;

/// The AWS-managed policies every EKS node needs.
const NODE_BASE_POLICIES: [&str; 4] = [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
];

pub fn node_base_policy_arns(region: &str) -> Vec<String> {
    NODE_BASE_POLICIES
        .iter()
        .map(|p| format!("arn:{}:iam::aws:policy/{p}", partition(region)))
        .collect()
}

/// Lets EC2 instances assume the role (through their instance profile).
pub fn ec2_trust(region: &str) -> Json {
    let service = if region.starts_with("cn-") {
        "ec2.amazonaws.com.cn"
    } else {
        "ec2.amazonaws.com"
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The service account IRSA trusts.
pub struct Irsa<'a> {
    pub oidc_provider_arn: &'a str,
    pub namespace: &'a str,
    pub service_account: &'a str,
}

/// Pod Identity trust, or IRSA trust when an OIDC provider is given; None when its ARN is not
/// an OIDC provider's.
pub fn controller_trust(irsa: Option<Irsa<'_>>) -> Option<Json> {
    let Some(i) = irsa else {
        return Some(json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "EksPodIdentity",
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"]
            }]
        }));
    };
    let issuer = i.oidc_provider_arn.split_once(":oidc-provider/")?.1;
    Some(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "IrsaServiceAccount",
            "Effect": "Allow",
            "Principal": {"Federated": i.oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{issuer}:aud"): "sts.amazonaws.com",
                format!("{issuer}:sub"): format!("system:serviceaccount:{}:{}", i.namespace, i.service_account)
            }}
        }]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_identity_is_the_default_trust() {
        let t = controller_trust(None).unwrap();
        assert_eq!(
            t["Statement"][0]["Principal"]["Service"],
            "pods.eks.amazonaws.com"
        );
        assert_eq!(t["Statement"][0]["Action"][1], "sts:TagSession");
    }

    #[test]
    fn irsa_trust_names_the_service_account() {
        let arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC";
        let t = controller_trust(Some(Irsa {
            oidc_provider_arn: arn,
            namespace: "karpenter",
            service_account: "ctl",
        }))
        .unwrap();
        let cond = &t["Statement"][0]["Condition"]["StringEquals"];
        assert_eq!(
            cond["oidc.eks.us-east-1.amazonaws.com/id/ABC:sub"],
            "system:serviceaccount:karpenter:ctl"
        );
        assert_eq!(
            cond["oidc.eks.us-east-1.amazonaws.com/id/ABC:aud"],
            "sts.amazonaws.com"
        );
        let not_oidc = Irsa {
            oidc_provider_arn: "arn:aws:iam::1:role/x",
            namespace: "k",
            service_account: "s",
        };
        assert!(controller_trust(Some(not_oidc)).is_none());
    }
}
