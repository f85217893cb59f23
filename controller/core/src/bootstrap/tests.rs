use super::*;

fn cluster() -> ClusterFacts {
    ClusterFacts {
        name: "demo".into(),
        endpoint: "https://ABC.gr7.ap-southeast-1.eks.amazonaws.com".into(),
        ca_bundle: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==".into(),
        service_cidr: "10.100.0.0/16".into(),
    }
}

fn node() -> NodeSetup {
    NodeSetup {
        labels: [
            (
                "karpenter.sh/provisioner-name".to_string(),
                "default".to_string(),
            ),
            ("team".to_string(), "a".to_string()),
        ]
        .into(),
        taints: vec![
            Taint::new("dedicated", Some("gpu"), "NoSchedule"),
            Taint::new("startup", None, "NoExecute"),
        ],
        kubelet: None,
    }
}

fn node_config_of(user_data: &str) -> serde_json::Value {
    let mail = mailparse::parse_mail(user_data.as_bytes()).expect("our output is MIME");
    let last = mail.subparts.last().expect("at least our part");
    assert_eq!(last.ctype.mimetype, "application/node.eks.aws");
    let body = last.get_body().expect("decodable");
    serde_json::from_str(body.trim_start_matches("---\n")).expect("the NodeConfig is JSON")
}

#[test]
fn families_default_to_al2023_and_refusals_say_why_and_what_to_use() {
    assert_eq!(AmiFamily::parse(None), Ok(AmiFamily::Al2023));
    assert_eq!(
        AmiFamily::parse(Some("Bottlerocket")),
        Ok(AmiFamily::Bottlerocket)
    );
    let al2 = AmiFamily::parse(Some("AL2")).unwrap_err();
    assert!(
        al2.contains("end of support") && al2.contains("AL2023"),
        "{al2}"
    );
    let ubuntu = AmiFamily::parse(Some("Ubuntu")).unwrap_err();
    assert!(ubuntu.contains("Custom with an amiSelector"), "{ubuntu}");
    assert!(
        AmiFamily::parse(Some("Gentoo"))
            .unwrap_err()
            .contains("AL2023, Bottlerocket, Custom")
    );
}

#[test]
fn cluster_dns_is_the_tenth_address_of_the_service_cidr() {
    let ip = |c: &str| cluster_dns_ip(c).map(|i| i.to_string());
    assert_eq!(ip("10.100.0.0/16").as_deref(), Ok("10.100.0.10"));
    assert_eq!(ip("172.20.0.0/16").as_deref(), Ok("172.20.0.10"));
    assert_eq!(ip("10.96.5.7/12").as_deref(), Ok("10.96.0.10"));
    assert_eq!(ip("fd00:1234::/108").as_deref(), Ok("fd00:1234::a"));
    for bad in ["10.100.0.0", "nonsense/16", "10.0.0.0/30", "10.0.0.0/x"] {
        let e = cluster_dns_ip(bad).unwrap_err().to_string();
        assert!(e.contains("serviceCIDR"), "{e}");
    }
}

#[test]
fn al2023_user_data_is_mime_with_a_node_config_holding_cluster_kubelet_labels_and_taints() {
    let data = user_data(AmiFamily::Al2023, &cluster(), &node(), None)
        .unwrap()
        .unwrap();
    assert!(data.starts_with("MIME-Version: 1.0\nContent-Type: multipart/mixed;"));
    let nc = node_config_of(&data);
    assert_eq!(nc["kind"], "NodeConfig");
    let spec = &nc["spec"];
    assert_eq!(spec["cluster"]["name"], "demo");
    assert_eq!(spec["cluster"]["cidr"], "10.100.0.0/16");
    assert_eq!(spec["cluster"]["certificateAuthority"], cluster().ca_bundle);
    assert_eq!(spec["kubelet"]["config"]["clusterDNS"][0], "10.100.0.10");
    assert!(
        spec["kubelet"]["config"].get("maxPods").is_none(),
        "nodeadm's ENI default"
    );
    assert_eq!(
        spec["kubelet"]["flags"][0],
        "--node-labels=karpenter.sh/provisioner-name=default,team=a"
    );
    let taints = &spec["kubelet"]["config"]["registerWithTaints"];
    assert_eq!(taints[0]["value"], "gpu");
    assert!(taints[1].get("value").is_none());
    assert_eq!(taints[1]["effect"], "NoExecute");
}

