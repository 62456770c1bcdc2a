//! Kubernetes resource quantities (`500m`, `2Gi`, `1e3`), held as exact milli-units.

/// Errors from parsing a quantity string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string is not a Kubernetes quantity.
    #[error("invalid quantity {0:?}")]
    Invalid(String),
    /// The quantity does not fit in the supported range.
    #[error("quantity {0:?} is out of range")]
    OutOfRange(String),
}

/// Parse a quantity and return its value in milli-units, rounded up (like `MilliValue()`).
pub fn parse_milli(input: &str) -> Result<i128, QuantityError> {
    let s = input.trim();
    let invalid = || QuantityError::Invalid(input.to_string());
    let range = || QuantityError::OutOfRange(input.to_string());
    if s.is_empty() {
        return Err(invalid());
    }
    let (negative, rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(invalid());
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let digits: String = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return Err(range());
    }
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| invalid())?
    };
    // value = mantissa * num / den
    let mut num: i128 = 1;
    let mut den: i128 = 10i128
        .checked_pow(frac_part.len() as u32)
        .ok_or_else(range)?;
    let mut dec_exp: i32 = 0;
    match suffix {
        "" => {}
        "Ki" => num = 1 << 10,
        "Mi" => num = 1 << 20,
        "Gi" => num = 1 << 30,
        "Ti" => num = 1 << 40,
        "Pi" => num = 1 << 50,
        "Ei" => num = 1 << 60,
        "n" => dec_exp = -9,
        "u" => dec_exp = -6,
        "m" => dec_exp = -3,
        "k" => dec_exp = 3,
        "M" => dec_exp = 6,
        "G" => dec_exp = 9,
        "T" => dec_exp = 12,
        "P" => dec_exp = 15,
        "E" => dec_exp = 18,
        other => {
            let exp = other
                .strip_prefix('e')
                .or_else(|| other.strip_prefix('E'))
                .ok_or_else(invalid)?;
            if exp.is_empty() {
                return Err(invalid());
            }
            dec_exp = exp.parse().map_err(|_| invalid())?;
        }
    }
    // milli-units: multiply by 1000
    dec_exp += 3;
    if dec_exp >= 0 {
        num = num
            .checked_mul(10i128.checked_pow(dec_exp as u32).ok_or_else(range)?)
            .ok_or_else(range)?;
    } else {
        den = den
            .checked_mul(10i128.checked_pow((-dec_exp) as u32).ok_or_else(range)?)
            .ok_or_else(range)?;
    }
    let scaled = mantissa.checked_mul(num).ok_or_else(range)?;
    // round up away from zero for positive values, like resource.Quantity
    let mut milli = scaled / den;
    if scaled % den != 0 {
        milli += 1;
    }
    Ok(if negative { -milli } else { milli })
}

/// Parse a quantity from a JSON value (string or number) into milli-units.
pub fn parse_value_milli(value: &serde_json::Value) -> Result<i128, QuantityError> {
    match value {
        serde_json::Value::String(s) => parse_milli(s),
        serde_json::Value::Number(n) => parse_milli(&n.to_string()),
        other => Err(QuantityError::Invalid(other.to_string())),
    }
}

/// `Value()` of a quantity given in milli-units: whole units rounded up.
pub fn milli_to_value(milli: i128) -> i128 {
    if milli >= 0 {
        (milli + 999) / 1000
    } else {
        milli / 1000
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_forms() {
        let cases = [
            ("1", 1000),
            ("500m", 500),
            ("0.5", 500),
            ("2Ki", 2048 * 1000),
            ("1Gi", (1i128 << 30) * 1000),
            ("1k", 1_000_000),
            ("1e3", 1_000_000),
            ("1E3", 1_000_000),
            ("100n", 1),
            ("1.5Gi", 1_610_612_736_000),
            ("110", 110_000),
        ];
        for (input, want) in cases {
            assert_eq!(parse_milli(input).unwrap(), want, "{input}");
        }
        assert_eq!(milli_to_value(1), 1);
        assert_eq!(milli_to_value(2000), 2);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1.2.3", "1Qi", "1e", "."] {
            assert!(parse_milli(bad).is_err(), "{bad}");
        }
    }
}
