//! "EC2 Instance State-change Notification": acted on only when the instance is going down.

use super::error::{ParseError, excerpt};
use super::fields::Fields;
use super::ignored::IgnoreReason;
use super::instance_id::InstanceId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub instance_id: InstanceId,
    pub state: InstanceState,
}

/// The states that mean the node is going away; the EventBridge rule selects only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceState {
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    pub const ALL: [InstanceState; 4] = [
        InstanceState::Stopping,
        InstanceState::Stopped,
        InstanceState::ShuttingDown,
        InstanceState::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
        }
    }
}

/// A state we do not act on (pending, running, or one EC2 adds later) is ignored before the
/// instance id is even read: the rule should never have delivered it.
pub(crate) fn parse(event: &Fields<'_>) -> Result<Result<StateChange, IgnoreReason>, ParseError> {
    let detail = event.object("detail")?;
    let state = detail.str("state")?;
    let Some(state) = InstanceState::ALL.into_iter().find(|s| s.as_str() == state) else {
        return Ok(Err(IgnoreReason::StateNotActionable {
            state: excerpt(state),
        }));
    };
    Ok(Ok(StateChange {
        instance_id: detail.instance_id("instance-id")?,
        state,
    }))
}
