//! Compares JSON numbers by their exact decimal value, read from their text.
//!
//! Not through `f64`: that would make `9007199254740993` equal
//! `9007199254740992` and put numbers beyond `f64` out of reach. A number
//! is normalised to a sign, its significant digits and a power of ten, so
//! `1`, `1.0`, `10e-1` and `0.1E1` are one value, and `-0` equals `0`.

use std::cmp::Ordering;

/// A decimal `±0.d₁d₂…dₙ × 10^exponent` with `d₁` and `dₙ` non-zero, or
/// zero (no digits). The digits are `int` then `frac`, minus `skip_leading`
/// leading and `skip_trailing` trailing zeros.
#[derive(Debug, Clone, Copy)]
struct Decimal<'t> {
    negative: bool,
    int: &'t [u8],
    frac: &'t [u8],
    skip_leading: usize,
    skip_trailing: usize,
    exponent: i64,
}

/// Exponents are clamped to this magnitude, far beyond any real number
/// (numbers further out than `10^±(10^15)` compare as equal to each other).
const EXPONENT_LIMIT: i64 = 1_000_000_000_000_000;

impl<'t> Decimal<'t> {
    /// Reads JSON number text (`-?digits(.digits)?([eE][+-]?digits)?`);
    /// `None` when it is not one.
    fn parse(text: &'t str) -> Option<Self> {
        let bytes = text.as_bytes();
        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, bytes),
        };
        let (mantissa, exponent_text) = match rest.iter().position(|&b| b == b'e' || b == b'E') {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
            Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
            None => (mantissa, &[][..]),
        };
        if int.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
            return None;
        }
        let exponent = match exponent_text {
            Some(text) => parse_exponent(text)?,
            None => 0,
        };
        let digits = || int.iter().chain(frac);
        let total = int.len() + frac.len();
        let skip_leading = digits().take_while(|&&d| d == b'0').count();
        let skip_trailing = if skip_leading == total {
            0
        } else {
            digits().rev().take_while(|&&d| d == b'0').count()
        };
        // 0.d₁… × 10^(int digits before d₁ + written exponent).
        let point = i64::try_from(int.len()).ok()? - i64::try_from(skip_leading).ok()?;
        Some(Decimal {
            negative,
            int,
            frac,
            skip_leading,
            skip_trailing,
            exponent: (point + exponent).clamp(-EXPONENT_LIMIT, EXPONENT_LIMIT),
        })
    }

    fn is_zero(&self) -> bool {
        self.skip_leading == self.int.len() + self.frac.len()
    }

    fn significant(&self) -> impl Iterator<Item = u8> + 't {
        let total = self.int.len() + self.frac.len();
        self.int
            .iter()
            .chain(self.frac)
            .copied()
            .take(total - self.skip_trailing)
            .skip(self.skip_leading)
    }

    /// Compares magnitudes of two non-zero decimals.
    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        // A leading digit is non-zero, so the larger exponent is larger.
        self.exponent
            .cmp(&other.exponent)
            .then_with(|| self.significant().cmp(other.significant()))
    }
}

/// A signed decimal exponent, clamped to ±[`EXPONENT_LIMIT`].
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0_i64, |acc, &d| {
        (acc * 10 + i64::from(d - b'0')).min(EXPONENT_LIMIT)
    });
    Some(if negative { -magnitude } else { magnitude })
}

/// Orders two JSON numbers by value; `None` when either text is not a
/// number.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (Decimal::parse(a)?, Decimal::parse(b)?);
    Some(match (a.is_zero(), b.is_zero()) {
        (true, true) => Ordering::Equal,
        (true, false) => sign_of(&b).reverse(),
        (false, true) => sign_of(&a),
        (false, false) => match (a.negative, b.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => a.cmp_magnitude(&b),
            (true, true) => b.cmp_magnitude(&a),
        },
    })
}

/// How a non-zero decimal orders against zero.
fn sign_of(decimal: &Decimal) -> Ordering {
    if decimal.negative {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn equal_values_written_differently() {
        for (a, b) in [
            ("1", "1.0"),
            ("1", "1e0"),
            ("1", "10e-1"),
            ("1", "0.1E1"),
            ("1", "0.1e+1"),
            ("0", "-0"),
            ("0", "0.000e99"),
            ("-2.50", "-25e-1"),
            (
                "123456789012345678901234567890",
                "1.2345678901234567890123456789e29",
            ),
            ("1e400", "10e399"),
        ] {
            assert_eq!(compare(a, b), Some(Equal), "{a} vs {b}");
            assert_eq!(compare(b, a), Some(Equal), "{b} vs {a}");
        }
    }

    #[test]
    fn orders_by_value_exactly() {
        for (a, b) in [
            ("9007199254740993", "9007199254740992"),
            ("2", "1.99999999999999999999"),
            ("0.1", "0.09"),
            ("1e400", "9e399"),
            ("0", "-1e-400"),
            ("1e-400", "0"),
            ("-1", "-2"),
            ("-0.5", "-0.55"),
            ("1", "-1"),
            ("10", "9"),
            ("1.5", "1.25"),
        ] {
            assert_eq!(compare(a, b), Some(Greater), "{a} vs {b}");
            assert_eq!(compare(b, a), Some(Less), "{b} vs {a}");
        }
    }

    #[test]
    fn huge_exponents_are_clamped_not_overflowed() {
        assert_eq!(compare("1e99999999999999999999999", "1e400"), Some(Greater));
        assert_eq!(compare("1e-99999999999999999999999", "0"), Some(Greater));
    }

    #[test]
    fn text_that_is_not_a_number_does_not_compare() {
        for text in [
            "", "-", "a", "1.2.3", "1e", "1e+", ".5", "true", "\"1\"", "1x",
        ] {
            assert_eq!(compare(text, "1"), None, "{text:?}");
            assert_eq!(compare("1", text), None, "{text:?}");
        }
    }
}
