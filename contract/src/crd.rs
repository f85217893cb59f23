//! The Provisioner custom resource as kube sees it, and its CustomResourceDefinition.
//!
//! The spec and status types are karpenter-core's (shared with the Terraform provider); this
//! module only adds kube's object metadata and `kube::Resource`. The OpenAPI schema is written
//! out by hand because the core types carry no schema derive, and because the rules the API server
//! must enforce (operators, capacity types, quantities, TTLs) need CEL and patterns that a derive
//! would not produce.

use std::borrow::Cow;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use karpenter_core::api::provisioner::{API_GROUP, API_VERSION, KIND};
use karpenter_core::api::{BlockDevice, ProvisionerSpec, ProvisionerStatus, Taint};
use karpenter_core::bootstrap::AmiFamily;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const PLURAL: &str = "provisioners";
pub const VERSION: &str = "v1alpha5";
pub const CRD_NAME: &str = "provisioners.karpenter.sh";

fn api_version() -> String {
    API_VERSION.to_string()
}
fn kind() -> String {
    KIND.to_string()
}

/// A Provisioner as read from and written to the API server (cluster-scoped).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provisioner {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "kind")]
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ProvisionerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProvisionerStatus>,
}

impl Provisioner {
    pub fn new(name: &str, spec: ProvisionerSpec) -> Self {
        Provisioner {
            api_version: api_version(),
            kind: kind(),
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// The core's view of this object, for validation and scheduling.
    pub fn to_core(&self) -> karpenter_core::api::Provisioner {
        let mut p = karpenter_core::api::Provisioner::new(self.name(), self.spec.clone());
        p.metadata.labels = self.metadata.labels.clone().unwrap_or_default();
        p.metadata.uid = self.metadata.uid.clone();
        p.status = self.status.clone();
        p
    }
}

impl kube::Resource for Provisioner {
    type DynamicType = ();
    type Scope = kube::core::ClusterResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(KIND)
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(API_GROUP)
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(VERSION)
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(PLURAL)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Kubernetes' quantity grammar without a sign: limits and sizes are never negative.
const QUANTITY_PATTERN: &str = r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// An int-or-string quantity. The API server accepts the int-or-string `anyOf` only in its exact
/// form (`[{type: integer}, {type: string}]`, nothing else inside), so the bounds sit beside it:
/// `minimum` applies to the integer form and `pattern` to the string form.
fn quantity() -> Value {
    json!({
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "minimum": 0,
        "pattern": QUANTITY_PATTERN,
        "x-kubernetes-int-or-string": true
    })
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string", "maxLength": 256}, "maxProperties": 64})
}

fn taints() -> Value {
    json!({
        "type": "array",
        "maxItems": 64,
        "items": {
            "type": "object",
            "required": ["key", "effect"],
            "properties": {
                "key": {"type": "string", "minLength": 1, "maxLength": 316},
                "value": {"type": "string", "maxLength": 63},
                "effect": {"type": "string", "enum": Taint::EFFECTS},
                "timeAdded": {"type": "string", "format": "date-time"}
            }
        }
    })
}

fn requirements() -> Value {
    json!({
        "type": "array",
        "maxItems": 100,
        "items": {
            "type": "object",
            "required": ["key", "operator"],
            "properties": {
                "key": {"type": "string", "minLength": 1, "maxLength": 316},
                "operator": {"type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
                "values": {"type": "array", "maxItems": 1000, "items": {"type": "string", "maxLength": 63}}
            },
            "x-kubernetes-validations": [
                {
                    "rule": "self.key != 'karpenter.sh/capacity-type' || !has(self.values) || self.values.all(v, v == 'spot' || v == 'on-demand')",
                    "message": "karpenter.sh/capacity-type values must be \"spot\" or \"on-demand\""
                },
                {
                    "rule": "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
                    "message": "operators In and NotIn need at least one value"
                },
                {
                    "rule": "!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",
                    "message": "operators Exists and DoesNotExist take no values"
                },
                {
                    "rule": "!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1 && self.values[0].matches('^-?[0-9]+$'))",
                    "message": "operators Gt and Lt need exactly one integer value"
                },
                {
                    "rule": "!(self.key in ['kubernetes.io/hostname', 'karpenter.sh/provisioner-name'])",
                    "message": "kubernetes.io/hostname and karpenter.sh/provisioner-name are set by the controller and cannot be required"
                }
            ]
        }
    })
}

/// CEL rules instead of an enum, so that a refused family is refused with the reason.
fn ami_family() -> Value {
    let refusal = |name: &str| AmiFamily::parse(Some(name)).err().unwrap_or_default();
    let supported: Vec<String> = AmiFamily::SUPPORTED
        .iter()
        .map(|f| format!("'{f}'"))
        .collect();
    json!({
        "type": "string",
        "description": "AL2023 (default), Bottlerocket or Custom (with an amiSelector).",
        "x-kubernetes-validations": [
            {"rule": "self != 'AL2'", "message": refusal("AL2")},
            {"rule": "!(self in ['Ubuntu', 'Windows2019', 'Windows2022'])", "message": refusal("Ubuntu").replacen("Ubuntu", "this family", 1)},
            {"rule": format!("self in [{}]", supported.join(", ")), "message": format!("unknown AMI family; use one of {}", AmiFamily::SUPPORTED.join(", "))}
        ]
    })
}

fn aws_provider() -> Value {
    json!({
        "type": "object",
        "description": "How AWS nodes of this provisioner are launched.",
        "properties": {
            "subnetSelector": string_map(),
            "securityGroupSelector": string_map(),
            "instanceProfile": {"type": "string", "maxLength": 128},
            "amiFamily": ami_family(),
            "amiSelector": string_map(),
            "tags": string_map(),
            "metadataOptions": {
                "type": "object",
                "properties": {
                    "httpEndpoint": {"type": "string", "enum": ["enabled", "disabled"]},
                    "httpProtocolIPv6": {"type": "string", "enum": ["enabled", "disabled"]},
                    "httpPutResponseHopLimit": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 64},
                    "httpTokens": {"type": "string", "enum": ["required", "optional"]}
                }
            },
            "blockDeviceMappings": {
                "type": "array",
                "maxItems": 32,
                "items": {
                    "type": "object",
                    "properties": {
                        "deviceName": {"type": "string"},
                        "ebs": {
                            "type": "object",
                            "properties": {
                                "deleteOnTermination": {"type": "boolean"},
                                "encrypted": {"type": "boolean"},
                                "iops": {"type": "integer", "format": "int64", "minimum": 0},
                                "kmsKeyID": {"type": "string"},
                                "snapshotID": {"type": "string"},
                                "throughput": {"type": "integer", "format": "int64", "minimum": 0},
                                "volumeSize": quantity(),
                                "volumeType": {"type": "string", "enum": BlockDevice::VOLUME_TYPES}
                            }
                        }
                    }
                }
            },
            "userData": {"type": "string"}
        }
    })
}

fn spec_schema() -> Value {
    json!({
        "type": "object",
        "x-kubernetes-validations": [{
            "rule": "!(has(self.ttlSecondsAfterEmpty) && has(self.consolidation) && has(self.consolidation.enabled) && self.consolidation.enabled)",
            "message": "ttlSecondsAfterEmpty cannot be set with consolidation.enabled: consolidation removes empty nodes itself"
        }],
        "properties": {
            "requirements": requirements(),
            "limits": {
                "type": "object",
                "properties": {
                    "resources": {"type": "object", "additionalProperties": quantity()}
                }
            },
            "ttlSecondsAfterEmpty": {"type": "integer", "format": "int64", "minimum": 0},
            "ttlSecondsUntilExpired": {"type": "integer", "format": "int64", "minimum": 0},
            "taints": taints(),
            "startupTaints": taints(),
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": 63},
                "x-kubernetes-validations": [{
                    "rule": "!('kubernetes.io/hostname' in self) && !('karpenter.sh/provisioner-name' in self)",
                    "message": "kubernetes.io/hostname and karpenter.sh/provisioner-name are set by the controller"
                }]
            },
            "weight": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 100},
            "provider": aws_provider(),
            "kubeletConfiguration": kubelet_configuration(),
            "consolidation": {
                "type": "object",
                "description": "Remove or replace nodes whose pods fit elsewhere or on something cheaper.",
                "properties": {"enabled": {"type": "boolean"}}
            },
            "disruption": {
                "type": "object",
                "description": "How many nodes voluntary disruption may take at once, and how long a drain may be held up.",
                "properties": {
                    "budgets": {
                        "type": "array",
                        "maxItems": 50,
                        "items": {
                            "type": "object",
                            "required": ["nodes"],
                            "properties": {
                                "nodes": {"type": "string", "pattern": "^((100|[0-9]{1,2})%|[0-9]+)$"}
                            }
                        }
                    },
                    "terminationGracePeriodSeconds": {"type": "integer", "format": "int64", "minimum": 0}
                }
            }
        }
    })
}

/// Shapes only; the controller's validation (and the provider's, at plan time) checks signals,
/// percentages and durations, and reports them on the Provisioner.
fn kubelet_configuration() -> Value {
    let reserved =
        json!({"type": "object", "additionalProperties": quantity(), "maxProperties": 4});
    let percent = json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": 100});
    json!({
        "type": "object",
        "description": "Kubelet settings written into the nodes' bootstrap; allocatable follows from them.",
        "properties": {
            "clusterDNS": {"type": "array", "maxItems": 3, "items": {"type": "string"}},
            "maxPods": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000},
            "podsPerCore": {"type": "integer", "format": "int32", "minimum": 0},
            "systemReserved": reserved,
            "kubeReserved": reserved,
            "evictionHard": string_map(),
            "evictionSoft": string_map(),
            "evictionSoftGracePeriod": string_map(),
            "evictionMaxPodGracePeriod": {"type": "integer", "format": "int32", "minimum": 0},
            "imageGCHighThresholdPercent": percent,
            "imageGCLowThresholdPercent": percent,
            "cpuCFSQuota": {"type": "boolean"}
        }
    })
}