#[test]
fn al2023_keeps_the_users_parts_first_and_types_a_plain_script() {
    let script = "#!/bin/bash\necho hello\n";
    let data = user_data(AmiFamily::Al2023, &cluster(), &node(), Some(script))
        .unwrap()
        .unwrap();
    let mail = mailparse::parse_mail(data.as_bytes()).unwrap();
    assert_eq!(mail.subparts.len(), 2);
    assert_eq!(mail.subparts[0].ctype.mimetype, "text/x-shellscript");
    assert_eq!(mail.subparts[0].get_body().unwrap(), script);

    let mime = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BOUND\"\n\n--BOUND\nContent-Type: text/x-shellscript\n\necho one\n--BOUND\nContent-Type: application/node.eks.aws\n\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n      shutdownGracePeriod: 30s\n--BOUND--\n";
    let data = user_data(AmiFamily::Al2023, &cluster(), &node(), Some(mime))
        .unwrap()
        .unwrap();
    let mail = mailparse::parse_mail(data.as_bytes()).unwrap();
    let types: Vec<&str> = mail
        .subparts
        .iter()
        .map(|p| p.ctype.mimetype.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "text/x-shellscript",
            "application/node.eks.aws",
            "application/node.eks.aws"
        ]
    );
    assert!(
        mail.subparts[1]
            .get_body()
            .unwrap()
            .contains("shutdownGracePeriod")
    );
}

#[test]
fn a_boundary_inside_a_body_is_avoided() {
    let script = "#!/bin/sh\necho --//karpenter-rs-0\n";
    let data = user_data(AmiFamily::Al2023, &cluster(), &node(), Some(script))
        .unwrap()
        .unwrap();
    assert!(data.contains("boundary=\"//karpenter-rs-1\""));
    assert_eq!(
        mailparse::parse_mail(data.as_bytes())
            .unwrap()
            .subparts
            .len(),
        2
    );
}

#[test]
fn malformed_user_data_is_refused_per_family_with_the_fix() {
    let not_multipart = "Content-Type: text/plain\n\nhello\n";
    let e = check_user_data(AmiFamily::Al2023, not_multipart).unwrap_err();
    assert!(e.contains("multipart/mixed"), "{e}");
    let no_parts =
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"X\"\n\nno boundary lines\n";
    let e = check_user_data(AmiFamily::Al2023, no_parts).unwrap_err();
    assert!(e.contains("boundary"), "{e}");
    let e = check_user_data(AmiFamily::Bottlerocket, "[settings\nx = ").unwrap_err();
    assert!(e.contains("TOML"), "{e}");
    assert!(check_user_data(AmiFamily::Custom, "anything at all").is_ok());
}

