//! The requirement algebra: per label key, which values a node may carry (or whether it may lack
//! the label). NotIn and DoesNotExist are complements, Gt/Lt integer bounds; intersection is exact.

use crate::api::{NodeSelectorRequirement, Operator};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Which label values are allowed, as a finite set or the complement of one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ValueSet {
    Only(BTreeSet<String>),
    AllExcept(BTreeSet<String>),
}

/// What one key allows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyRequirement {
    values: ValueSet,
    greater_than: Option<i64>,
    less_than: Option<i64>,
    may_be_absent: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    #[error("requirement on {key:?}: unknown operator {operator:?}")]
    UnknownOperator { key: String, operator: String },
    #[error("requirement on {key:?}: operator {operator} needs at least one value")]
    NeedsValues { key: String, operator: String },
    #[error("requirement on {key:?}: operator {operator} needs exactly one integer value")]
    NeedsOneInteger { key: String, operator: String },
}

impl KeyRequirement {
    pub fn in_values<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Self {
        KeyRequirement {
            values: ValueSet::Only(values.into_iter().map(Into::into).collect()),
            greater_than: None,
            less_than: None,
            may_be_absent: false,
        }
    }

    pub fn not_in<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Self {
        KeyRequirement {
            values: ValueSet::AllExcept(values.into_iter().map(Into::into).collect()),
            greater_than: None,
            less_than: None,
            may_be_absent: true,
        }
    }

    pub fn exists() -> Self {
        KeyRequirement {
            values: ValueSet::AllExcept(BTreeSet::new()),
            greater_than: None,
            less_than: None,
            may_be_absent: false,
        }
    }

    pub fn does_not_exist() -> Self {
        KeyRequirement {
            values: ValueSet::Only(BTreeSet::new()),
            greater_than: None,
            less_than: None,
            may_be_absent: true,
        }
    }

    pub fn greater_than(n: i64) -> Self {
        KeyRequirement {
            greater_than: Some(n),
            ..Self::exists()
        }
    }

    pub fn less_than(n: i64) -> Self {
        KeyRequirement {
            less_than: Some(n),
            ..Self::exists()
        }
    }

    pub fn from_operator(
        key: &str,
        op: &Operator,
        values: &[String],
    ) -> Result<Self, RequirementError> {
        let one_int = || {
            if values.len() != 1 {
                return None;
            }
            values[0].parse::<i64>().ok()
        };
        let needs_int = || RequirementError::NeedsOneInteger {
            key: key.to_string(),
            operator: op.to_string(),
        };
        Ok(match op {
            Operator::In if values.is_empty() => {
                return Err(RequirementError::NeedsValues {
                    key: key.to_string(),
                    operator: op.to_string(),
                });
            }
            Operator::In => Self::in_values(values.iter().cloned()),
            Operator::NotIn => Self::not_in(values.iter().cloned()),
            Operator::Exists => Self::exists(),
            Operator::DoesNotExist => Self::does_not_exist(),
            Operator::Gt => Self::greater_than(one_int().ok_or_else(needs_int)?),
            Operator::Lt => Self::less_than(one_int().ok_or_else(needs_int)?),
            Operator::Unknown(o) => {
                return Err(RequirementError::UnknownOperator {
                    key: key.to_string(),
                    operator: o.clone(),
                });
            }
        })
    }

    fn within_bounds(&self, v: &str) -> bool {
        if self.greater_than.is_none() && self.less_than.is_none() {
            return true;
        }
        let Ok(n) = v.parse::<i64>() else {
            return false;
        };
        self.greater_than.is_none_or(|g| n > g) && self.less_than.is_none_or(|l| n < l)
    }

    /// Whether a node whose label has this value (None: label absent) satisfies the requirement.
    pub fn allows(&self, value: Option<&str>) -> bool {
        match value {
            None => self.may_be_absent,
            Some(v) => self.allows_value(v),
        }
    }

    pub fn allows_value(&self, v: &str) -> bool {
        let in_set = match &self.values {
            ValueSet::Only(s) => s.contains(v),
            ValueSet::AllExcept(s) => !s.contains(v),
        };
        in_set && self.within_bounds(v)
    }

    pub fn may_be_absent(&self) -> bool {
        self.may_be_absent
    }

