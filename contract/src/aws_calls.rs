//! Finding the AWS operations a crate's source calls, so a test can hold them against the list
//! the contract keeps ([`crate::iam_policy::CONTROLLER_CALLS`], [`crate::iam_policy::PROVIDER_CALLS`]).
//! The convention it relies on: every SDK client is held in a binding named after its service
//! (`ec2`, `sqs`, `iam`, `cloudformation`, ...), so a call reads `<service>.<operation>()`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::case::pascal_case;

/// Whitespace runs become one space, and none is left beside a `.`: a call split over lines
/// reads as one, while `match ec2` stays two words.
fn squash(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::with_capacity(text.len());
    for (i, w) in words.iter().enumerate() {
        let joined = i == 0 || w.starts_with('.') || out.ends_with('.');
        if !joined {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// (service, operation) of every `<service>.<operation>()` in `text`, line breaks ignored.
pub fn calls_in(text: &str, services: &[&str]) -> Vec<(String, String)> {
    let squashed = squash(text);
    let mut found = Vec::new();
    for service in services {
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

/// Every call in the `.rs` files below `dir`, and how many files were read.
pub fn calls_below(dir: &Path, services: &[&str]) -> (BTreeSet<(String, String)>, usize) {
    let mut calls = BTreeSet::new();
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files += 1;
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                calls.extend(calls_in(&text, services));
            }
        }
    }
    (calls, files)
}

/// A contract list as the set `calls_below` returns.
pub fn listed(calls: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    calls
        .iter()
        .map(|(s, o)| (s.to_string(), o.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_found_across_lines_and_not_inside_other_names() {
        let text = "self\n    .ec2\n    .describe_instances()\n    .send();\n let my_sqs.x(); let q = match sqs.get_queue_url().send()";
        assert_eq!(
            calls_in(text, &["ec2", "sqs"]),
            vec![
                ("ec2".to_string(), "DescribeInstances".to_string()),
                ("sqs".to_string(), "GetQueueUrl".to_string()),
            ]
        );
    }
}
