//! How an on-demand price is read from the AWS Price List, the same for the controller's catalog
//! and the provider's `karpenter_instance_types` data source: which endpoint answers for a
//! region, which product a plain node is billed as, and which price of a product counts.

use std::collections::BTreeMap;

/// The Pricing API answers only in a few regions; this is the one nearest to `region`.
pub fn pricing_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "cn-northwest-1"
    } else if region.starts_with("ap-") {
        "ap-south-1"
    } else if region.starts_with("eu-")
        || region.starts_with("me-")
        || region.starts_with("af-")
        || region.starts_with("il-")
    {
        "eu-central-1"
    } else {
        "us-east-1"
    }
}

/// GetProducts term filters besides `regionCode`: Linux, shared tenancy, no pre-installed
/// software, no licence, capacity actually used — the one product a plain node is billed as.
pub const PRODUCT_FILTERS: [(&str, &str); 5] = [
    ("operatingSystem", "Linux"),
    ("tenancy", "Shared"),
    ("capacitystatus", "Used"),
    ("preInstalledSw", "NA"),
    ("licenseModel", "No License required"),
];

/// (instance type, USD per hour) of one Price List document: its lowest positive on-demand
/// price. None for anything unpriced or malformed.
pub fn parse_product(doc: &str) -> Option<(String, f64)> {
    let v: serde_json::Value = serde_json::from_str(doc).ok()?;
    let instance_type = v
        .pointer("/product/attributes/instanceType")?
        .as_str()?
        .to_string();
    let terms = v.pointer("/terms/OnDemand")?.as_object()?;
    let price = terms
        .values()
        .filter_map(|term| term.get("priceDimensions")?.as_object())
        .flat_map(|dims| dims.values())
        .filter_map(|d| {
            d.pointer("/pricePerUnit/USD")?
                .as_str()?
                .parse::<f64>()
                .ok()
        })
        .filter(|p| *p > 0.0)
        .min_by(|a, b| a.total_cmp(b))?;
    Some((instance_type, price))
}

/// Instance type -> USD per hour over a region's Price List documents: where several products
/// of one type pass the filters, the lowest price.
pub fn on_demand_prices<'a>(docs: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, f64> {
    let mut prices = BTreeMap::new();
    for (instance_type, price) in docs.into_iter().filter_map(parse_product) {
        prices
            .entry(instance_type)
            .and_modify(|old: &mut f64| *old = old.min(price))
            .or_insert(price);
    }
    prices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(instance_type: &str, prices: &[&str]) -> String {
        let dims: serde_json::Map<String, serde_json::Value> = prices
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    format!("d{i}"),
                    serde_json::json!({"pricePerUnit": {"USD": p}}),
                )
            })
            .collect();
        serde_json::json!({
            "product": {"attributes": {"instanceType": instance_type}},
            "terms": {"OnDemand": {"t": {"priceDimensions": dims}}}
        })
        .to_string()
    }

    #[test]
    fn the_lowest_positive_price_counts_within_and_across_documents() {
        assert_eq!(
            parse_product(&doc(
                "m5.large",
                &["0.0000000000", "0.1200000000", "0.0960000000"]
            )),
            Some(("m5.large".into(), 0.096))
        );
        assert_eq!(parse_product(&doc("m5.large", &["0.0"])), None);
        assert_eq!(parse_product("{}"), None);
        assert_eq!(parse_product(r#"{"product":{}}"#), None);
        let a = doc("m5.large", &["0.1"]);
        let b = doc("m5.large", &["0.09"]);
        let prices = on_demand_prices([a.as_str(), b.as_str(), "not json"]);
        assert_eq!(prices, BTreeMap::from([("m5.large".to_string(), 0.09)]));
    }

    #[test]
    fn each_region_asks_the_nearest_pricing_endpoint() {
        assert_eq!(pricing_region("ap-southeast-1"), "ap-south-1");
        assert_eq!(pricing_region("eu-west-1"), "eu-central-1");
        assert_eq!(pricing_region("us-west-2"), "us-east-1");
        assert_eq!(pricing_region("cn-north-1"), "cn-northwest-1");
    }
}
