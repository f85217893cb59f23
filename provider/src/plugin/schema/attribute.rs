//! Attributes: one named value in a block, with its type, mode, docs, validators and plan rules.

use std::fmt;
use std::sync::Arc;

use crate::plugin::context::CallContext;
use crate::plugin::validate::Validator;
use crate::plugin::value::{Type, Value};

#[derive(Clone)]
pub enum PlanModifier {
    /// A change to this attribute destroys and re-creates the resource.
    RequiresReplace,
    /// Keep the prior state value instead of "known after apply" when the attribute is computed
    /// and the configuration leaves it unset (ids, ARNs that never change).
    UseStateForUnknown,
    /// A provider's own rule, run after the generic plan and before replacements are found.
    Custom(Arc<dyn AttributePlanModifier>),
}

/// A plan rule for one attribute that the generic planner does not know, such as a default
/// taken from the provider's configuration.
pub trait AttributePlanModifier: Send + Sync {
    /// The sentence the docs show.
    fn description(&self) -> String;
    /// Refines `planned`, the attribute's planned value (unknown when Terraform cannot know it).
    fn modify(&self, ctx: &CallContext, prior: &Value, config: &Value, planned: &mut Value);
}

impl PlanModifier {
    /// The sentence the docs show.
    pub fn description(&self) -> String {
        match self {
            PlanModifier::RequiresReplace => {
                "Changing this forces a new resource to be created.".into()
            }
            PlanModifier::UseStateForUnknown => "Keeps its value across updates.".into(),
            PlanModifier::Custom(m) => m.description(),
        }
    }
    pub(crate) fn is_requires_replace(&self) -> bool {
        matches!(self, PlanModifier::RequiresReplace)
    }
    pub(crate) fn is_use_state_for_unknown(&self) -> bool {
        matches!(self, PlanModifier::UseStateForUnknown)
    }
}

impl fmt::Debug for PlanModifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanModifier::RequiresReplace => f.write_str("RequiresReplace"),
            PlanModifier::UseStateForUnknown => f.write_str("UseStateForUnknown"),
            PlanModifier::Custom(m) => write!(f, "Custom({:?})", m.description()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NestingMode {
    Single,
    List,
    Set,
    Map,
}

/// Attributes whose value is an object (or collection of objects) with its own attributes.
#[derive(Clone, Debug)]
pub struct NestedAttributes {
    pub nesting: NestingMode,
    pub attributes: Vec<Attribute>,
}

impl NestedAttributes {
    pub fn value_type(&self) -> Type {
        let obj = Type::Object(
            self.attributes
                .iter()
                .map(|a| (a.name.clone(), a.value_type()))
                .collect(),
        );
        match self.nesting {
            NestingMode::Single => obj,
            NestingMode::List => Type::list(obj),
            NestingMode::Set => Type::set(obj),
            NestingMode::Map => Type::map(obj),
        }
    }
}

#[derive(Clone)]
pub struct Attribute {
    pub name: String,
    pub ty: Type,
    pub nested: Option<NestedAttributes>,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    /// Deprecation message; non-empty marks the attribute deprecated.
    pub deprecated: String,
    pub validators: Vec<Arc<dyn Validator>>,
    pub plan_modifiers: Vec<PlanModifier>,
    /// Planned when the configuration leaves the attribute null (implies optional + computed).
    pub default: Option<Value>,
}

impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attribute")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .field("required", &self.required)
            .field("optional", &self.optional)
            .field("computed", &self.computed)
            .finish_non_exhaustive()
    }
}

impl Attribute {
    pub fn new(name: impl Into<String>, ty: Type) -> Self {
        Attribute {
            name: name.into(),
            ty,
            nested: None,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            deprecated: String::new(),
            validators: Vec::new(),
            plan_modifiers: Vec::new(),
            default: None,
        }
    }
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, Type::String)
    }
    pub fn number(name: impl Into<String>) -> Self {
        Self::new(name, Type::Number)
    }
    pub fn bool(name: impl Into<String>) -> Self {
        Self::new(name, Type::Bool)
    }
    pub fn string_map(name: impl Into<String>) -> Self {
        Self::new(name, Type::map(Type::String))
    }
    pub fn string_list(name: impl Into<String>) -> Self {
        Self::new(name, Type::list(Type::String))
    }
    pub fn string_set(name: impl Into<String>) -> Self {
        Self::new(name, Type::set(Type::String))
    }
    pub fn nested(
        name: impl Into<String>,
        nesting: NestingMode,
        attributes: Vec<Attribute>,
    ) -> Self {
        let nested = NestedAttributes {
            nesting,
            attributes,
        };
        let mut a = Self::new(name, nested.value_type());
        a.nested = Some(nested);
        a
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self.optional = false;
        self
    }
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self.required = false;
        self
    }
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.deprecated = message.into();
        self
    }
    /// Markdown; shown in `terraform providers schema` and the generated docs.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
    pub fn validator(mut self, v: impl Validator + 'static) -> Self {
        self.validators.push(Arc::new(v));
        self
    }
    pub fn plan_modifier(mut self, m: PlanModifier) -> Self {
        self.plan_modifiers.push(m);
        self
    }
    pub fn requires_replace(self) -> Self {
        self.plan_modifier(PlanModifier::RequiresReplace)
    }
    pub fn use_state_for_unknown(self) -> Self {
        self.plan_modifier(PlanModifier::UseStateForUnknown)
    }
    /// A default needs Terraform to accept a provider-chosen value: optional + computed.
    pub fn default_value(mut self, v: Value) -> Self {
        self.default = Some(v);
        self.optional = true;
        self.required = false;
        self.computed = true;
        self
    }

    pub fn value_type(&self) -> Type {
        match &self.nested {
            Some(n) => n.value_type(),
            None => self.ty.clone(),
        }
    }
}
