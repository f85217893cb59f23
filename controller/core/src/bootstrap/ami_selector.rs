//! `amiSelector`: which images a Provisioner launches instead of its family's public one.
//!
//! Keys: `aws::ids` (comma-separated AMI ids), `aws::name` (an image name, `*` wildcards as EC2's
//! `name` filter takes them), `aws::owners` (comma-separated account ids, `self` or `amazon`;
//! `self,amazon` when neither ids nor owners are given, so nobody else's image matches by tag
//! alone) and any other key as a tag (`*`: any value). Every entry must match; the newest image
//! per architecture wins.

use std::collections::BTreeMap;

pub const IDS: &str = "aws::ids";
pub const NAME: &str = "aws::name";
pub const OWNERS: &str = "aws::owners";
const DEFAULT_OWNERS: [&str; 2] = ["self", "amazon"];

/// A DescribeImages query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageQuery {
    pub ids: Vec<String>,
    pub name: Option<String>,
    pub owners: Vec<String>,
    /// Tag key -> value; `*` means the key with any value.
    pub tags: BTreeMap<String, String>,
}

/// An image as EC2 describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    /// EC2's architecture name: `x86_64` or `arm64`.
    pub architecture: String,
    /// RFC 3339 as EC2 writes it, so text order is time order.
    pub creation_date: String,
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// Why one selector entry cannot be used.
pub fn check_entry(key: &str, value: &str) -> Result<(), String> {
    match key {
        IDS => match list(value).iter().find(|id| !id.starts_with("ami-")) {
            Some(bad) => Err(format!("{bad:?} is not an AMI id (ami-...)")),
            None if list(value).is_empty() => Err("lists no AMI id".to_string()),
            None => Ok(()),
        },
        NAME | OWNERS if value.trim().is_empty() => Err("must not be empty".to_string()),
        NAME | OWNERS => Ok(()),
        other if other.starts_with("aws::") => Err(format!(
            "unknown selector key {other:?}; use {IDS}, {NAME}, {OWNERS} or a tag key"
        )),
        "" => Err("a tag key must not be empty".to_string()),
        _ => Ok(()),
    }
}

pub fn query(selector: &BTreeMap<String, String>) -> ImageQuery {
    let mut q = ImageQuery::default();
    for (key, value) in selector {
        match key.as_str() {
            IDS => q.ids = list(value),
            NAME => q.name = Some(value.trim().to_string()),
            OWNERS => q.owners = list(value),
            _ => {
                q.tags.insert(key.clone(), value.clone());
            }
        }
    }
    if q.ids.is_empty() && q.owners.is_empty() {
        q.owners = DEFAULT_OWNERS.map(str::to_string).to_vec();
    }
    q
}

/// The newest image per architecture (ties: the larger id, so the choice is stable).
pub fn newest_per_architecture(images: &[Image]) -> BTreeMap<String, Image> {
    let mut out: BTreeMap<String, Image> = BTreeMap::new();
    for image in images {
        let newer = out
            .get(&image.architecture)
            .is_none_or(|best| (&image.creation_date, &image.id) > (&best.creation_date, &best.id));
        if newer {
            out.insert(image.architecture.clone(), image.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, arch: &str, created: &str) -> Image {
        Image {
            id: id.into(),
            architecture: arch.into(),
            creation_date: created.into(),
        }
    }

    #[test]
    fn entries_become_a_query_with_self_and_amazon_owners_by_default() {
        let selector = BTreeMap::from([
            (NAME.to_string(), "my-al2023-*".to_string()),
            ("team".to_string(), "*".to_string()),
        ]);
        let q = query(&selector);
        assert_eq!(q.name.as_deref(), Some("my-al2023-*"));
        assert_eq!(q.owners, ["self", "amazon"]);
        assert_eq!(q.tags["team"], "*");
        let by_id = query(&BTreeMap::from([(
            IDS.to_string(),
            "ami-1, ami-2".to_string(),
        )]));
        assert_eq!(by_id.ids, ["ami-1", "ami-2"]);
        assert!(by_id.owners.is_empty());
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        assert!(
            check_entry(IDS, "ami-1,sg-2")
                .unwrap_err()
                .contains("\"sg-2\"")
        );
        assert!(check_entry(IDS, " , ").is_err());
        assert!(
            check_entry("aws::tags", "x")
                .unwrap_err()
                .contains("unknown selector key")
        );
        assert!(check_entry(NAME, "").is_err());
        assert!(check_entry("team", "a").is_ok());
    }

    #[test]
    fn the_newest_image_of_each_architecture_wins() {
        let chosen = newest_per_architecture(&[
            image("ami-old", "x86_64", "2026-01-01T00:00:00.000Z"),
            image("ami-new", "x86_64", "2026-06-01T00:00:00.000Z"),
            image("ami-arm", "arm64", "2025-01-01T00:00:00.000Z"),
        ]);
        assert_eq!(chosen["x86_64"].id, "ami-new");
        assert_eq!(chosen["arm64"].id, "ami-arm");
        assert!(newest_per_architecture(&[]).is_empty());
    }
}
