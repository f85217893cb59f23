//! Registry-layout docs generated from the schemas, so code and docs cannot drift:
//! `index.md`, `resources/<name>.md`, `data-sources/<name>.md` (names without the provider prefix).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::schema::{Attribute, Block, BlockNesting, NestingMode, Schema};
use super::traits::Provider;
use super::value::Type;

/// Relative path -> file contents for every page of `provider`.
pub fn render(provider: &dyn Provider) -> BTreeMap<String, String> {
    let name = provider.type_name();
    let mut out = BTreeMap::new();
    out.insert(
        "index.md".to_string(),
        page(name, "Provider", name, &provider.schema(), None),
    );
    let strip = |t: &'static str| t.strip_prefix(&format!("{name}_")).unwrap_or(t).to_string();
    for r in provider.resources() {
        let import = r.importer().map(|i| i.id_description());
        out.insert(
            format!("resources/{}.md", strip(r.type_name())),
            page(
                name,
                "Resource",
                r.type_name(),
                &r.schema(),
                import.as_deref(),
            ),
        );
    }
    for d in provider.data_sources() {
        out.insert(
            format!("data-sources/{}.md", strip(d.type_name())),
            page(name, "Data Source", d.type_name(), &d.schema(), None),
        );
    }
    out
}

fn page(provider: &str, kind: &str, title: &str, schema: &Schema, import: Option<&str>) -> String {
    let mut s = String::new();
    let summary = schema.block.description.lines().next().unwrap_or("");
    let _ = write!(
        s,
        "---\npage_title: \"{title} {kind} - {provider}\"\nsubcategory: \"\"\ndescription: |-\n  {summary}\n---\n\n# {title} ({kind})\n\n{}\n\n",
        schema.block.description
    );
    s.push_str("<!-- Generated from the provider schema by `terraform-provider-karpenter docs`; do not edit. -->\n\n");
    s.push_str("## Schema\n");
    let mut nested = Vec::new();
    block_sections(&schema.block, "", &mut s, &mut nested);
    while !nested.is_empty() {
        let batch: Vec<_> = std::mem::take(&mut nested);
        for (anchor, label, block) in batch {
            let _ = write!(
                s,
                "\n<a id=\"{anchor}\"></a>\n### Nested Schema for `{label}`\n"
            );
            block_sections(&block, &label, &mut s, &mut nested);
        }
    }
    if let Some(id) = import {
        let _ = write!(
            s,
            "\n## Import\n\nImport by {id}:\n\n```shell\nterraform import {title}.example <id>\n```\n"
        );
    }
    s
}

fn block_sections(
    b: &Block,
    prefix: &str,
    s: &mut String,
    nested: &mut Vec<(String, String, Block)>,
) {
    type Group = (&'static str, fn(&Attribute) -> bool);
    let groups: [Group; 3] = [
        ("Required", |a| a.required),
        ("Optional", |a| a.optional),
        ("Read-Only", |a| a.computed && !a.optional && !a.required),
    ];
    for (heading, pred) in groups {
        let attrs: Vec<&Attribute> = b.attributes.iter().filter(|a| pred(a)).collect();
        let blocks: Vec<_> = b
            .blocks
            .iter()
            .filter(|nb| match heading {
                "Required" => nb.min_items > 0,
                "Optional" => nb.min_items == 0,
                _ => false,
            })
            .collect();
        if attrs.is_empty() && blocks.is_empty() {
            continue;
        }
        let _ = write!(s, "\n### {heading}\n\n");
        for a in attrs {
            let label = join(prefix, &a.name);
            let _ = write!(
                s,
                "- `{}` ({}){}",
                a.name,
                type_label(a),
                sentence(&a.description)
            );
            if let Some(d) = &a.default {
                let _ = write!(s, " Defaults to `{}`.", short_value(d));
            }
            for v in &a.validators {
                let _ = write!(s, " {}", v.description());
            }
            for m in &a.plan_modifiers {
                let _ = write!(s, " {}", m.description());
            }
            if a.sensitive {
                s.push_str(" Sensitive.");
            }
            if !a.deprecated.is_empty() {
                let _ = write!(s, " **Deprecated**: {}", a.deprecated);
            }
            if let Some(n) = &a.nested {
                let anchor = format!("nestedatt--{}", label.replace('.', "--"));
                let _ = write!(s, " (see [below for nested schema](#{anchor}))");
                let inner = Block {
                    attributes: n.attributes.clone(),
                    ..Block::default()
                };
                nested.push((anchor, label, inner));
            }
            s.push('\n');
        }
        for nb in blocks {
            let label = join(prefix, &nb.name);
            let anchor = format!("nestedblock--{}", label.replace('.', "--"));
            let mode = match nb.nesting {
                BlockNesting::Single | BlockNesting::Group => "Block".to_string(),
                BlockNesting::List => "Block List".to_string(),
                BlockNesting::Set => "Block Set".to_string(),
                BlockNesting::Map => "Block Map".to_string(),
            };
            let mut limits = String::new();
            if nb.min_items > 0 {
                let _ = write!(limits, ", Min: {}", nb.min_items);
            }
            if nb.max_items > 0 {
                let _ = write!(limits, ", Max: {}", nb.max_items);
            }
            let _ = writeln!(
                s,
                "- `{}` ({mode}{limits}){} (see [below for nested schema](#{anchor}))",
                nb.name,
                sentence(&nb.block.description)
            );
            nested.push((anchor, label, nb.block.clone()));
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn sentence(d: &str) -> String {
    if d.is_empty() {
        String::new()
    } else {
        format!(" {d}")
    }
}

fn type_label(a: &Attribute) -> String {
    if let Some(n) = &a.nested {
        return match n.nesting {
            NestingMode::Single => "Attributes",
            NestingMode::List => "Attributes List",
            NestingMode::Set => "Attributes Set",
            NestingMode::Map => "Attributes Map",
        }
        .to_string();
    }
    type_name(&a.ty)
}

fn type_name(t: &Type) -> String {
    match t {
        Type::String => "String".into(),
        Type::Number => "Number".into(),
        Type::Bool => "Boolean".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

/// A default as users would write it in HCL.
fn short_value(v: &super::value::Value) -> String {
    use super::value::Value;
    let items = |vs: &[Value]| vs.iter().map(short_value).collect::<Vec<_>>().join(", ");
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Unknown => "(known after apply)".into(),
        Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => format!("[{}]", items(vs)),
        Value::Map(m) | Value::Object(m) => {
            let pairs: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k:?} = {}", short_value(v)))
                .collect();
            format!("{{ {} }}", pairs.join(", "))
        }
    }
}