fn status_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "conditions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "status": {"type": "string"},
                        "lastTransitionTime": {"type": "string", "format": "date-time"},
                        "reason": {"type": "string"},
                        "message": {"type": "string"}
                    }
                }
            },
            "resources": {"type": "object", "additionalProperties": quantity()},
            "nodeCount": {"type": "integer", "format": "int64", "minimum": 0},
            "lastScaleTime": {"type": "string", "format": "date-time"}
        }
    })
}

/// The CRD as JSON, the form both `manifests` and server-side apply use.
pub fn crd_json() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": API_GROUP,
            "scope": "Cluster",
            "names": {
                "kind": KIND,
                "listKind": "ProvisionerList",
                "plural": PLURAL,
                "singular": "provisioner"
            },
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Nodes", "type": "integer", "jsonPath": ".status.nodeCount"},
                    {"name": "CPU", "type": "string", "jsonPath": ".status.resources.cpu"},
                    {"name": "Memory", "type": "string", "jsonPath": ".status.resources.memory"},
                    {"name": "Weight", "type": "integer", "jsonPath": ".spec.weight", "priority": 1},
                    {"name": "Expire After", "type": "integer", "jsonPath": ".spec.ttlSecondsUntilExpired", "priority": 1},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "description": "Provisioner: constraints and limits for the nodes karpenter-rs launches.",
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": spec_schema(),
                            "status": status_schema()
                        }
                    }
                }
            }]
        }
    })
}

