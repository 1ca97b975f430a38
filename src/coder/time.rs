//! Reading an entry's time.
//!
//! Every entry's `time` is parsed (cursor, dedupe, windows), and chrono's RFC 3339 parser
//! cost about 940 instructions a stamp, 1.5 % of an ECS backfill (BENCHMARKS.md, "A
//! release build for the hot path"). Coder writes one shape only, Go's `time.Time` in UTC:
//! `2026-12-06T10:00:00.123456Z`, with 0 to 9 digits of fraction. That shape is read
//! here digit by digit; any other (an offset, a leap second, a lowercase `t`, a stray
//! byte) goes to chrono as before, so the two can never disagree on what they accept.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// An RFC 3339 time in UTC, when there is one that parses.
pub(crate) fn parse_time(t: Option<&str>) -> Option<DateTime<Utc>> {
    parse_time_with_offset(t).map(|t| t.with_timezone(&Utc))
}

/// An RFC 3339 time with the offset it was written in, when there is one that parses (the
/// normalizers keep the offset for OCSF's `timezone_offset`). Coder's shape is read by
/// [`go_utc`], the rest as chrono reads it. The facts read every entry's time this
/// way; chrono alone took 130 instructions an event more (BENCHMARKS.md, "Entries built
/// in their box").
pub(crate) fn parse_time_with_offset(t: Option<&str>) -> Option<DateTime<FixedOffset>> {
    let t = t?;
    match go_utc(t.as_bytes()) {
        Some(parsed) => Some(parsed.fixed_offset()),
        None => DateTime::parse_from_rfc3339(t).ok(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, or `None` for anything else (including a valid
/// RFC 3339 time of another shape, which chrono then reads).
fn go_utc(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || b.last() != Some(&b'Z') {
        return None;
    }
    let year = pair(b, 0)? * 100 + pair(b, 2)?;
    let (month, day) = (pair(b, 5)?, pair(b, 8)?);
    let (hour, minute, second) = (pair(b, 11)?, pair(b, 14)?, pair(b, 17)?);
    let fraction = &b[19..b.len() - 1];
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits)? * SCALE[digits.len()]
        }
        _ => return None,
    };
    // A leap second (`:60`) is chrono's to read.
    if second > 59 {
        return None;
    }
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)
        .map(|t| t.and_utc())
}

/// What a fraction of `n` digits is multiplied by to give nanoseconds.
const SCALE: [u32; 10] = [
    1_000_000_000,
    100_000_000,
    10_000_000,
    1_000_000,
    100_000,
    10_000,
    1_000,
    100,
    10,
    1,
];

/// The two decimal digits at `at` as a number. Both are tested at once: a byte that is no
/// digit gives a value over 9 once `'0'` is taken away (wrapping below it).
fn pair(b: &[u8], at: usize) -> Option<u32> {
    let (tens, ones) = (b[at].wrapping_sub(b'0'), b[at + 1].wrapping_sub(b'0'));
    (tens.max(ones) < 10).then(|| u32::from(tens) * 10 + u32::from(ones))
}

/// Decimal digits, all of them, as a number (at most 9: no overflow).
fn number(digits: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u32::from(d);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;
    use proptest::prelude::*;

    /// What chrono alone makes of `t`.
    fn chrono_reads(t: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// `parse_time_with_offset` gives what chrono gives, offset included (`DateTime`'s `==`
    /// compares instants only, so the offsets are compared apart).
    fn agrees_with_offset(t: &str) {
        let ours = parse_time_with_offset(Some(t));
        let chrono = DateTime::parse_from_rfc3339(t).ok();
        assert_eq!(ours, chrono, "{t}");
        assert_eq!(
            ours.map(|t| *t.offset()),
            chrono.map(|t| *t.offset()),
            "{t}"
        );
    }

    #[test]
    fn coders_shape_is_read_here_and_agrees_with_chrono() {
        for t in [
            "2026-12-06T10:00:00Z",
            "2026-12-06T10:00:00.1Z",
            "2026-12-06T10:00:00.123456Z",
            "2026-12-06T10:00:00.123456789Z",
            "2024-02-29T23:59:59.999999999Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.000001Z",
        ] {
            assert!(go_utc(t.as_bytes()).is_some(), "{t}");
            assert_eq!(parse_time(Some(t)), chrono_reads(t), "{t}");
            agrees_with_offset(t);
        }
    }

    #[test]
    fn every_other_shape_goes_to_chrono_which_decides() {
        for t in [
            // Valid RFC 3339 that is not Coder's shape: chrono reads them.
            "2026-12-06T10:00:00+02:00",
            "2026-12-06t10:00:00z",
            "2026-12-06 10:00:00Z",
            "2016-12-31T23:59:60Z",
            // Invalid: both refuse them.
            "2026-02-30T10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2026-12-06T24:00:00Z",
            "2026-12-06T10:60:00Z",
            "2026-12-06T10:00:00.Z",
            "2026-12-06T10:00:00.1234567890Z",
            "2026-12-06T10:00:00",
            "2026-12-06T1a:00:00Z",
            "+026-12-06T10:00:00Z",
            "2026-12-06T10:00:00ZZ",
            "",
            "2026-12-06T10:00:00.€Z",
        ] {
            assert!(go_utc(t.as_bytes()).is_none(), "{t}");
            assert_eq!(parse_time(Some(t)), chrono_reads(t), "{t}");
            agrees_with_offset(t);
        }
        assert_eq!(parse_time(None), None);
        assert_eq!(parse_time_with_offset(None), None);
    }

    proptest! {
        #[test]
        fn any_time_in_any_precision_reads_as_chrono_reads_it(
            secs in -62_000_000_000i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            digits in 0usize..=9,
        ) {
            let Some(t) = DateTime::from_timestamp(secs, nanos) else {
                return Ok(());
            };
            let text = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
            // Cut the fraction to `digits` (none: no dot either).
            let (whole, fraction) = text.split_at(19);
            let fraction = fraction.trim_end_matches('Z');
            let cut = if digits == 0 { String::new() } else { fraction[..=digits].to_owned() };
            let text = format!("{whole}{cut}Z");
            prop_assert_eq!(parse_time(Some(&text)), chrono_reads(&text), "{}", text);
            agrees_with_offset(&text);
        }

        #[test]
        fn any_byte_anywhere_in_a_stamp_reads_as_chrono_reads_it(
            at in 0usize..27,
            byte in any::<u8>(),
        ) {
            let mut text = b"2026-12-06T10:00:00.123456Z".to_vec();
            text[at] = byte;
            let Ok(text) = String::from_utf8(text) else {
                return Ok(());
            };
            prop_assert_eq!(parse_time(Some(&text)), chrono_reads(&text), "{}", text);
            agrees_with_offset(&text);
        }
    }
}