    /// The exact allowed values when the set is finite.
    pub fn finite_values(&self) -> Option<&BTreeSet<String>> {
        match &self.values {
            ValueSet::Only(s) => Some(s),
            ValueSet::AllExcept(_) => None,
        }
    }

    pub fn intersect(&self, other: &KeyRequirement) -> KeyRequirement {
        let values = match (&self.values, &other.values) {
            (ValueSet::Only(a), ValueSet::Only(b)) => {
                ValueSet::Only(a.intersection(b).cloned().collect())
            }
            (ValueSet::Only(a), ValueSet::AllExcept(b))
            | (ValueSet::AllExcept(b), ValueSet::Only(a)) => {
                ValueSet::Only(a.difference(b).cloned().collect())
            }
            (ValueSet::AllExcept(a), ValueSet::AllExcept(b)) => {
                ValueSet::AllExcept(a.union(b).cloned().collect())
            }
        };
        let mut out = KeyRequirement {
            values,
            greater_than: max_opt(self.greater_than, other.greater_than),
            less_than: min_opt(self.less_than, other.less_than),
            may_be_absent: self.may_be_absent && other.may_be_absent,
        };
        out.normalize();
        out
    }

    // A finite set absorbs the bounds, so later checks and the display need not repeat them.
    fn normalize(&mut self) {
        if self.greater_than.is_none() && self.less_than.is_none() {
            return;
        }
        let (g, l) = (self.greater_than, self.less_than);
        if let ValueSet::Only(s) = &mut self.values {
            s.retain(|v| {
                v.parse::<i64>()
                    .is_ok_and(|n| g.is_none_or(|g| n > g) && l.is_none_or(|l| n < l))
            });
            self.greater_than = None;
            self.less_than = None;
        }
    }

    /// Whether at least one present label value is allowed.
    pub fn has_value(&self) -> bool {
        match &self.values {
            ValueSet::Only(s) => s.iter().any(|v| self.within_bounds(v)),
            ValueSet::AllExcept(excluded) => {
                if self.greater_than.is_none() && self.less_than.is_none() {
                    return true;
                }
                let lo = self.greater_than.map_or(i64::MIN, |g| g.saturating_add(1));
                let hi = self.less_than.map_or(i64::MAX, |l| l.saturating_sub(1));
                if lo > hi {
                    return false;
                }
                let width = (hi as i128) - (lo as i128) + 1;
                if width > excluded.len() as i128 {
                    return true;
                }
                (lo..=hi).any(|n| !excluded.contains(&n.to_string()))
            }
        }
    }

    pub fn is_satisfiable(&self) -> bool {
        self.may_be_absent || self.has_value()
    }

    /// The same constraint written as Kubernetes node selector requirements (one or more).
    pub fn to_node_selector(&self, key: &str) -> Vec<NodeSelectorRequirement> {
        let req = |op: Operator, values: Vec<String>| NodeSelectorRequirement {
            key: key.to_string(),
            operator: op,
            values,
        };
        let mut out = Vec::new();
        match (&self.values, self.may_be_absent) {
            (ValueSet::Only(s), false) => out.push(req(Operator::In, s.iter().cloned().collect())),
            (ValueSet::Only(s), true) if s.is_empty() => {
                out.push(req(Operator::DoesNotExist, vec![]))
            }
            // "these values or absent" has no single operator; NotIn of nothing else is not
            // expressible either, so keep the stricter In and let the node carry the label.
            (ValueSet::Only(s), true) => out.push(req(Operator::In, s.iter().cloned().collect())),
            (ValueSet::AllExcept(s), absent) => {
                if !s.is_empty() {
                    out.push(req(Operator::NotIn, s.iter().cloned().collect()));
                }
                if !absent
                    && s.is_empty()
                    && self.greater_than.is_none()
                    && self.less_than.is_none()
                {
                    out.push(req(Operator::Exists, vec![]));
                }
            }
        }
        if let Some(g) = self.greater_than {
            out.push(req(Operator::Gt, vec![g.to_string()]));
        }
        if let Some(l) = self.less_than {
            out.push(req(Operator::Lt, vec![l.to_string()]));
        }
        out
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) | (None, x) => x,
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) | (None, x) => x,
    }
}

