//! UTC instants as they appear in interruption events.
//!
//! EventBridge writes the envelope `time` in RFC 3339, while AWS Health writes `startTime`/`endTime`
//! as an RFC 2822 / HTTP date ("Wed, 02 Dec 2026 10:00:00 GMT"). Two small parsers are cheaper than a
//! date-time dependency for a crate that must stay pure and quick to build.

use std::fmt;
use std::time::{Duration, SystemTime};

/// An instant in UTC, with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    seconds: i64,
    nanos: u32,
}

/// Why a date-time string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("empty")]
    Empty,
    #[error("expected {expected} at byte {at}")]
    Syntax { expected: &'static str, at: usize },
    #[error("{component} {value} is out of range")]
    OutOfRange { component: &'static str, value: u32 },
    #[error("unknown month name {0:?}")]
    UnknownMonth(String),
    #[error("unknown day name {0:?}")]
    UnknownWeekday(String),
    #[error("unknown time zone {0:?} (expected GMT, UT, UTC, Z or +hhmm/-hhmm)")]
    UnknownZone(String),
    #[error("unexpected trailing text at byte {at}")]
    Trailing { at: usize },
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Timestamp {
    /// Builds an instant from seconds since the Unix epoch and a sub-second part; `nanos` is clamped
    /// below one second.
    pub fn from_unix(seconds: i64, nanos: u32) -> Self {
        Self {
            seconds,
            nanos: nanos.min(999_999_999),
        }
    }

    pub fn unix_seconds(self) -> i64 {
        self.seconds
    }

    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// The same instant as a [`SystemTime`], for comparison with a clock the caller owns.
    pub fn to_system_time(self) -> SystemTime {
        let whole = Duration::from_secs(self.seconds.unsigned_abs());
        let base = if self.seconds >= 0 {
            SystemTime::UNIX_EPOCH + whole
        } else {
            SystemTime::UNIX_EPOCH - whole
        };
        base + Duration::from_nanos(u64::from(self.nanos))
    }

    /// Accepts either RFC 3339 or RFC 2822 (the two forms AWS uses in these events).
    pub fn parse(input: &str) -> Result<Self, TimeError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(TimeError::Empty);
        }
        // RFC 3339 always starts with a four-digit year; RFC 2822 starts with a day name or a 1-2
        // digit day of month, so the fifth byte tells them apart.
        if trimmed.as_bytes().get(4) == Some(&b'-') {
            Self::parse_rfc3339(trimmed)
        } else {
            Self::parse_rfc2822(trimmed)
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; `t`, `z` and a space separator are accepted too.
    pub fn parse_rfc3339(input: &str) -> Result<Self, TimeError> {
        let mut c = Cursor::new(input);
        let year = c.digits(4, 4, "a four-digit year")?;
        c.byte(b'-', "'-'")?;
        let month = c.digits(2, 2, "a two-digit month")?;
        c.byte(b'-', "'-'")?;
        let day = c.digits(2, 2, "a two-digit day")?;
        if !c.eat_any(b"Tt ") {
            return Err(c.syntax("'T'"));
        }
        let hour = c.digits(2, 2, "a two-digit hour")?;
        c.byte(b':', "':'")?;
        let minute = c.digits(2, 2, "two-digit minutes")?;
        c.byte(b':', "':'")?;
        let second = c.digits(2, 2, "two-digit seconds")?;
        let nanos = if c.eat(b'.') { c.fraction()? } else { 0 };
        let offset = if c.eat_any(b"Zz") {
            0
        } else {
            let sign = match c.peek() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Err(c.syntax("'Z' or a numeric offset")),
            };
            c.pos += 1;
            let oh = c.digits(2, 2, "a two-digit offset hour")?;
            c.byte(b':', "':'")?;
            let om = c.digits(2, 2, "two-digit offset minutes")?;
            sign * offset_seconds(oh, om)?
        };
        c.end()?;
        build(year, month, day, hour, minute, second, nanos, offset)
    }

    /// `[Day, ] D Mon YYYY HH:MM[:SS] zone`, with zone GMT, UT, UTC, Z or ±hhmm.
    pub fn parse_rfc2822(input: &str) -> Result<Self, TimeError> {
        let mut c = Cursor::new(input);
        if c.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            let name = c.word();
            // The day name is redundant with the date; it is checked for spelling only so that a
            // mismatched name never blocks acting on an otherwise valid date.
            if !WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(name)) {
                return Err(TimeError::UnknownWeekday(name.to_owned()));
            }
            c.byte(b',', "','")?;
            c.spaces();
        }
        let day = c.digits(1, 2, "a day of month")?;
        c.require_spaces()?;
        let month_name = c.word();
        let month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(month_name))
            .ok_or_else(|| TimeError::UnknownMonth(month_name.to_owned()))?;
        c.require_spaces()?;
        let year = c.digits(4, 4, "a four-digit year")?;
        c.require_spaces()?;
        let hour = c.digits(2, 2, "a two-digit hour")?;
        c.byte(b':', "':'")?;
        let minute = c.digits(2, 2, "two-digit minutes")?;
        let second = if c.eat(b':') {
            c.digits(2, 2, "two-digit seconds")?
        } else {
            0
        };
        c.require_spaces()?;
        let offset = c.zone()?;
        c.spaces();
        c.end()?;
        // `position` is below 12, so the month number fits.
        let month = month as u32 + 1;
        build(year, month, day, hour, minute, second, 0, offset)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with a fraction only when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.seconds.div_euclid(86_400);
        let secs = self.seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )?;
        if self.nanos != 0 {
            write!(f, ".{:09}", self.nanos)?;
        }
        f.write_str("Z")
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    offset: i64,
) -> Result<Timestamp, TimeError> {
    if !(1..=12).contains(&month) {
        return Err(TimeError::OutOfRange {
            component: "month",
            value: month,
        });
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(TimeError::OutOfRange {
            component: "day",
            value: day,
        });
    }
    if hour > 23 {
        return Err(TimeError::OutOfRange {
            component: "hour",
            value: hour,
        });
    }
    if minute > 59 {
        return Err(TimeError::OutOfRange {
            component: "minute",
            value: minute,
        });
    }
    // 60 is a leap second: it rolls into the next minute rather than failing a real event.
    if second > 60 {
        return Err(TimeError::OutOfRange {
            component: "second",
            value: second,
        });
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
            - offset;
    Ok(Timestamp { seconds, nanos })
}

fn offset_seconds(hours: u32, minutes: u32) -> Result<i64, TimeError> {
    if hours > 23 {
        return Err(TimeError::OutOfRange {
            component: "offset hour",
            value: hours,
        });
    }
    if minutes > 59 {
        return Err(TimeError::OutOfRange {
            component: "offset minute",
            value: minutes,
        });
    }
    Ok(i64::from(hours) * 3600 + i64::from(minutes) * 60)
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A byte cursor over ASCII date text; any non-ASCII byte is simply a syntax error.
struct Cursor<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            text,
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn syntax(&self, expected: &'static str) -> TimeError {
        TimeError::Syntax {
            expected,
            at: self.pos,
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_any(&mut self, set: &[u8]) -> bool {
        match self.peek() {
            Some(b) if set.contains(&b) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn byte(&mut self, b: u8, expected: &'static str) -> Result<(), TimeError> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.syntax(expected))
        }
    }

    fn digits(&mut self, min: usize, max: usize, expected: &'static str) -> Result<u32, TimeError> {
        let start = self.pos;
        let mut value = 0u32;
        while self.pos - start < max {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    value = value * 10 + u32::from(b - b'0');
                    self.pos += 1;
                }
                _ => break,
            }
        }
        if self.pos - start < min {
            self.pos = start;
            return Err(self.syntax(expected));
        }
        Ok(value)
    }

    /// Fractional seconds: at least one digit; digits past nanoseconds are dropped.
    fn fraction(&mut self) -> Result<u32, TimeError> {
        let start = self.pos;
        let mut nanos = 0u32;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            let place = self.pos - start;
            if place < 9 {
                nanos += u32::from(b - b'0') * 10u32.pow(8 - place as u32);
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.syntax("fraction digits"));
        }
        Ok(nanos)
    }

    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn spaces(&mut self) {
        while self.eat(b' ') {}
    }

    fn require_spaces(&mut self) -> Result<(), TimeError> {
        if !self.eat(b' ') {
            return Err(self.syntax("a space"));
        }
        self.spaces();
        Ok(())
    }

    fn zone(&mut self) -> Result<i64, TimeError> {
        let sign = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => {
                let name = self.word();
                return match name.to_ascii_uppercase().as_str() {
                    "GMT" | "UT" | "UTC" | "Z" => Ok(0),
                    _ => Err(TimeError::UnknownZone(name.to_owned())),
                };
            }
        };
        self.pos += 1;
        let hours = self.digits(2, 2, "a two-digit zone hour")?;
        let minutes = self.digits(2, 2, "two-digit zone minutes")?;
        Ok(sign * offset_seconds(hours, minutes)?)
    }

    fn end(&self) -> Result<(), TimeError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(TimeError::Trailing { at: self.pos })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> i64 {
        match Timestamp::parse(s) {
            Ok(t) => t.unix_seconds(),
            Err(e) => panic!("{s:?} rejected: {e}"),
        }
    }

    // Expected values computed independently with GNU `date -u -d <input> +%s`.
    #[test]
    fn rfc2822_health_dates_match_gnu_date() {
        assert_eq!(secs("Wed, 02 Dec 2026 10:00:00 GMT"), 1_796_205_600);
        assert_eq!(secs("Wed, 02 Dec 2026 12:00:00 GMT"), 1_796_212_800);
        assert_eq!(secs("2 Dec 2026 10:00 +0130"), 1_796_200_200);
        assert_eq!(secs("Thu, 29 Feb 2024 23:59:59 UTC"), 1_709_251_199);
        assert_eq!(secs("sat,  1 jan 2000 00:00:00 gmt"), 946_684_800);
    }

    #[test]
    fn rfc3339_event_times_match_gnu_date() {
        assert_eq!(secs("2026-11-25T15:00:00Z"), 1_795_618_800);
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0);
        assert_eq!(secs("1969-12-31T23:59:59Z"), -1);
        assert_eq!(secs("2026-11-25T16:30:00+01:30"), 1_795_618_800);
        assert_eq!(secs("2026-11-25 13:00:00-02:00"), 1_795_618_800);
    }

    #[test]
    fn fractions_keep_nanoseconds_and_drop_extra_digits() {
        let t = Timestamp::parse("2026-11-25T15:00:00.1234567891Z").unwrap();
        assert_eq!(t.subsec_nanos(), 123_456_789);
        assert_eq!(t.to_string(), "2026-11-25T15:00:00.123456789Z");
    }

    #[test]
    fn leap_second_rolls_into_the_next_minute() {
        assert_eq!(secs("2016-12-31T23:59:60Z"), secs("2017-01-01T00:00:00Z"));
    }

    #[test]
    fn impossible_dates_are_rejected_with_the_component() {
        let cases = [
            ("2026-02-29T00:00:00Z", "day", 29),
            ("2026-13-01T00:00:00Z", "month", 13),
            ("2026-01-01T24:00:00Z", "hour", 24),
            ("Wed, 02 Dec 2026 10:61:00 GMT", "minute", 61),
            ("2026-01-01T00:00:00+24:00", "offset hour", 24),
        ];
        for (input, component, value) in cases {
            assert_eq!(
                Timestamp::parse(input),
                Err(TimeError::OutOfRange { component, value }),
                "{input}"
            );
        }
    }

    #[test]
    fn malformed_text_is_rejected_with_a_reason() {
        assert_eq!(Timestamp::parse("  "), Err(TimeError::Empty));
        assert_eq!(
            Timestamp::parse("Wed, 02 Foo 2026 10:00:00 GMT"),
            Err(TimeError::UnknownMonth("Foo".into()))
        );
        assert_eq!(
            Timestamp::parse("Xyz, 02 Dec 2026 10:00:00 GMT"),
            Err(TimeError::UnknownWeekday("Xyz".into()))
        );
        assert_eq!(
            Timestamp::parse("Wed, 02 Dec 2026 10:00:00 PST"),
            Err(TimeError::UnknownZone("PST".into()))
        );
        assert_eq!(
            Timestamp::parse("2026-11-25T15:00:00"),
            Err(TimeError::Syntax {
                expected: "'Z' or a numeric offset",
                at: 19
            })
        );
        assert_eq!(
            Timestamp::parse("2026-11-25T15:00:00Zjunk"),
            Err(TimeError::Trailing { at: 20 })
        );
        assert!(Timestamp::parse("2026-11-25T15:00:00.Z").is_err());
        assert!(Timestamp::parse("tomorrow").is_err());
    }

    #[test]
    fn system_time_agrees_with_unix_seconds_on_both_sides_of_the_epoch() {
        let after = Timestamp::from_unix(90, 5);
        assert_eq!(
            after.to_system_time(),
            SystemTime::UNIX_EPOCH + Duration::new(90, 5)
        );
        let before = Timestamp::from_unix(-90, 5);
        assert_eq!(
            before.to_system_time(),
            SystemTime::UNIX_EPOCH - Duration::from_secs(90) + Duration::from_nanos(5)
        );
    }

    proptest::proptest! {
        // Years 0000..=9999 is the whole domain both parsers can express.
        #[test]
        fn display_then_parse_is_the_identity(
            seconds in -62_167_219_200i64..253_402_300_800,
            nanos in 0u32..1_000_000_000,
        ) {
            let t = Timestamp::from_unix(seconds, nanos);
            proptest::prop_assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
        }

        #[test]
        fn civil_days_round_trip(days in -800_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(days);
            proptest::prop_assert_eq!(days_from_civil(y, m as u32, d as u32), days);
        }

        #[test]
        fn parse_never_panics_on_any_text(s in ".{0,40}") {
            let _ = Timestamp::parse(&s);
        }
    }
}
