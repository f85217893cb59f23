//! "EC2 Instance Rebalance Recommendation": the instance is at elevated risk of interruption.

use super::error::ParseError;
use super::fields::Fields;
use super::instance_id::InstanceId;
use super::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebalanceRecommendation {
    pub instance_id: InstanceId,
    /// When the recommendation was issued (the envelope `time`).
    pub time: Timestamp,
}

pub(crate) fn parse(event: &Fields<'_>) -> Result<RebalanceRecommendation, ParseError> {
    let detail = event.object("detail")?;
    Ok(RebalanceRecommendation {
        instance_id: detail.instance_id("instance-id")?,
        time: event.time("time")?,
    })
}
