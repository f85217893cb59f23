//! Blocks: the top-level body of a schema and `name { ... }` nested blocks.

use super::attribute::Attribute;
use crate::plugin::value::Type;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockNesting {
    Single,
    Group,
    List,
    Set,
    Map,
}

#[derive(Clone, Debug)]
pub struct NestedBlock {
    pub name: String,
    pub nesting: BlockNesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
}

impl NestedBlock {
    pub fn new(name: impl Into<String>, nesting: BlockNesting, block: Block) -> Self {
        NestedBlock {
            name: name.into(),
            nesting,
            block,
            min_items: 0,
            max_items: 0,
        }
    }
    pub fn min_items(mut self, n: i64) -> Self {
        self.min_items = n;
        self
    }
    pub fn max_items(mut self, n: i64) -> Self {
        self.max_items = n;
        self
    }
    pub fn value_type(&self) -> Type {
        let obj = self.block.value_type();
        match self.nesting {
            BlockNesting::Single | BlockNesting::Group => obj,
            BlockNesting::List => Type::list(obj),
            BlockNesting::Set => Type::set(obj),
            BlockNesting::Map => Type::map(obj),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    /// Markdown.
    pub description: String,
    pub deprecated: bool,
}

impl Block {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
    pub fn attribute(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }
    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }
    pub fn value_type(&self) -> Type {
        let mut attrs: std::collections::BTreeMap<String, Type> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value_type()))
            .collect();
        for b in &self.blocks {
            attrs.insert(b.name.clone(), b.value_type());
        }
        Type::Object(attrs)
    }
    pub fn find_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}
