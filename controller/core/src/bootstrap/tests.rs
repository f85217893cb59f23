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
        max_pods: None,
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
    assert!(spec["kubelet"]["config"].get("maxPods").is_none());
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
    n.max_pods = Some(58);
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
