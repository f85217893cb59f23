//! What the controller does about an event, per kind; a setting in the controller's ConfigMap.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::kind::EventKind;

/// The steps always run in this order: launch the replacement, cordon (taint NoSchedule), drain
/// (evict through the Eviction API, PDBs honoured), terminate the instance and remove the node.
/// The replacement comes first so that evicted pods have somewhere to go within the warning window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Count and delete the message; touch nothing.
    Ignore,
    /// Cordon only: no eviction, no termination.
    Cordon,
    /// Cordon, drain, then terminate the instance.
    CordonAndDrain,
    /// Launch a replacement, then cordon; no eviction, no termination.
    ReplaceAndCordon,
    /// Launch a replacement, then cordon, drain and terminate.
    ReplaceAndDrain,
}

/// The setting value was not one of [`Action::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid interruption action {value:?}: expected one of ignore, cordon, cordon-and-drain, replace-and-cordon, replace-and-drain"
)]
pub struct InvalidAction {
    pub value: String,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Ignore,
        Action::Cordon,
        Action::CordonAndDrain,
        Action::ReplaceAndCordon,
        Action::ReplaceAndDrain,
    ];

    /// Canonical setting value, also the `action` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::Cordon => "cordon",
            Self::CordonAndDrain => "cordon-and-drain",
            Self::ReplaceAndCordon => "replace-and-cordon",
            Self::ReplaceAndDrain => "replace-and-drain",
        }
    }

    pub fn launches_replacement(self) -> bool {
        matches!(self, Self::ReplaceAndCordon | Self::ReplaceAndDrain)
    }

    pub fn cordons(self) -> bool {
        !matches!(self, Self::Ignore)
    }

    /// Draining always ends with terminating the instance: a drained node serves nothing.
    pub fn drains_and_terminates(self) -> bool {
        matches!(self, Self::CordonAndDrain | Self::ReplaceAndDrain)
    }
}

/// Case, `-`, `_` and spaces are ignored so `CordonAndDrain`, `cordon_and_drain` and
/// `cordon-and-drain` all name the same action; what a user meant is never in doubt.
fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

impl FromStr for Action {
    type Err = InvalidAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = normalise(s.trim());
        Self::ALL
            .into_iter()
            .find(|a| normalise(a.as_str()) == wanted)
            .ok_or_else(|| InvalidAction {
                value: super::error::excerpt(s),
            })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The action chosen for each kind; starts from [`EventKind::default_action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSettings {
    actions: [Action; 5],
}

impl Default for ActionSettings {
    fn default() -> Self {
        Self {
            actions: EventKind::ALL.map(EventKind::default_action),
        }
    }
}

impl ActionSettings {
    pub fn get(&self, kind: EventKind) -> Action {
        self.actions[Self::index(kind)]
    }

    pub fn set(&mut self, kind: EventKind, action: Action) {
        self.actions[Self::index(kind)] = action;
    }

    fn index(kind: EventKind) -> usize {
        match kind {
            EventKind::SpotInterruption => 0,
            EventKind::RebalanceRecommendation => 1,
            EventKind::ScheduledChange => 2,
            EventKind::InstanceStateChange => 3,
            EventKind::CapacityReservationInterruption => 4,
        }
    }
}

impl EventKind {
    /// What the controller does with this kind unless the settings say otherwise.
    pub fn default_action(self) -> Action {
        match self {
            Self::SpotInterruption | Self::CapacityReservationInterruption => {
                Action::ReplaceAndDrain
            }
            Self::RebalanceRecommendation => Action::ReplaceAndCordon,
            Self::ScheduledChange | Self::InstanceStateChange => Action::CordonAndDrain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_action_parses_to_it() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse(), Ok(action));
        }
        for text in [
            "CordonAndDrain",
            "cordon_and_drain",
            " CORDON-AND-DRAIN ",
            "cordon and drain",
        ] {
            assert_eq!(text.parse(), Ok(Action::CordonAndDrain), "{text:?}");
        }
    }

    #[test]
    fn a_bad_value_lists_the_valid_ones() {
        let err = "drain".parse::<Action>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid interruption action \"drain\": expected one of ignore, cordon, \
             cordon-and-drain, replace-and-cordon, replace-and-drain"
        );
        assert!("".parse::<Action>().is_err());
    }

    #[test]
    fn the_error_lists_exactly_the_canonical_values() {
        let err = InvalidAction { value: "x".into() }.to_string();
        let listed = err.rsplit("expected one of ").next().unwrap_or_default();
        let canonical: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(listed, canonical.join(", "));
    }

    #[test]
    fn steps_follow_replacement_first_order() {
        assert!(!Action::Ignore.cordons());
        assert!(Action::Cordon.cordons() && !Action::Cordon.drains_and_terminates());
        assert!(!Action::CordonAndDrain.launches_replacement());
        assert!(
            Action::ReplaceAndCordon.launches_replacement()
                && !Action::ReplaceAndCordon.drains_and_terminates()
        );
        assert!(
            Action::ReplaceAndDrain.launches_replacement()
                && Action::ReplaceAndDrain.drains_and_terminates()
        );
    }

    #[test]
    fn serde_uses_the_canonical_strings() {
        let json = serde_json::to_string(&Action::ReplaceAndCordon).unwrap();
        assert_eq!(json, "\"replace-and-cordon\"");
        let back: Action = serde_json::from_str("\"ReplaceAndCordon\"").unwrap();
        assert_eq!(back, Action::ReplaceAndCordon);
        let err = serde_json::from_str::<Action>("\"evict\"").unwrap_err();
        assert!(err.to_string().contains("expected one of ignore"), "{err}");
    }

    #[test]
    fn settings_start_from_the_defaults_and_change_one_kind_at_a_time() {
        let mut settings = ActionSettings::default();
        for kind in EventKind::ALL {
            assert_eq!(settings.get(kind), kind.default_action());
        }
        settings.set(EventKind::RebalanceRecommendation, Action::Ignore);
        assert_eq!(
            settings.get(EventKind::RebalanceRecommendation),
            Action::Ignore
        );
        assert_eq!(
            settings.get(EventKind::SpotInterruption),
            Action::ReplaceAndDrain
        );
    }

    #[test]
    fn defaults_follow_issue_7() {
        use Action::*;
        let defaults = EventKind::ALL.map(EventKind::default_action);
        assert_eq!(
            defaults,
            [
                ReplaceAndDrain,
                ReplaceAndCordon,
                CordonAndDrain,
                CordonAndDrain,
                ReplaceAndDrain
            ]
        );
    }
}
