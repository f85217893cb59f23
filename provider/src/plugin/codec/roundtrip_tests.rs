//! Property tests: every value of every cty type survives msgpack and JSON unchanged.

use proptest::prelude::*;
use std::collections::BTreeMap;

use super::*;
use crate::plugin::value::Number;

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::String),
        Just(Type::Number),
        Just(Type::Bool),
        Just(Type::Dynamic),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4).prop_map(Type::Object),
            prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from_i64),
        any::<u64>().prop_map(Number::from_u64),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_filter_map("finite", Number::from_f64),
        // Decimals no float can hold.
        ("-?[1-9][0-9]{20,40}\\.[0-9]{0,30}[1-9]")
            .prop_filter_map("decimal", |s| Number::parse(&s).ok()),
    ]
}

/// A value of type `ty`; `unknowns` says whether unknown values may appear (JSON has none).
fn arb_value(ty: Type, unknowns: bool) -> BoxedStrategy<Value> {
    let known: BoxedStrategy<Value> = match ty {
        Type::String => ".{0,8}".prop_map(Value::String).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Dynamic => arb_type()
            .prop_filter("concrete", |t| *t != Type::Dynamic)
            .prop_flat_map(move |t| arb_value(t, unknowns))
            .boxed(),
        Type::List(et) => prop::collection::vec(arb_value(*et, unknowns), 0..4)
            .prop_map(Value::List)
            .boxed(),
        // Unknown set elements are not comparable, so sets here hold known elements only.
        Type::Set(et) => prop::collection::vec(arb_value(*et, false), 0..4)
            .prop_map(|v| Value::Set(dedup_set(v)))
            .boxed(),
        Type::Map(et) => prop::collection::btree_map("[a-z]{0,4}", arb_value(*et, unknowns), 0..4)
            .prop_map(Value::Map)
            .boxed(),
        Type::Object(attrs) => {
            let parts: Vec<_> = attrs
                .into_iter()
                .map(|(k, t)| arb_value(t, unknowns).prop_map(move |v| (k.clone(), v)))
                .collect();
            parts
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<BTreeMap<_, _>>()))
                .boxed()
        }
        Type::Tuple(ets) => ets
            .into_iter()
            .map(|t| arb_value(t, unknowns))
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
    };
    if unknowns {
        prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 6 => known].boxed()
    } else {
        prop_oneof![1 => Just(Value::Null), 6 => known].boxed()
    }
}

fn typed_value(unknowns: bool) -> impl Strategy<Value = (Type, Value)> {
    arb_type()
        .prop_flat_map(move |t| arb_value(t.clone(), unknowns).prop_map(move |v| (t.clone(), v)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_round_trips_every_type((ty, v) in typed_value(true)) {
        let bytes = encode_msgpack(&v, &ty).unwrap();
        prop_assert_eq!(decode_msgpack(&bytes, &ty).unwrap(), v);
    }

    #[test]
    fn json_round_trips_every_known_value((ty, v) in typed_value(false)) {
        let bytes = encode_json(&v, &ty).unwrap();
        prop_assert_eq!(decode_json(&bytes, &ty).unwrap(), v);
    }

    #[test]
    fn msgpack_and_json_agree((ty, v) in typed_value(false)) {
        let via_json = decode_json(&encode_json(&v, &ty).unwrap(), &ty).unwrap();
        let via_mp = decode_msgpack(&encode_msgpack(&via_json, &ty).unwrap(), &ty).unwrap();
        prop_assert_eq!(via_mp, v);
    }
}

#[test]
fn json_dynamic_uses_type_and_value() {
    let v = Value::List(vec![Value::string("a")]);
    let bytes = encode_json(&v, &Type::Dynamic).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"type":["list","string"],"value":["a"]}"#
    );
}

#[test]
fn json_refuses_unknowns() {
    assert!(encode_json(&Value::Unknown, &Type::String).is_err());
}
