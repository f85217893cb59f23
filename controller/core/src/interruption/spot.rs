//! "EC2 Spot Instance Interruption Warning": the instance goes away two minutes after `time`.

use super::error::ParseError;
use super::fields::Fields;
use super::instance_id::InstanceId;
use super::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotInterruption {
    pub instance_id: InstanceId,
    pub action: SpotAction,
    /// When the warning was issued (the envelope `time`).
    pub time: Timestamp,
}

/// `detail.instance-action`: what EC2 will do to the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpotAction {
    Terminate,
    Stop,
    Hibernate,
    /// A value EC2 may add later; the instance is still being interrupted, so it is acted on.
    Other(String),
}

impl SpotAction {
    fn from_wire(text: &str) -> Self {
        match text {
            "terminate" => Self::Terminate,
            "stop" => Self::Stop,
            "hibernate" => Self::Hibernate,
            other => Self::Other(super::error::excerpt(other)),
        }
    }
}

pub(crate) fn parse(event: &Fields<'_>) -> Result<SpotInterruption, ParseError> {
    let detail = event.object("detail")?;
    Ok(SpotInterruption {
        instance_id: detail.instance_id("instance-id")?,
        action: SpotAction::from_wire(detail.str("instance-action")?),
        time: event.time("time")?,
    })
}
