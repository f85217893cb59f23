//! `data "karpenter_instance_types"`: instance types of the provider's region that fit a set of
//! filters, cheapest first, with their on-demand and spot prices.

use async_trait::async_trait;

use super::catalog;
use super::selector::{Capacity, Filters, TypeInfo, select};
use crate::plugin::model::Field;
use crate::plugin::schema::NestingMode;
use crate::plugin::validate::{IntBetween, OneOf};
use crate::plugin::{
    Attribute, AttributePath, Block, CallContext, DataSource, Diagnostics, Number, Schema, Value,
};
use crate::resources::aws::context as aws;

pub struct InstanceTypes;

const ARCHITECTURES: [&str; 5] = ["x86_64", "arm64", "i386", "x86_64_mac", "arm64_mac"];

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(n.to_f64().0),
        _ => None,
    }
}

fn float(v: f64) -> Value {
    Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// An exact value or a min/max pair of the same quantity.
fn bounds(config: &Value, exact: &str, min: &str, max: &str) -> (Option<f64>, Option<f64>) {
    match num(config.get(exact)) {
        Some(v) => (Some(v), Some(v)),
        None => (num(config.get(min)), num(config.get(max))),
    }
}

fn string_set(v: &Value) -> std::collections::BTreeSet<String> {
    <Option<std::collections::BTreeSet<String>> as Field>::from_value(v)
        .flatten()
        .unwrap_or_default()
}

fn filters(config: &Value) -> Filters {
    let (min_v, max_v) = bounds(config, "vcpus", "min_vcpus", "max_vcpus");
    let (min_m, max_m) = bounds(config, "memory_gib", "min_memory_gib", "max_memory_gib");
    let (min_g, max_g) = bounds(config, "gpus", "min_gpus", "max_gpus");
    let int = |v: Option<f64>| v.map(|x| x as i64);
    Filters {
        min_vcpus: int(min_v),
        max_vcpus: int(max_v),
        min_memory_gib: min_m,
        max_memory_gib: max_m,
        min_gpus: int(min_g),
        max_gpus: int(max_g),
        cpu_architecture: config.get("cpu_architecture").as_str().map(str::to_string),
        capacity: if config.get("capacity_type").as_str() == Some("spot") {
            Capacity::Spot
        } else {
            Capacity::OnDemand
        },
        exclude_burstable: config.get("exclude_burstable").as_bool().unwrap_or(false),
        max_price_per_hour: num(config.get("max_price_per_hour")),
        current_generation: config.get("current_generation").as_bool(),
        zones: string_set(config.get("zones")),
        families: string_set(config.get("families")),
    }
}

fn type_value(t: &TypeInfo) -> Value {
    let opt = |p: Option<f64>| p.map(float).unwrap_or(Value::Null);
    Value::object([
        ("name", Value::string(&t.name)),
        ("vcpus", Value::int(t.vcpus)),
        ("memory_mib", Value::int(t.memory_mib)),
        ("memory_gib", float(t.memory_gib())),
        (
            "architectures",
            Value::List(t.architectures.iter().map(Value::string).collect()),
        ),
        ("gpus", Value::int(t.gpus)),
        ("burstable", Value::Bool(t.burstable)),
        ("current_generation", Value::Bool(t.current_generation)),
        (
            "zones",
            Value::List(t.zones.iter().map(Value::string).collect()),
        ),
        ("on_demand_price", opt(t.on_demand_price)),
        ("spot_price", opt(t.spot_price())),
    ])
}

#[async_trait]
impl DataSource for InstanceTypes {
    fn type_name(&self) -> &'static str {
        "karpenter_instance_types"
    }

    fn schema(&self) -> Schema {
        let n = |name: &str, d: &str| {
            Attribute::number(name)
                .optional()
                .description(d.to_string())
        };
        let out = |a: Attribute| a.computed();
        Schema::new(
            Block::new()
                .description(
                    "Instance types of the provider's region that fit the filters (in the spirit of ec2-instance-selector), \
                     cheapest first for `capacity_type`. Shapes come from DescribeInstanceTypes and \
                     DescribeInstanceTypeOfferings, spot prices from DescribeSpotPriceHistory (cheapest zone), on-demand \
                     prices from the Price List API (Linux, shared tenancy). Use `names` in a Provisioner's \
                     `node.kubernetes.io/instance-type` requirement.",
                )
                .attribute(n("vcpus", "Exactly this many vCPUs (overrides `min_vcpus`/`max_vcpus`).").validator(IntBetween(1, 1024)))
                .attribute(n("min_vcpus", "At least this many vCPUs.").validator(IntBetween(0, 1024)))
                .attribute(n("max_vcpus", "At most this many vCPUs.").validator(IntBetween(0, 1024)))
                .attribute(n("memory_gib", "Exactly this much memory in GiB (overrides the min/max)."))
                .attribute(n("min_memory_gib", "At least this much memory in GiB."))
                .attribute(n("max_memory_gib", "At most this much memory in GiB."))
                .attribute(n("gpus", "Exactly this many GPUs (overrides the min/max).").validator(IntBetween(0, 64)))
                .attribute(n("min_gpus", "At least this many GPUs.").validator(IntBetween(0, 64)))
                .attribute(n("max_gpus", "At most this many GPUs.").validator(IntBetween(0, 64)))
                .attribute(
                    Attribute::string("cpu_architecture")
                        .optional()
                        .description("Only types supporting this architecture.")
                        .validator(OneOf(ARCHITECTURES.to_vec())),
                )
                .attribute(
                    Attribute::string("capacity_type")
                        .optional()
                        .description("`on-demand` (the default) or `spot`: spot keeps only types sold as spot and orders by spot price.")
                        .validator(OneOf(vec!["spot", "on-demand"])),
                )
                .attribute(Attribute::bool("exclude_burstable").optional().description("Leave out burstable (T-family) types."))
                .attribute(n("max_price_per_hour", "Highest USD hourly price for `capacity_type`; types without a price are left out."))
                .attribute(Attribute::bool("current_generation").optional().description("true: current generation only; false: previous generations only; unset: both."))
                .attribute(Attribute::string_set("zones").optional().description("Only types offered in at least one of these zones; `zones` and spot prices of the result are narrowed to them."))
                .attribute(Attribute::string_set("families").optional().description("Only these families, e.g. `[\"m5\", \"c6g\"]`."))
                .attribute(n("max_results", "Return at most this many types (the cheapest).").validator(IntBetween(1, 10_000)))
                .attribute(out(Attribute::string_list("names").description("Names of the matching types, cheapest first.")))
                .attribute(out(Attribute::nested(
                    "instance_types",
                    NestingMode::List,
                    vec![
                        out(Attribute::string("name").description("Instance type.")),
                        out(Attribute::number("vcpus").description("Default vCPUs.")),
                        out(Attribute::number("memory_mib").description("Memory in MiB.")),
                        out(Attribute::number("memory_gib").description("Memory in GiB.")),
                        out(Attribute::string_list("architectures").description("Supported CPU architectures.")),
                        out(Attribute::number("gpus").description("GPU count.")),
                        out(Attribute::bool("burstable").description("Burstable performance (T family).")),
                        out(Attribute::bool("current_generation").description("Current generation.")),
                        out(Attribute::string_list("zones").description("Zones offering the type.")),
                        out(Attribute::number("on_demand_price").description("On-demand USD per hour (null when unknown).")),
                        out(Attribute::number("spot_price").description("Cheapest current spot USD per hour over `zones` (null when not sold as spot).")),
                    ],
                ).description("The matching types with their shape and prices, cheapest first."))),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        for (exact, min, max) in [
            ("vcpus", "min_vcpus", "max_vcpus"),
            ("memory_gib", "min_memory_gib", "max_memory_gib"),
            ("gpus", "min_gpus", "max_gpus"),
        ] {
            if !config.get(exact).is_null()
                && (!config.get(min).is_null() || !config.get(max).is_null())
            {
                diags.error_at(
                    AttributePath::attr(exact),
                    "Conflicting filters",
                    format!("Set either `{exact}` or `{min}`/`{max}`, not both."),
                );
            }
            if let (Some(lo), Some(hi)) = (num(config.get(min)), num(config.get(max)))
                && lo > hi
            {
                diags.error_at(
                    AttributePath::attr(min),
                    "Empty range",
                    format!("`{min}` ({lo}) is greater than `{max}` ({hi})."),
                );
            }
        }
        for k in [
            "memory_gib",
            "min_memory_gib",
            "max_memory_gib",
            "max_price_per_hour",
        ] {
            if num(config.get(k)).is_some_and(|v| v < 0.0) {
                diags.error_at(
                    AttributePath::attr(k),
                    "Negative value",
                    format!("`{k}` must be zero or more."),
                );
            }
        }
    }

    async fn read(
        &self,
        ctx: &CallContext,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let f = filters(config);
        let mut types: Vec<TypeInfo> = catalog::shapes(&aws, diags).await?;
        types.retain(|t| super::selector::matches_shape(t, &f));
        if !types.is_empty() {
            let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
            let od = catalog::on_demand_prices(&aws, diags).await?;
            let mut spot = catalog::spot_prices(&aws, &names, diags).await?;
            for t in &mut types {
                t.on_demand_price = od.get(&t.name).copied();
                t.spot_prices = spot.remove(&t.name).unwrap_or_default();
            }
        }
        let mut chosen = select(types, &f);
        if let Some(n) = config.get("max_results").as_i64() {
            chosen.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        }
        tracing::debug!(count = chosen.len(), "instance types selected");
        let mut state = config.clone();
        state.set(
            "names",
            Value::List(chosen.iter().map(|t| Value::string(&t.name)).collect()),
        );
        state.set(
            "instance_types",
            Value::List(chosen.iter().map(type_value).collect()),
        );
        Some(state)
    }
}
