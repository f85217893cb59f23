//! The `timeouts {}` block: which operations a resource lets the user bound, their defaults,
//! validation at plan time and the bound an operation runs under.

use std::time::Duration;

use crate::plugin::{
    Attribute, AttributePath, Block, BlockNesting, Diagnostics, NestedBlock, Value,
};

/// The operations of a resource the user may bound, each with its default.
pub type Timeouts = &'static [(&'static str, Duration)];

/// `timeouts { create = "..", ... }` with one optional attribute per operation.
pub fn block(timeouts: Timeouts) -> NestedBlock {
    let mut b = Block::new().description("How long operations may take.");
    for (op, default) in timeouts {
        b = b.attribute(Attribute::string(*op).optional().description(format!(
            "How long `{op}` may wait, e.g. `5m` (default `{}`).",
            display(*default)
        )));
    }
    NestedBlock::new("timeouts", BlockNesting::Single, b)
}

/// Reports unparsable durations at their path.
pub fn validate(config: &Value, timeouts: Timeouts, diags: &mut Diagnostics) {
    for (op, _) in timeouts {
        if let Some(t) = config.get("timeouts").get(op).as_str()
            && parse_duration(t).is_none()
        {
            diags.error_at(
                AttributePath::attr("timeouts").push_attr(*op),
                "Invalid duration",
                format!("{t:?} is not a duration; write e.g. `90s`, `2m` or `1h`."),
            );
        }
    }
}

/// The bound of `op` in `v` (a plan or state): the user's, else the operation's default, else
/// the first listed default for operations the block does not name.
pub fn of(v: &Value, timeouts: Timeouts, op: &str) -> Duration {
    let default = timeouts
        .iter()
        .find(|(o, _)| *o == op)
        .or(timeouts.first())
        .map_or(DEFAULT, |(_, d)| *d);
    v.get("timeouts")
        .get(op)
        .as_str()
        .and_then(parse_duration)
        .unwrap_or(default)
}

/// For resources without a `timeouts {}` block.
const DEFAULT: Duration = Duration::from_secs(120);

fn display(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (h, 0, 0) if h > 0 => format!("{h}h"),
        (0, m, 0) if m > 0 => format!("{m}m"),
        _ => format!("{s}s"),
    }
}

/// Parses a Go-style duration such as `90s`, `2m`, `1h30m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
    }
    if !num.is_empty() || s.is_empty() {
        return None;
    }
    Some(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = &[
        ("create", Duration::from_secs(120)),
        ("delete", Duration::from_secs(900)),
    ];

    #[test]
    fn durations_parse_like_terraform_timeouts() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("3d"), None);
    }

    #[test]
    fn an_operation_runs_under_the_users_bound_else_its_default() {
        let v = Value::object([(
            "timeouts",
            Value::object([("create", Value::string("30s")), ("delete", Value::Null)]),
        )]);
        assert_eq!(of(&v, T, "create"), Duration::from_secs(30));
        assert_eq!(of(&v, T, "delete"), Duration::from_secs(900));
        assert_eq!(of(&v, T, "update"), Duration::from_secs(120));
        assert_eq!(display(Duration::from_secs(900)), "15m");
        assert_eq!(display(Duration::from_secs(1800)), "30m");
    }
}
