//! Prices: on-demand from the Pricing API (GetProducts, one JSON document per product), spot from
//! DescribeSpotPriceHistory (the latest point per pool).

use super::AwsCloud;
use super::sdk_error::from_sdk;
use crate::cloud::error::CloudError;
use aws_sdk_ec2::primitives::DateTime;
use aws_sdk_pricing::types::{Filter, FilterType};
use std::collections::HashMap;
use std::time::SystemTime;

/// Instance type -> on-demand $/h (Linux, shared tenancy).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct OnDemandPrices(HashMap<String, f64>);

impl OnDemandPrices {
    #[cfg(test)]
    pub fn from_map(map: HashMap<String, f64>) -> Self {
        OnDemandPrices(map)
    }

    pub fn get(&self, instance_type: &str) -> Option<f64> {
        self.0.get(instance_type).copied()
    }
}

/// (instance type, zone) -> spot $/h, or the whole API unavailable.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum SpotPrices {
    Known(HashMap<(String, String), f64>),
    Unavailable,
}

/// Linux, shared tenancy, no pre-installed software, capacity actually used: the one product per
/// instance type that a plain node is billed as.
const PRODUCT_FILTERS: [(&str, &str); 5] = [
    ("operatingSystem", "Linux"),
    ("tenancy", "Shared"),
    ("capacitystatus", "Used"),
    ("preInstalledSw", "NA"),
    ("licenseModel", "No License required"),
];

/// (instance type, $/h) from one PriceList entry; None for anything unpriced or malformed.
pub(super) fn parse_product(doc: &str) -> Option<(String, f64)> {
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

impl AwsCloud {
    pub(super) async fn on_demand_prices(&self) -> Result<OnDemandPrices, CloudError> {
        let op = "GetProducts";
        let mut request = self
            .pricing
            .get_products()
            .service_code("AmazonEC2")
            .format_version("aws_v1")
            .max_results(100);
        let region_filter = [("regionCode", self.region.as_str())];
        for (field, value) in region_filter.iter().chain(PRODUCT_FILTERS.iter()) {
            let filter = Filter::builder()
                .r#type(FilterType::TermMatch)
                .field(*field)
                .value(*value)
                .build()
                .map_err(|e| CloudError::invalid_request(format!("pricing filter {field}: {e}")))?;
            request = request.filters(filter);
        }
        let pages: Vec<_> = request
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk(op, e))?;
        let mut prices: HashMap<String, f64> = HashMap::new();
        for doc in pages.iter().flat_map(|p| p.price_list()) {
            if let Some((t, p)) = parse_product(doc) {
                prices
                    .entry(t)
                    .and_modify(|old| *old = old.min(p))
                    .or_insert(p);
            }
        }
        let prices = OnDemandPrices(prices);
        if prices.0.is_empty() {
            return Err(CloudError::aws(
                op,
                None,
                format!("no on-demand price for region {}", self.region),
            ));
        }
        Ok(prices)
    }

    pub(super) async fn spot_prices(&self) -> Result<HashMap<(String, String), f64>, CloudError> {
        let op = "DescribeSpotPriceHistory";
        // StartTime = now asks for the price in force now: one point per pool instead of history.
        let history = self
            .ec2
            .describe_spot_price_history()
            .product_descriptions("Linux/UNIX")
            .start_time(DateTime::from(SystemTime::now()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk(op, e))?;
        let mut latest: HashMap<(String, String), (DateTime, f64)> = HashMap::new();
        for point in history {
            let (Some(t), Some(zone), Some(price)) = (
                point.instance_type(),
                point.availability_zone(),
                point.spot_price(),
            ) else {
                continue;
            };
            let Ok(price) = price.parse::<f64>() else {
                continue;
            };
            let at = point.timestamp().copied().unwrap_or(DateTime::from_secs(0));
            latest
                .entry((t.as_str().to_string(), zone.to_string()))
                .and_modify(|old| {
                    if at > old.0 {
                        *old = (at, price);
                    }
                })
                .or_insert((at, price));
        }
        Ok(latest.into_iter().map(|(k, (_, p))| (k, p)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_list_document_gives_its_type_and_hourly_price() {
        let doc = r#"{"product":{"attributes":{"instanceType":"m5.large"}},
          "terms":{"OnDemand":{"SKU.JRTCKXETXF":{"priceDimensions":{"SKU.JRTCKXETXF.6YS6EN2CT7":
          {"unit":"Hrs","pricePerUnit":{"USD":"0.0960000000"}}}}}}}"#;
        assert_eq!(parse_product(doc), Some(("m5.large".to_string(), 0.096)));
    }

    #[test]
    fn unpriced_or_malformed_documents_are_skipped() {
        let zero = r#"{"product":{"attributes":{"instanceType":"m5.large"}},
          "terms":{"OnDemand":{"a":{"priceDimensions":{"b":{"pricePerUnit":{"USD":"0.0000000000"}}}}}}}"#;
        assert_eq!(parse_product(zero), None);
        assert_eq!(parse_product("not json"), None);
        assert_eq!(parse_product(r#"{"product":{}}"#), None);
    }
}