#[test]
fn bottlerocket_settings_are_merged_over_the_users_toml() {
    let user = "[settings.kubernetes]\ncluster-name = \"wrong\"\nimage-gc-high-threshold-percent = \"85\"\n\n[settings.host-containers.admin]\nenabled = true\n";
    let mut n = node();
    n.kubelet = Some(KubeletConfiguration {
        max_pods: Some(58),
        ..KubeletConfiguration::default()
    });
    let data = user_data(AmiFamily::Bottlerocket, &cluster(), &n, Some(user))
        .unwrap()
        .unwrap();
    let doc: toml::Table = data.parse().unwrap();
    let k8s = &doc["settings"]["kubernetes"];
    assert_eq!(k8s["cluster-name"].as_str(), Some("demo"));
    assert_eq!(k8s["image-gc-high-threshold-percent"].as_str(), Some("85"));
    assert_eq!(k8s["cluster-dns-ip"].as_str(), Some("10.100.0.10"));
    assert_eq!(k8s["max-pods"].as_integer(), Some(58));
    assert_eq!(k8s["node-labels"]["team"].as_str(), Some("a"));
    assert_eq!(
        k8s["node-taints"]["dedicated"][0].as_str(),
        Some("gpu:NoSchedule")
    );
    assert_eq!(
        k8s["node-taints"]["startup"][0].as_str(),
        Some(":NoExecute")
    );
    assert_eq!(
        doc["settings"]["host-containers"]["admin"]["enabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn custom_is_the_users_data_verbatim() {
    assert_eq!(
        user_data(AmiFamily::Custom, &cluster(), &node(), Some("raw"))
            .unwrap()
            .as_deref(),
        Some("raw")
    );
    assert_eq!(
        user_data(AmiFamily::Custom, &cluster(), &node(), None).unwrap(),
        None
    );
}

#[test]
fn labels_the_kubelet_may_not_set_stay_out_of_the_bootstrap() {
    assert!(kubelet_may_set("team"));
    assert!(kubelet_may_set("karpenter.sh/provisioner-name"));
    assert!(kubelet_may_set("node.kubernetes.io/instance-type"));
    assert!(kubelet_may_set("example.node.kubernetes.io/x"));
    assert!(!kubelet_may_set("node-role.kubernetes.io/worker"));
    assert!(!kubelet_may_set("kubernetes.io/custom"));
    assert!(!kubelet_may_set("x.k8s.io/y"));
    let mut n = node();
    n.labels
        .insert("node-role.kubernetes.io/worker".into(), "".into());
    let data = user_data(AmiFamily::Al2023, &cluster(), &n, None)
        .unwrap()
        .unwrap();
    let flags = node_config_of(&data)["spec"]["kubelet"]["flags"][0].to_string();
    assert!(!flags.contains("node-role"), "{flags}");
}

mod allocatable_matches_the_written_kubelet_config {
    //! For any instance type and kubeletConfiguration: what the scheduler assumes a new node holds
    //! (crate::scheduling::kubelet) equals what a node derives from the NodeConfig we write, computed here
    //! independently the way nodeadm and the kubelet do (nodeadm's defaults, the user's config
    //! merged over them key by key, allocatable = capacity - reserved - hard eviction).
    use super::*;
    use crate::api::Quantity;
    use crate::scheduling::{InstanceType, Resources};
    use proptest::prelude::*;
    use serde_json::Value as Json;

    const MIB: i64 = 1 << 20;

    fn bytes(q: &str) -> i64 {
        (Quantity::new(q).millis().unwrap() / 1000) as i64
    }

    fn node_side(it: &InstanceType, config: &Json) -> Resources {
        let k = &config["spec"]["kubelet"]["config"];
        let cores = i64::from(it.vcpus);
        let total = cores * 1000;
        let mut cpu_reserve = 0;
        for (start, end, pct) in [
            (0, 1000, 600),
            (1000, 2000, 100),
            (2000, 4000, 50),
            (4000, total, 25),
        ] {
            if total > start {
                cpu_reserve += (total.min(end) - start) * pct / 10000;
            }
        }
        let eni_pods = i64::from(it.max_pods);
        let mut kube = serde_json::json!({
            "cpu": format!("{cpu_reserve}m"),
            "memory": format!("{}Mi", 11 * eni_pods + 255),
            "ephemeral-storage": "1Gi",
        });
        let mut evict = serde_json::json!({"memory.available": "100Mi", "nodefs.available": "10%"});
        for (target, key) in [(&mut kube, "kubeReserved"), (&mut evict, "evictionHard")] {
            if let Some(m) = k[key].as_object() {
                for (name, v) in m {
                    target[name] = v.clone();
                }
            }
        }
        let system = k["systemReserved"].clone();
        let get = |m: &Json, name: &str| m[name].as_str().map(bytes).unwrap_or(0);
        let memory = it.memory_mib as i64 * MIB * 925 / 1000;
        let disk = i64::from(it.ephemeral_storage_gib) << 30;
        let threshold = |v: &str, cap: i64| match v.strip_suffix('%') {
            Some(p) => (cap as f64 * p.parse::<f64>().unwrap() / 100.0) as i64,
            None => bytes(v),
        };
        let mut pods = k["maxPods"].as_i64().unwrap_or(eni_pods);
        if let Some(ppc) = k["podsPerCore"].as_i64().filter(|p| *p > 0) {
            pods = pods.min(ppc * cores);
        }
        let cpu_q = |m: &Json| {
            m["cpu"]
                .as_str()
                .map(|q| (Quantity::new(q).millis().unwrap()) as i64)
                .unwrap_or(0)
        };
        Resources {
            cpu_millis: (total - cpu_q(&kube) - cpu_q(&system)).max(0),
            memory_bytes: (memory
                - get(&kube, "memory")
                - get(&system, "memory")
                - threshold(evict["memory.available"].as_str().unwrap(), memory))
            .max(0),
            ephemeral_bytes: (disk
                - get(&kube, "ephemeral-storage")
                - get(&system, "ephemeral-storage")
                - threshold(evict["nodefs.available"].as_str().unwrap(), disk))
            .max(0),
            pods: pods.max(0),
            gpus: i64::from(it.gpus),
        }
    }

    fn kubelet_config() -> impl Strategy<Value = Option<KubeletConfiguration>> {
        let reserved = || {
            (
                prop::option::of(0u32..3000),
                prop::option::of(0u32..4096),
                prop::option::of(0u32..8),
            )
                .prop_map(|(cpu, mem, disk)| {
                    let mut m = std::collections::BTreeMap::new();
                    if let Some(c) = cpu {
                        m.insert("cpu".to_string(), Quantity::new(format!("{c}m")));
                    }
                    if let Some(x) = mem {
                        m.insert("memory".to_string(), Quantity::new(format!("{x}Mi")));
                    }
                    if let Some(d) = disk {
                        m.insert(
                            "ephemeral-storage".to_string(),
                            Quantity::new(format!("{d}Gi")),
                        );
                    }
                    m
                })
        };
        let eviction = (
            prop::option::of(prop_oneof![
                (50u32..2048).prop_map(|m| format!("{m}Mi")),
                (1u32..20).prop_map(|p| format!("{p}%")),
            ]),
            prop::option::of((1u32..30).prop_map(|p| format!("{p}%"))),
        )
            .prop_map(|(mem, disk)| {
                let mut m = std::collections::BTreeMap::new();
                if let Some(v) = mem {
                    m.insert("memory.available".to_string(), v);
                }
                if let Some(v) = disk {
                    m.insert("nodefs.available".to_string(), v);
                }
                m
            });
        prop::option::of(
            (
                prop::option::of(1i32..300),
                prop::option::of(0i32..30),
                reserved(),
                reserved(),
                eviction,
            )
                .prop_map(|(max_pods, pods_per_core, kube, system, hard)| {
                    KubeletConfiguration {
                        max_pods,
                        pods_per_core,
                        kube_reserved: kube,
                        system_reserved: system,
                        eviction_hard: hard,
                        ..KubeletConfiguration::default()
                    }
                }),
        )
    }

    proptest! {
        #[test]
        fn for_any_type_and_settings(
            vcpus in 1u32..=192,
            gib_per_vcpu in 1u64..=16,
            max_pods in 4u32..=737,
            disk_gib in 20u32..=500,
            kubelet in kubelet_config(),
        ) {
            let mut it = InstanceType::named("x.large", vcpus, u64::from(vcpus) * gib_per_vcpu * 1024)
                .max_pods(max_pods);
            it.ephemeral_storage_gib = disk_gib;
            let setup = NodeSetup { kubelet: kubelet.clone(), ..NodeSetup::default() };
            let data = user_data(AmiFamily::Al2023, &cluster(), &setup, None).unwrap().unwrap();
            let written = node_config_of(&data);
            prop_assert_eq!(crate::scheduling::kubelet::allocatable(&it, kubelet.as_ref()), node_side(&it, &written));
        }
    }
}
