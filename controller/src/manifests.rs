//! `karpenter-controller manifests`: the objects an installation needs, as multi-document YAML,
//! for people who do not use Terraform. The provider installs the same objects.

use serde_json::Value;

/// Everything printed, in apply order.
pub fn objects() -> Vec<Value> {
    vec![crate::crd::crd_json()]
}

#[derive(Debug, thiserror::Error)]
#[error("cannot render manifests as YAML: {0}")]
pub struct RenderError(#[from] serde_yaml_ng::Error);

pub fn render_yaml(objects: &[Value]) -> Result<String, RenderError> {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(object)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_holds_one_document_per_object_and_reads_back_the_same()
    -> Result<(), Box<dyn std::error::Error>> {
        let objects = objects();
        let yaml = render_yaml(&objects)?;
        let docs: Vec<Value> = yaml
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(serde_yaml_ng::from_str)
            .collect::<Result<_, _>>()?;
        assert_eq!(docs, objects);
        Ok(())
    }
}
