//! Times as the JSON documents carry them: RFC 3339 in UTC with microseconds, Coder's own
//! precision (`2026-12-06T10:00:00.000001Z`).

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

/// `t` in RFC 3339, UTC, microseconds. chrono's formatter goes through `core::fmt`, 3 % of
/// an ECS backfill's instructions for the two stamps of every event (BENCHMARKS.md,
/// "Writing the documents"); this writes the digits itself and leaves to chrono what it
/// does not cover: years outside 0–9999 (a sign and more digits) and a leap second.
pub fn rfc3339_micros(t: DateTime<Utc>) -> Stamp {
    let year = t.year();
    let nanos = t.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return Stamp::Other(t.to_rfc3339_opts(SecondsFormat::Micros, true));
    }
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    digits(&mut text[0..4], year.unsigned_abs());
    digits(&mut text[5..7], t.month());
    digits(&mut text[8..10], t.day());
    digits(&mut text[11..13], t.hour());
    digits(&mut text[14..16], t.minute());
    digits(&mut text[17..19], t.second());
    digits(&mut text[20..26], nanos / 1_000);
    Stamp::Digits(text)
}

/// A time as [`rfc3339_micros`] writes it. The usual shape is kept on the stack: two
/// stamps an event were two allocations, each freed once the event was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamp {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`: ASCII digits and punctuation.
    Digits([u8; 27]),
    /// What chrono wrote: a year outside 0–9999, or a leap second.
    Other(String),
}

impl Stamp {
    pub fn as_str(&self) -> &str {
        match self {
            // Always ASCII (see `rfc3339_micros`), so the check never fails.
            Stamp::Digits(text) => std::str::from_utf8(text).unwrap_or_default(),
            Stamp::Other(text) => text,
        }
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `n` in decimal, right-aligned in `slot` and cut to its width.
fn digits(slot: &mut [u8], mut n: u32) {
    for byte in slot.iter_mut().rev() {
        *byte = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn chrono_s(t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    #[test]
    fn the_edges_read_as_chrono_writes_them() {
        let edges = [
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).single(),
            Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).single(),
            Utc.with_ymd_and_hms(2016, 12, 31, 23, 59, 59)
                .single()
                .and_then(|t| t.with_nanosecond(1_999_999_999)),
            DateTime::from_timestamp(1_765_015_200, 999_999).map(|t| t.with_timezone(&Utc)),
        ];
        for t in edges.into_iter().flatten() {
            assert_eq!(rfc3339_micros(t).as_str(), chrono_s(t));
        }
    }

    proptest! {
        #[test]
        fn any_time_reads_as_chrono_writes_it(
            secs in -100_000_000_000i64..300_000_000_000,
            nanos in 0u32..1_000_000_000,
        ) {
            if let Some(t) = DateTime::from_timestamp(secs, nanos) {
                prop_assert_eq!(rfc3339_micros(t).to_string(), chrono_s(t));
            }
        }
    }
}
