//! cty numbers as exact decimals: Terraform sends integers, floats and arbitrary-precision decimal
//! strings, and a provider must hand back exactly what it was given.

use std::fmt;

/// An exact decimal number kept in canonical text form: optional `-`, integer digits without
/// leading zeros, optional fraction without trailing zeros, optional `e<exp>` for very large or
/// small magnitudes. Equal numbers have equal text, so derived equality is numeric equality.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Number(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a decimal number")]
pub struct NumberError(pub String);

/// Beyond this many digits of exponent shift we keep scientific form rather than padding zeros.
const MAX_PLAIN_SHIFT: i64 = 40;

impl Number {
    /// Parses decimal text in JSON / Go big.Float syntax (`-12.5e3`).
    pub fn parse(text: &str) -> Result<Self, NumberError> {
        let err = || NumberError(text.to_string());
        let (neg, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => {
                let e: i64 = rest[i + 1..].parse().map_err(|_| err())?;
                (&rest[..i], e)
            }
            None => (rest, 0),
        };
        let (int_part, frac_part) = match mantissa.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mantissa, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err());
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        // value = digits * 10^(exp - frac_len)
        let mut digits: String = format!("{int_part}{frac_part}");
        let mut scale = exp.checked_sub(frac_part.len() as i64).ok_or_else(err)?;
        let trimmed = digits.trim_start_matches('0');
        digits = trimmed.to_string();
        if digits.is_empty() {
            return Ok(Number("0".into()));
        }
        while digits.ends_with('0') {
            digits.pop();
            scale += 1;
        }
        Ok(Number(render(neg, &digits, scale)))
    }

    pub fn from_i64(v: i64) -> Self {
        Number(v.to_string())
    }

    pub fn from_u64(v: u64) -> Self {
        Number(v.to_string())
    }

    /// Finite floats only: cty has no NaN or infinity.
    pub fn from_f64(v: f64) -> Option<Self> {
        if !v.is_finite() {
            return None;
        }
        // Rust's float formatting is the shortest text that reads back to the same float.
        Number::parse(&format!("{v:e}")).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    pub fn to_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// The float this number reads as, and whether that float is exactly this number.
    pub fn to_f64(&self) -> (f64, bool) {
        let f: f64 = self.0.parse().unwrap_or(f64::NAN);
        let exact = Number::from_f64(f).is_some_and(|n| n == *self);
        (f, exact)
    }
}

fn render(neg: bool, digits: &str, scale: i64) -> String {
    let sign = if neg { "-" } else { "" };
    let len = digits.len() as i64;
    if scale >= 0 {
        if scale <= MAX_PLAIN_SHIFT {
            return format!("{sign}{digits}{}", "0".repeat(scale as usize));
        }
    } else if -scale < len {
        let point = (len + scale) as usize;
        return format!("{sign}{}.{}", &digits[..point], &digits[point..]);
    } else if -scale - len < MAX_PLAIN_SHIFT {
        return format!("{sign}0.{}{digits}", "0".repeat((-scale - len) as usize));
    }
    // Scientific: d.ddd e(scale + len - 1)
    let e = scale + len - 1;
    if len == 1 {
        format!("{sign}{digits}e{e}")
    } else {
        format!("{sign}{}.{}e{e}", &digits[..1], &digits[1..])
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equal_numbers_have_one_canonical_form() {
        for (a, b) in [
            ("1.50", "1.5"),
            ("0015", "15"),
            ("1e3", "1000"),
            ("-0.0", "0"),
            ("12.5e-1", "1.25"),
            ("1e100", "1e100"),
            ("0.000001", "0.000001"),
        ] {
            assert_eq!(Number::parse(a).unwrap().as_str(), b, "{a}");
        }
    }

    #[test]
    fn big_decimals_keep_every_digit() {
        let s = "123456789012345678901234567890.000000000000000000000000001";
        assert_eq!(Number::parse(s).unwrap().as_str(), s);
    }

    #[test]
    fn rejects_non_numbers() {
        for s in ["", "abc", "1.2.3", "--1", "1e", ".", "NaN"] {
            assert!(Number::parse(s).is_err(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn integers_round_trip(v in any::<i64>()) {
            let n = Number::from_i64(v);
            prop_assert_eq!(n.to_i64(), Some(v));
            prop_assert_eq!(Number::parse(n.as_str()).unwrap(), n);
        }

        #[test]
        fn floats_round_trip(v in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            let n = Number::from_f64(v).unwrap();
            let (back, exact) = n.to_f64();
            prop_assert!(exact);
            prop_assert_eq!(back, if v == 0.0 { 0.0 } else { v });
        }
    }
}