impl fmt::Display for KeyRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        match &self.values {
            ValueSet::Only(s) if s.is_empty() && self.may_be_absent => {
                parts.push("DoesNotExist".into())
            }
            ValueSet::Only(s) if s.is_empty() => parts.push("In [] (nothing)".into()),
            ValueSet::Only(s) => parts.push(format!("In [{}]", list(s))),
            ValueSet::AllExcept(s) if !s.is_empty() => parts.push(format!("NotIn [{}]", list(s))),
            ValueSet::AllExcept(_) => {
                if !self.may_be_absent && self.greater_than.is_none() && self.less_than.is_none() {
                    parts.push("Exists".into());
                }
            }
        }
        if let Some(g) = self.greater_than {
            parts.push(format!("Gt {g}"));
        }
        if let Some(l) = self.less_than {
            parts.push(format!("Lt {l}"));
        }
        if parts.is_empty() {
            parts.push("anything".into());
        }
        f.write_str(&parts.join(" and "))
    }
}

/// Requirements on several keys; a node must satisfy every key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Requirements {
    keys: BTreeMap<String, KeyRequirement>,
}

/// Why two requirement sets cannot both hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub key: String,
    pub left: String,
    pub right: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} conflicts with {}",
            self.key, self.left, self.right
        )
    }
}

impl Requirements {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_node_selector(reqs: &[NodeSelectorRequirement]) -> Result<Self, RequirementError> {
        let mut out = Requirements::new();
        for r in reqs {
            out.add(
                &r.key,
                KeyRequirement::from_operator(&r.key, &r.operator, &r.values)?,
            );
        }
        Ok(out)
    }

