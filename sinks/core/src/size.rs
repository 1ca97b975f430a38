//! Byte sizes as operators write them: `10MiB`, `512KB`, `65507`.

use serde::{Deserialize, Deserializer};

/// `10MiB`, `1GB`, `4096`: binary (`KiB`, `MiB`, `GiB`) or decimal (`KB`, `MB`, `GB`)
/// units, or plain bytes; `None` for anything else.
pub fn parse_byte_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// A byte size: a number, or a string with a unit (`deserialize_with`).
pub fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Bytes(n) => Ok(n),
        Size::Text(s) => parse_byte_size(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a size like 10MiB, 512KiB or 1048576, got {s:?}"
            ))
        }),
    }
}

/// An optional byte size (`deserialize_with`, with `#[serde(default)]`).
pub fn opt_byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    byte_size(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("10MiB"), Some(10 << 20));
        assert_eq!(parse_byte_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_byte_size("1GB"), Some(1_000_000_000));
        assert_eq!(parse_byte_size("42"), Some(42));
        assert_eq!(parse_byte_size("ten"), None);
        assert_eq!(parse_byte_size("5XB"), None);
    }
}
