//! cty over msgpack, the encoding of every DynamicValue Terraform sends.

use std::collections::BTreeMap;

use rmpv::Value as Mp;

use super::{CodecError, dedup_set, infer_type};
use crate::plugin::value::{AttributePath, Number, Type, Value};

/// cty's marker for an unknown value: fixext1, type 0, payload 0.
const UNKNOWN_EXT: i8 = 0;

pub fn decode_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let mut rd = bytes;
    let mp = rmpv::decode::read_value(&mut rd).map_err(|e| CodecError::Msgpack(e.to_string()))?;
    from_mp(mp, ty, &AttributePath::root())
}

pub fn encode_msgpack(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mp = to_mp(v, ty, &AttributePath::root())?;
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &mp).map_err(|e| CodecError::Msgpack(e.to_string()))?;
    Ok(out)
}

fn kind(mp: &Mp) -> &'static str {
    match mp {
        Mp::Nil => "nil",
        Mp::Boolean(_) => "bool",
        Mp::Integer(_) => "integer",
        Mp::F32(_) | Mp::F64(_) => "float",
        Mp::String(_) => "string",
        Mp::Binary(_) => "binary",
        Mp::Array(_) => "array",
        Mp::Map(_) => "map",
        Mp::Ext(..) => "extension",
    }
}

fn from_mp(mp: Mp, ty: &Type, path: &AttributePath) -> Result<Value, CodecError> {
    match mp {
        Mp::Nil => return Ok(Value::Null),
        // Any extension is an unknown: type 0 is the plain marker, and Terraform 1.11 also sends
        // refined unknowns (type 12) whose refinements we do not need.
        Mp::Ext(..) => return Ok(Value::Unknown),
        _ => {}
    }
    let mismatch = |mp: &Mp| CodecError::mismatch(path, ty, kind(mp));
    match ty {
        Type::Dynamic => {
            let Mp::Array(mut pair) = mp else {
                return Err(mismatch(&mp));
            };
            if pair.len() != 2 {
                return Err(CodecError::invalid(
                    path,
                    "dynamic value must be [type, value]",
                ));
            }
            let val = pair.pop().unwrap_or(Mp::Nil);
            let tj = pair.pop().unwrap_or(Mp::Nil);
            let tbytes: Vec<u8> = match tj {
                Mp::Binary(b) => b,
                Mp::String(s) => s.into_bytes(),
                other => return Err(mismatch(&other)),
            };
            let inner = Type::from_json_bytes(&tbytes)
                .map_err(|e| CodecError::invalid(path, e.to_string()))?;
            from_mp(val, &inner, path)
        }
        Type::String => match mp {
            Mp::String(s) => s
                .into_str()
                .map(Value::String)
                .ok_or_else(|| CodecError::invalid(path, "string is not UTF-8")),
            other => Err(mismatch(&other)),
        },
        Type::Bool => match mp {
            Mp::Boolean(b) => Ok(Value::Bool(b)),
            other => Err(mismatch(&other)),
        },
        Type::Number => {
            let n = match &mp {
                Mp::Integer(i) => match (i.as_i64(), i.as_u64()) {
                    (Some(v), _) => Some(Number::from_i64(v)),
                    (None, Some(v)) => Some(Number::from_u64(v)),
                    _ => None,
                },
                Mp::F64(f) => Number::from_f64(*f),
                Mp::F32(f) => Number::from_f64(f64::from(*f)),
                Mp::String(s) => s.as_str().and_then(|s| Number::parse(s).ok()),
                _ => None,
            };
            n.map(Value::Number).ok_or_else(|| mismatch(&mp))
        }
        Type::List(et) | Type::Set(et) => {
            let Mp::Array(items) = mp else {
                return Err(mismatch(&mp));
            };
            let elems = items
                .into_iter()
                .enumerate()
                .map(|(i, e)| from_mp(e, et, &path.push_index(i)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(dedup_set(elems))
            } else {
                Value::List(elems)
            })
        }
        Type::Tuple(ets) => {
            let Mp::Array(items) = mp else {
                return Err(mismatch(&mp));
            };
            if items.len() != ets.len() {
                return Err(CodecError::invalid(
                    path,
                    format!("tuple needs {} elements, found {}", ets.len(), items.len()),
                ));
            }
            let elems = items
                .into_iter()
                .zip(ets)
                .enumerate()
                .map(|(i, (e, t))| from_mp(e, t, &path.push_index(i)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Tuple(elems))
        }
        Type::Map(et) => {
            let Mp::Map(entries) = mp else {
                return Err(mismatch(&mp));
            };
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let key = mp_key(k, path)?;
                let val = from_mp(v, et, &path.push_key(&key))?;
                out.insert(key, val);
            }
            Ok(Value::Map(out))
        }
        Type::Object(attrs) => {
            let Mp::Map(entries) = mp else {
                return Err(mismatch(&mp));
            };
            let mut out: BTreeMap<String, Value> =
                attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
            for (k, v) in entries {
                let key = mp_key(k, path)?;
                let Some(at) = attrs.get(&key) else {
                    return Err(CodecError::UnexpectedAttribute {
                        path: path.to_string(),
                        name: key,
                    });
                };
                let val = from_mp(v, at, &path.push_attr(&key))?;
                out.insert(key, val);
            }
            Ok(Value::Object(out))
        }
    }
}

