//! Kubernetes resource quantities ("100m", "1.5Gi", "2e3") parsed into exact integers.
//!
//! The raw text is kept so that a Provisioner read from the API server serialises back unchanged
//! (the provider compares objects field by field); the parsed value is computed on demand and a
//! malformed quantity surfaces as an error at the place that needs the number.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A resource quantity as written by the user.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Quantity(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("empty quantity")]
    Empty,
    #[error(
        "quantity {0:?} is not a number with an optional suffix (m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or e<exp>)"
    )]
    Malformed(String),
    #[error("quantity {0:?} has an unknown suffix {1:?}")]
    UnknownSuffix(String, String),
    #[error("quantity {0:?} is too large")]
    Overflow(String),
    #[error("quantity {0:?} is negative")]
    Negative(String),
}

impl Quantity {
    pub fn new(text: impl Into<String>) -> Self {
        Quantity(text.into())
    }

    /// Millicores for cpu, or 1/1000 of the base unit in general. Fractions below a milli round up,
    /// as the API server does for `MilliValue`.
    pub fn millis(&self) -> Result<i128, QuantityError> {
        parse_millis(&self.0)
    }

    /// The value in base units (bytes for memory), rounded up.
    pub fn units_ceil(&self) -> Result<i128, QuantityError> {
        let m = self.millis()?;
        Ok(m.div_euclid(1000) + i128::from(m.rem_euclid(1000) != 0))
    }

    /// Millis, rejecting negative quantities (requests and limits cannot be negative).
    pub fn non_negative_millis(&self) -> Result<i128, QuantityError> {
        let m = self.millis()?;
        if m < 0 {
            return Err(QuantityError::Negative(self.0.clone()));
        }
        Ok(m)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Canonical text for a milli value: integral values without suffix, others with `m`.
    pub fn from_millis(millis: i128) -> Self {
        if millis % 1000 == 0 {
            Quantity((millis / 1000).to_string())
        } else {
            Quantity(format!("{millis}m"))
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Quantity {
    fn from(s: &str) -> Self {
        Quantity(s.to_string())
    }
}

// YAML lets users write `cpu: 1000`; the API server accepts numbers there, so we do too.
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(i64),
            Float(f64),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Text(s) => Quantity(s),
            Raw::Int(i) => Quantity(i.to_string()),
            Raw::Float(f) => Quantity(f.to_string()),
        })
    }
}

/// Parses a quantity into thousandths of its base unit.
pub fn parse_millis(text: &str) -> Result<i128, QuantityError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let malformed = || QuantityError::Malformed(text.to_string());
    let overflow = || QuantityError::Overflow(text.to_string());

    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(malformed());
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return Err(overflow());
    }
    let mantissa: i128 = digits.parse().map_err(|_| malformed())?;
    let frac_digits = frac_part.len() as i32;

    // value = mantissa * 10^(pow10 - frac_digits) * 2^pow2, expressed in millis (+3).
    let (pow10, pow2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        other if other.starts_with(['e', 'E']) => {
            let exp: i32 = other[1..].parse().map_err(|_| malformed())?;
            if other.len() < 2 || !(-40..=40).contains(&exp) {
                return Err(if other.len() < 2 {
                    malformed()
                } else {
                    overflow()
                });
            }
            (exp, 0)
        }
        other => {
            return Err(QuantityError::UnknownSuffix(
                text.to_string(),
                other.to_string(),
            ));
        }
    };
    let scaled = mantissa.checked_mul(1i128 << pow2).ok_or_else(overflow)?;
    let exp10 = pow10 + 3 - frac_digits;
    let magnitude = if exp10 >= 0 {
        let factor = 10i128.checked_pow(exp10 as u32).ok_or_else(overflow)?;
        scaled.checked_mul(factor).ok_or_else(overflow)?
    } else {
        let divisor = 10i128.checked_pow((-exp10) as u32).ok_or_else(overflow)?;
        // Round away from zero so "1n" of cpu still counts as a request.
        scaled / divisor + i128::from(scaled % divisor != 0)
    };
    if magnitude > i128::from(i64::MAX) {
        return Err(overflow());
    }
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(s: &str) -> i128 {
        parse_millis(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn cpu_quantities_become_millicores() {
        assert_eq!(millis("100m"), 100);
        assert_eq!(millis("1"), 1000);
        assert_eq!(millis("1.5"), 1500);
        assert_eq!(millis("0.25"), 250);
        assert_eq!(millis("2e3"), 2_000_000);
        assert_eq!(millis("1E-3"), 1);
    }

    #[test]
    fn memory_quantities_become_exact_bytes() {
        let bytes = |s: &str| {
            Quantity::new(s)
                .units_ceil()
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        assert_eq!(bytes("1Gi"), 1 << 30);
        assert_eq!(bytes("1.5Gi"), 3 << 29);
        assert_eq!(bytes("100Mi"), 100 << 20);
        assert_eq!(bytes("128974848"), 128_974_848);
        assert_eq!(bytes("129e6"), 129_000_000);
        assert_eq!(bytes("123M"), 123_000_000);
        assert_eq!(bytes("4k"), 4000);
        assert_eq!(bytes("2Ki"), 2048);
    }

    #[test]
    fn fractions_below_a_milli_round_up() {
        assert_eq!(millis("1n"), 1);
        assert_eq!(millis("1500u"), 2);
    }

    #[test]
    fn bad_quantities_are_rejected_with_the_reason() {
        assert_eq!(parse_millis(""), Err(QuantityError::Empty));
        assert!(matches!(
            parse_millis("abc"),
            Err(QuantityError::Malformed(_))
        ));
        assert!(matches!(
            parse_millis("1.2.3"),
            Err(QuantityError::Malformed(_))
        ));
        assert!(matches!(
            parse_millis("1Gb"),
            Err(QuantityError::UnknownSuffix(_, _))
        ));
        assert!(matches!(
            parse_millis("1e"),
            Err(QuantityError::Malformed(_))
        ));
        assert!(matches!(
            parse_millis("99999999999Ei"),
            Err(QuantityError::Overflow(_))
        ));
        assert!(matches!(
            Quantity::new("-1").non_negative_millis(),
            Err(QuantityError::Negative(_))
        ));
    }

    #[test]
    fn numbers_in_yaml_deserialise_as_quantities() -> Result<(), serde_json::Error> {
        let q: Quantity = serde_json::from_str("1000")?;
        assert_eq!(q.millis(), Ok(1_000_000));
        let q: Quantity = serde_json::from_str("\"500m\"")?;
        assert_eq!(q.as_str(), "500m");
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn milli_values_round_trip_through_their_canonical_text(m in 0i128..1_000_000_000_000i128) {
            proptest::prop_assert_eq!(Quantity::from_millis(m).millis(), Ok(m));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,12}") {
            let _ = parse_millis(&s);
        }
    }
}
