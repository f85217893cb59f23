//! The AWS operations the controller's source calls are exactly the ones the contract lists
//! (`karpenter_contract::iam_policy::CONTROLLER_CALLS`), which the installed IAM policy grants.
//! Every SDK client in the controller is held in a binding named after its service (`ec2`, `sqs`,
//! ...), so a call reads `<service>.<operation>()`.

use std::collections::BTreeSet;
use std::path::Path;

use karpenter_contract::case::pascal_case;
use karpenter_contract::iam_policy::CONTROLLER_CALLS;

const SERVICES: [&str; 5] = ["ec2", "eks", "pricing", "sqs", "ssm"];

fn sources(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
}

/// (service, operation) of every `<service>.<operation>()` in `text`, whitespace ignored.
fn calls_in(text: &str) -> Vec<(String, String)> {
    let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut found = Vec::new();
    for service in SERVICES {
        let needle = format!("{service}.");
        let mut from = 0;
        while let Some(at) = squashed[from..].find(&needle) {
            let start = from + at;
            from = start + needle.len();
            let before = squashed[..start].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &squashed[from..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() && rest[name.len()..].starts_with("()") {
                found.push((service.to_string(), pascal_case(&name)));
            }
        }
    }
    found
}

#[test]
fn the_controller_calls_exactly_the_listed_aws_operations() {
    let mut texts = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut texts,
    );
    assert!(texts.len() > 20, "read {} files", texts.len());
    let called: BTreeSet<(String, String)> = texts.iter().flat_map(|t| calls_in(t)).collect();
    let listed: BTreeSet<(String, String)> = CONTROLLER_CALLS
        .iter()
        .map(|(s, o)| (s.to_string(), o.to_string()))
        .collect();
    assert_eq!(called, listed);
}

#[test]
fn calls_are_found_across_lines_and_not_inside_other_names() {
    let text = "self\n    .ec2\n    .describe_instances()\n    .send();\n let my_sqs.x(); sqs.get_queue_url().send()";
    assert_eq!(
        calls_in(text),
        vec![
            ("ec2".to_string(), "DescribeInstances".to_string()),
            ("sqs".to_string(), "GetQueueUrl".to_string()),
        ]
    );
}