fn mp_key(k: Mp, path: &AttributePath) -> Result<String, CodecError> {
    match k {
        Mp::String(s) => s
            .into_str()
            .ok_or_else(|| CodecError::invalid(path, "key is not UTF-8")),
        other => Err(CodecError::invalid(
            path,
            format!("key is {}", kind(&other)),
        )),
    }
}

fn to_mp(v: &Value, ty: &Type, path: &AttributePath) -> Result<Mp, CodecError> {
    let mismatch = || CodecError::mismatch(path, ty, format!("{v:?}"));
    match (v, ty) {
        (Value::Null, _) => Ok(Mp::Nil),
        (Value::Unknown, _) => Ok(Mp::Ext(UNKNOWN_EXT, vec![0])),
        (_, Type::Dynamic) => {
            let inner = infer_type(v);
            Ok(Mp::Array(vec![
                Mp::Binary(inner.to_json_bytes()),
                to_mp(v, &inner, path)?,
            ]))
        }
        (Value::String(s), Type::String) => Ok(Mp::String(s.as_str().into())),
        (Value::Bool(b), Type::Bool) => Ok(Mp::Boolean(*b)),
        (Value::Number(n), Type::Number) => Ok(number_to_mp(n)),
        (Value::List(elems), Type::List(et)) | (Value::Set(elems), Type::Set(et)) => Ok(Mp::Array(
            elems
                .iter()
                .enumerate()
                .map(|(i, e)| to_mp(e, et, &path.push_index(i)))
                .collect::<Result<_, _>>()?,
        )),
        (Value::Tuple(elems), Type::Tuple(ets)) if elems.len() == ets.len() => Ok(Mp::Array(
            elems
                .iter()
                .zip(ets)
                .enumerate()
                .map(|(i, (e, t))| to_mp(e, t, &path.push_index(i)))
                .collect::<Result<_, _>>()?,
        )),
        (Value::Map(m), Type::Map(et)) => Ok(Mp::Map(
            m.iter()
                .map(|(k, e)| {
                    Ok((
                        Mp::String(k.as_str().into()),
                        to_mp(e, et, &path.push_key(k))?,
                    ))
                })
                .collect::<Result<_, CodecError>>()?,
        )),
        (Value::Object(m), Type::Object(attrs)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::UnexpectedAttribute {
                    path: path.to_string(),
                    name: extra.clone(),
                });
            }
            // Exactly one entry per attribute of the type: Terraform rejects objects with
            // missing attributes, so absent ones are written as null.
            Ok(Mp::Map(
                attrs
                    .iter()
                    .map(|(k, t)| {
                        let e = m.get(k).unwrap_or(&Value::Null);
                        Ok((
                            Mp::String(k.as_str().into()),
                            to_mp(e, t, &path.push_attr(k))?,
                        ))
                    })
                    .collect::<Result<_, CodecError>>()?,
            ))
        }
        _ => Err(mismatch()),
    }
}

/// Integers as msgpack integers, exact floats as float64, anything else as decimal text: the
/// same choice cty makes, so nothing is rounded on the way back to Terraform.
fn number_to_mp(n: &Number) -> Mp {
    if let Some(i) = n.to_i64() {
        return Mp::from(i);
    }
    if let Some(u) = n.to_u64() {
        return Mp::from(u);
    }
    match n.to_f64() {
        (f, true) => Mp::F64(f),
        _ => Mp::String(n.as_str().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refined_unknown_extension_decodes_as_unknown() {
        // ext 12 with a refinement payload, as Terraform 1.11 sends for a known-not-null string.
        let mut buf = Vec::new();
        rmpv::encode::write_value(&mut buf, &Mp::Ext(12, vec![0x81, 0x01, 0xc3])).unwrap();
        assert_eq!(decode_msgpack(&buf, &Type::String).unwrap(), Value::Unknown);
    }

    #[test]
    fn unknown_encodes_as_cty_marker() {
        assert_eq!(
            encode_msgpack(&Value::Unknown, &Type::String).unwrap(),
            vec![0xd4, 0, 0]
        );
    }

    #[test]
    fn objects_carry_every_attribute_of_the_type() {
        let ty = Type::object([("a", Type::String), ("b", Type::Number)]);
        let bytes = encode_msgpack(&Value::object([("a", Value::string("x"))]), &ty).unwrap();
        let back = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
        assert_eq!(back.as_map().map(Vec::len), Some(2));
    }

    #[test]
    fn unexpected_attribute_is_an_error() {
        let ty = Type::object([("a", Type::String)]);
        let v = Value::object([("zzz", Value::string("x"))]);
        assert!(encode_msgpack(&v, &ty).is_err());
    }

    #[test]
    fn decimal_string_numbers_keep_precision() {
        let mut buf = Vec::new();
        let text = "3.14159265358979323846264338327950288";
        rmpv::encode::write_value(&mut buf, &Mp::String(text.into())).unwrap();
        let v = decode_msgpack(&buf, &Type::Number).unwrap();
        assert_eq!(v, Value::Number(Number::parse(text).unwrap()));
        assert_eq!(encode_msgpack(&v, &Type::Number).unwrap(), buf);
    }
}