    /// `key=value` labels (a nodeSelector, a provisioner's labels) as In requirements.
    pub fn from_labels<'a, I: IntoIterator<Item = (&'a String, &'a String)>>(labels: I) -> Self {
        let mut out = Requirements::new();
        for (k, v) in labels {
            out.add(k, KeyRequirement::in_values([v.clone()]));
        }
        out
    }

    pub fn add(&mut self, key: &str, req: KeyRequirement) {
        match self.keys.get_mut(key) {
            Some(existing) => *existing = existing.intersect(&req),
            None => {
                self.keys.insert(key.to_string(), req);
            }
        }
    }

    pub fn intersect(&self, other: &Requirements) -> Requirements {
        let mut out = self.clone();
        for (k, r) in &other.keys {
            out.add(k, r.clone());
        }
        out
    }

    pub fn get(&self, key: &str) -> Option<&KeyRequirement> {
        self.keys.get(key)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &KeyRequirement)> {
        self.keys.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a label value (None: absent) is allowed for a key; unconstrained keys allow anything.
    pub fn allows(&self, key: &str, value: Option<&str>) -> bool {
        self.keys.get(key).is_none_or(|r| r.allows(value))
    }

    pub fn first_unsatisfiable_key(&self) -> Option<&str> {
        self.keys
            .iter()
            .find(|(_, r)| !r.is_satisfiable())
            .map(|(k, _)| k.as_str())
    }

    /// Whether both sets can hold on one node. Keys only one side constrains never conflict here;
    /// whether a node can carry such a label at all is the caller's policy.
    pub fn compatible(&self, other: &Requirements) -> Result<(), Conflict> {
        let (small, large, swapped) = if self.keys.len() <= other.keys.len() {
            (self, other, false)
        } else {
            (other, self, true)
        };
        for (k, a) in &small.keys {
            if let Some(b) = large.keys.get(k)
                && !a.intersect(b).is_satisfiable()
            {
                let (l, r) = if swapped { (b, a) } else { (a, b) };
                return Err(Conflict {
                    key: k.clone(),
                    left: l.to_string(),
                    right: r.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Whether a node with exactly these labels satisfies every requirement.
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.keys
            .iter()
            .all(|(k, r)| r.allows(labels.get(k).map(String::as_str)))
    }

    pub fn to_node_selector(&self) -> Vec<NodeSelectorRequirement> {
        self.keys
            .iter()
            .flat_map(|(k, r)| r.to_node_selector(k))
            .collect()
    }
}

impl fmt::Display for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.keys.iter().map(|(k, r)| format!("{k} {r}")).collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_intersected_with_not_in_keeps_the_difference() {
        let r =
            KeyRequirement::in_values(["a", "b", "c"]).intersect(&KeyRequirement::not_in(["b"]));
        assert!(r.allows(Some("a")) && r.allows(Some("c")));
        assert!(!r.allows(Some("b")) && !r.allows(None));
        assert_eq!(r.to_string(), "In [a, c]");
    }

    #[test]
    fn not_in_allows_an_absent_label_but_exists_does_not() {
        assert!(KeyRequirement::not_in(["x"]).allows(None));
        assert!(!KeyRequirement::exists().allows(None));
        assert!(
            !KeyRequirement::not_in(["x"])
                .intersect(&KeyRequirement::exists())
                .allows(None)
        );
    }

    #[test]
    fn does_not_exist_conflicts_with_in() {
        let a = Requirements::from_labels([(&"team".to_string(), &"a".to_string())]);
        let mut b = Requirements::new();
        b.add("team", KeyRequirement::does_not_exist());
        let err = a.compatible(&b).err().map(|c| c.to_string());
        assert_eq!(
            err.as_deref(),
            Some("team In [a] conflicts with DoesNotExist")
        );
    }

    #[test]
    fn gt_and_lt_bound_integer_values() {
        let r = KeyRequirement::greater_than(2).intersect(&KeyRequirement::less_than(8));
        assert!(r.allows(Some("4")) && !r.allows(Some("8")) && !r.allows(Some("2")));
        assert!(!r.allows(Some("four")));
        assert!(
            !KeyRequirement::greater_than(4)
                .intersect(&KeyRequirement::less_than(5))
                .is_satisfiable()
        );
        let narrowed = KeyRequirement::in_values(["2", "4", "16"]).intersect(&r);
        assert_eq!(narrowed.to_string(), "In [4]");
    }

    #[test]
    fn excluding_every_integer_in_a_range_leaves_nothing() {
        let r = KeyRequirement::greater_than(0)
            .intersect(&KeyRequirement::less_than(3))
            .intersect(&KeyRequirement::not_in(["1", "2"]));
        assert!(!r.is_satisfiable());
    }

    #[test]
    fn node_selector_round_trip_preserves_meaning() -> Result<(), RequirementError> {
        let reqs = vec![
            NodeSelectorRequirement::new("a", Operator::In, &["1", "2"]),
            NodeSelectorRequirement::new("b", Operator::NotIn, &["x"]),
            NodeSelectorRequirement::new("c", Operator::Exists, &[]),
            NodeSelectorRequirement::new("d", Operator::DoesNotExist, &[]),
            NodeSelectorRequirement::new("e", Operator::Gt, &["3"]),
        ];
        let r = Requirements::from_node_selector(&reqs)?;
        assert_eq!(Requirements::from_node_selector(&r.to_node_selector())?, r);
        Ok(())
    }

    fn key_requirement() -> impl Strategy<Value = KeyRequirement> {
        let vals = prop::collection::vec(prop::sample::select(vec!["1", "2", "3", "a", "b"]), 0..4);
        prop_oneof![
            vals.clone()
                .prop_filter("In needs values", |v| !v.is_empty())
                .prop_map(KeyRequirement::in_values),
            vals.prop_map(KeyRequirement::not_in),
            Just(KeyRequirement::exists()),
            Just(KeyRequirement::does_not_exist()),
            (0i64..4).prop_map(KeyRequirement::greater_than),
            (0i64..5).prop_map(KeyRequirement::less_than),
        ]
    }

    const PROBES: [Option<&str>; 7] = [
        None,
        Some("0"),
        Some("1"),
        Some("2"),
        Some("3"),
        Some("a"),
        Some("b"),
    ];

    proptest! {
        #[test]
        fn intersection_allows_exactly_what_both_allow(a in key_requirement(), b in key_requirement()) {
            let both = a.intersect(&b);
            for v in PROBES {
                prop_assert_eq!(both.allows(v), a.allows(v) && b.allows(v), "value {:?}", v);
            }
        }

        #[test]
        fn unsatisfiable_means_no_probe_value_is_allowed(a in key_requirement(), b in key_requirement()) {
            let both = a.intersect(&b);
            if !both.is_satisfiable() {
                for v in PROBES {
                    prop_assert!(!both.allows(v));
                }
            }
        }

        #[test]
        fn intersection_is_commutative(a in key_requirement(), b in key_requirement()) {
            for v in PROBES {
                prop_assert_eq!(a.intersect(&b).allows(v), b.intersect(&a).allows(v));
            }
        }
    }
}
