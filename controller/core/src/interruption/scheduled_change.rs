//! "AWS Health Event" for EC2 scheduled changes (retirement, maintenance reboots...): drain before
//! `start_time`.

use super::error::{ParseError, excerpt};
use super::fields::Fields;
use super::ignored::IgnoreReason;
use super::instance_id::InstanceId;
use super::timestamp::Timestamp;

/// AWS Health events are acted on only for this service and category.
pub(crate) const HEALTH_SERVICE_EC2: &str = "EC2";
pub(crate) const HEALTH_CATEGORY_SCHEDULED_CHANGE: &str = "scheduledChange";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledChange {
    /// Never empty: an event without an affected instance is ignored.
    pub instance_ids: Vec<InstanceId>,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
    /// e.g. `AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED`.
    pub event_type_code: String,
}

/// The change, or why this health event asks nothing of us.
pub(crate) fn parse(
    event: &Fields<'_>,
) -> Result<Result<ScheduledChange, IgnoreReason>, ParseError> {
    let detail = event.object("detail")?;
    let service = detail.str("service")?;
    if service != HEALTH_SERVICE_EC2 {
        return Ok(Err(IgnoreReason::HealthServiceNotEc2 {
            service: excerpt(service),
        }));
    }
    let category = detail.str("eventTypeCategory")?;
    if category != HEALTH_CATEGORY_SCHEDULED_CHANGE {
        return Ok(Err(IgnoreReason::HealthCategoryNotScheduledChange {
            category: excerpt(category),
        }));
    }
    let event_type_code = excerpt(detail.str("eventTypeCode")?);
    let instance_ids = affected_instances(&detail)?;
    if instance_ids.is_empty() {
        return Ok(Err(IgnoreReason::NoAffectedInstances { event_type_code }));
    }
    Ok(Ok(ScheduledChange {
        instance_ids,
        start_time: detail.time("startTime")?,
        end_time: detail.opt_time("endTime")?,
        event_type_code,
    }))
}

/// EC2 health events can name other resources (dedicated hosts `h-...`, for instance); those are
/// skipped. A value that claims to be an instance (`i-` prefix) but is malformed is an error, since
/// silently skipping it could leave a retiring node in service.
fn affected_instances(detail: &Fields<'_>) -> Result<Vec<InstanceId>, ParseError> {
    let entities = detail.array("affectedEntities")?;
    let mut ids = Vec::new();
    for (index, entity) in entities.iter().enumerate() {
        let entity = Fields::at(
            format!("{}[{index}]", detail.path_of("affectedEntities")),
            entity,
        )?;
        if entity.str("entityValue")?.starts_with("i-") {
            let id = entity.instance_id("entityValue")?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}
