//! Attribute paths: where in a configuration a diagnostic points.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathStep {
    Attr(String),
    Key(String),
    Index(i64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct AttributePath(Vec<PathStep>);

impl AttributePath {
    pub fn root() -> Self {
        AttributePath(Vec::new())
    }
    pub fn attr(name: impl Into<String>) -> Self {
        AttributePath(vec![PathStep::Attr(name.into())])
    }
    pub fn from_steps(steps: Vec<PathStep>) -> Self {
        AttributePath(steps)
    }
    pub fn push_attr(&self, name: impl Into<String>) -> Self {
        self.with(PathStep::Attr(name.into()))
    }
    pub fn push_key(&self, key: impl Into<String>) -> Self {
        self.with(PathStep::Key(key.into()))
    }
    pub fn push_index(&self, i: usize) -> Self {
        self.with(PathStep::Index(i64::try_from(i).unwrap_or(i64::MAX)))
    }
    fn with(&self, step: PathStep) -> Self {
        let mut v = self.0.clone();
        v.push(step);
        AttributePath(v)
    }
    pub fn steps(&self) -> &[PathStep] {
        &self.0
    }
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

/// Renders the way Terraform writes paths: `aws.endpoint_url`, `tags["team"]`, `rule[0].name`.
impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                PathStep::Attr(n) if i == 0 => write!(f, "{n}")?,
                PathStep::Attr(n) => write!(f, ".{n}")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}
