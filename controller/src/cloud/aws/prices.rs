//! Prices: on-demand from the Pricing API (GetProducts, one JSON document per product), spot from
//! DescribeSpotPriceHistory (the latest point per pool).

use super::AwsCloud;
use super::sdk_error::from_sdk;
use crate::cloud::error::CloudError;
use aws_sdk_ec2::primitives::DateTime;
use aws_sdk_pricing::types::{Filter, FilterType};
use karpenter_contract::pricing::{PRODUCT_FILTERS, on_demand_prices};
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
        let prices: HashMap<String, f64> = on_demand_prices(
            pages
                .iter()
                .flat_map(|p| p.price_list())
                .map(String::as_str),
        )
        .into_iter()
        .collect();
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
