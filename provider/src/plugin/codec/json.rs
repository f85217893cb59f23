//! cty over JSON: the form of stored state (UpgradeResourceState) and of DynamicValue.json.

use std::collections::BTreeMap;

use super::json_text::{self, Json};
use super::{CodecError, dedup_set, infer_type};
use crate::plugin::value::{AttributePath, Number, Type, Value};

pub fn decode_json(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let j = json_text::parse(bytes).map_err(|e| CodecError::Json(e.to_string()))?;
    from_json(j, ty, &AttributePath::root())
}

/// Fails on unknown values: JSON has no way to say "known after apply".
pub fn encode_json(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let j = to_json(v, ty, &AttributePath::root())?;
    let mut out = String::new();
    json_text::write(&j, &mut out);
    Ok(out.into_bytes())
}

fn kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn from_json(j: Json, ty: &Type, path: &AttributePath) -> Result<Value, CodecError> {
    if j == Json::Null {
        return Ok(Value::Null);
    }
    let mismatch = |j: &Json| CodecError::mismatch(path, ty, kind(j));
    match ty {
        Type::Dynamic => {
            let Json::Object(mut m) = j else {
                return Err(mismatch(&j));
            };
            let (Some(tj), Some(vj)) = (m.remove("type"), m.remove("value")) else {
                return Err(CodecError::invalid(
                    path,
                    "dynamic value needs \"type\" and \"value\"",
                ));
            };
            let mut text = String::new();
            json_text::write(&tj, &mut text);
            let inner = Type::from_json_bytes(text.as_bytes())
                .map_err(|e| CodecError::invalid(path, e.to_string()))?;
            from_json(vj, &inner, path)
        }
        Type::String => match j {
            Json::String(s) => Ok(Value::String(s)),
            other => Err(mismatch(&other)),
        },
        Type::Bool => match j {
            Json::Bool(b) => Ok(Value::Bool(b)),
            other => Err(mismatch(&other)),
        },
        Type::Number => match &j {
            Json::Number(t) => Number::parse(t)
                .map(Value::Number)
                .map_err(|e| CodecError::invalid(path, e.to_string())),
            // cty accepts numbers written as strings in JSON.
            Json::String(t) => Number::parse(t)
                .map(Value::Number)
                .map_err(|e| CodecError::invalid(path, e.to_string())),
            other => Err(mismatch(other)),
        },
        Type::List(et) | Type::Set(et) => {
            let Json::Array(items) = j else {
                return Err(mismatch(&j));
            };
            let elems = items
                .into_iter()
                .enumerate()
                .map(|(i, e)| from_json(e, et, &path.push_index(i)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(dedup_set(elems))
            } else {
                Value::List(elems)
            })
        }
        Type::Tuple(ets) => {
            let Json::Array(items) = j else {
                return Err(mismatch(&j));
            };
            if items.len() != ets.len() {
                return Err(CodecError::invalid(path, "wrong number of tuple elements"));
            }
            Ok(Value::Tuple(
                items
                    .into_iter()
                    .zip(ets)
                    .enumerate()
                    .map(|(i, (e, t))| from_json(e, t, &path.push_index(i)))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Type::Map(et) => {
            let Json::Object(m) = j else {
                return Err(mismatch(&j));
            };
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let val = from_json(v, et, &path.push_key(&k))?;
                out.insert(k, val);
            }
            Ok(Value::Map(out))
        }
        Type::Object(attrs) => {
            let Json::Object(m) = j else {
                return Err(mismatch(&j));
            };
            let mut out: BTreeMap<String, Value> =
                attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
            for (k, v) in m {
                let Some(at) = attrs.get(&k) else {
                    return Err(CodecError::UnexpectedAttribute {
                        path: path.to_string(),
                        name: k,
                    });
                };
                let val = from_json(v, at, &path.push_attr(&k))?;
                out.insert(k, val);
            }
            Ok(Value::Object(out))
        }
    }
}

fn to_json(v: &Value, ty: &Type, path: &AttributePath) -> Result<Json, CodecError> {
    let mismatch = || CodecError::mismatch(path, ty, format!("{v:?}"));
    match (v, ty) {
        (Value::Null, _) => Ok(Json::Null),
        (Value::Unknown, _) => Err(CodecError::invalid(
            path,
            "unknown values cannot be written as JSON",
        )),
        (_, Type::Dynamic) => {
            let inner = infer_type(v);
            let tj = json_text::parse(&inner.to_json_bytes())
                .map_err(|e| CodecError::Json(e.to_string()))?;
            Ok(Json::Object(BTreeMap::from([
                ("type".to_string(), tj),
                ("value".to_string(), to_json(v, &inner, path)?),
            ])))
        }
        (Value::String(s), Type::String) => Ok(Json::String(s.clone())),
        (Value::Bool(b), Type::Bool) => Ok(Json::Bool(*b)),
        (Value::Number(n), Type::Number) => Ok(Json::Number(n.as_str().to_string())),
        (Value::List(e), Type::List(et)) | (Value::Set(e), Type::Set(et)) => Ok(Json::Array(
            e.iter()
                .enumerate()
                .map(|(i, x)| to_json(x, et, &path.push_index(i)))
                .collect::<Result<_, _>>()?,
        )),
        (Value::Tuple(e), Type::Tuple(ets)) if e.len() == ets.len() => Ok(Json::Array(
            e.iter()
                .zip(ets)
                .enumerate()
                .map(|(i, (x, t))| to_json(x, t, &path.push_index(i)))
                .collect::<Result<_, _>>()?,
        )),
        (Value::Map(m), Type::Map(et)) => Ok(Json::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), to_json(x, et, &path.push_key(k))?)))
                .collect::<Result<_, CodecError>>()?,
        )),
        (Value::Object(m), Type::Object(attrs)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::UnexpectedAttribute {
                    path: path.to_string(),
                    name: extra.clone(),
                });
            }
            Ok(Json::Object(
                attrs
                    .iter()
                    .map(|(k, t)| {
                        let x = m.get(k).unwrap_or(&Value::Null);
                        Ok((k.clone(), to_json(x, t, &path.push_attr(k))?))
                    })
                    .collect::<Result<_, CodecError>>()?,
            ))
        }
        _ => Err(mismatch()),
    }
}