/// The typed CRD; checks that the hand-written JSON has the shape the API expects.
pub fn crd() -> Result<CustomResourceDefinition, serde_json::Error> {
    serde_json::from_value(crd_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crd_parses_as_a_custom_resource_definition() -> Result<(), serde_json::Error> {
        let crd = crd()?;
        assert_eq!(crd.metadata.name.as_deref(), Some(CRD_NAME));
        assert_eq!(crd.spec.versions.len(), 1);
        let v = &crd.spec.versions[0];
        assert!(v.subresources.as_ref().is_some_and(|s| s.status.is_some()));
        assert!(
            v.additional_printer_columns
                .as_ref()
                .is_some_and(|c| c.len() >= 4)
        );
        Ok(())
    }

    #[test]
    fn every_schema_node_is_typed_so_the_schema_is_structural() {
        fn walk(path: &str, v: &Value, bad: &mut Vec<String>) {
            let Some(obj) = v.as_object() else { return };
            let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
            if !obj.contains_key("type") && !int_or_string {
                bad.push(path.to_string());
            }
            // The one anyOf a structural schema allows: exactly these two, with nothing else.
            if let Some(any_of) = obj.get("anyOf")
                && (!int_or_string || any_of != &json!([{"type": "integer"}, {"type": "string"}]))
            {
                bad.push(format!("{path}.anyOf"));
            }
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                for (k, child) in props {
                    walk(&format!("{path}.{k}"), child, bad);
                }
            }
            for key in ["items", "additionalProperties"] {
                if let Some(child) = obj.get(key) {
                    walk(&format!("{path}.{key}"), child, bad);
                }
            }
        }
        let json = crd_json();
        let schema = &json["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut bad = Vec::new();
        walk("", schema, &mut bad);
        assert!(bad.is_empty(), "untyped schema nodes: {bad:?}");
    }

    #[test]
    fn the_kube_wrapper_round_trips_the_seed_provisioner() -> Result<(), serde_json::Error> {
        let seed = json!({
            "apiVersion": "karpenter.sh/v1alpha5",
            "kind": "Provisioner",
            "metadata": {"name": "spot-fleet"},
            "spec": {
                "requirements": [
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}
                ],
                "provider": {"subnetSelector": {"karpenter.sh/discovery": "demo"}},
                "ttlSecondsUntilExpired": 2592000
            }
        });
        let p: Provisioner = serde_json::from_value(seed.clone())?;
        assert_eq!(p.name(), "spot-fleet");
        assert_eq!(serde_json::to_value(&p)?, seed);
        assert!(p.to_core().validate().is_ok());
        Ok(())
    }
}
