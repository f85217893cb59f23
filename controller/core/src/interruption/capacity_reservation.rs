//! "EC2 Capacity Reservation Instance Interruption Warning": an interruptible capacity reservation
//! is being reclaimed and the instance is terminated about two minutes later, like a spot instance.

use super::error::ParseError;
use super::fields::Fields;
use super::instance_id::InstanceId;
use super::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityReservationInterruption {
    pub instance_id: InstanceId,
    /// When the warning was issued (the envelope `time`).
    pub time: Timestamp,
    /// `detail.instance-termination-time`, when EC2 states it.
    pub termination_time: Option<Timestamp>,
}

pub(crate) fn parse(event: &Fields<'_>) -> Result<CapacityReservationInterruption, ParseError> {
    let detail = event.object("detail")?;
    Ok(CapacityReservationInterruption {
        instance_id: detail.instance_id("instance-id")?,
        time: event.time("time")?,
        termination_time: detail.opt_time("instance-termination-time")?,
    })
}
