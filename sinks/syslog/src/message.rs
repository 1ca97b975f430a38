//! One RFC 5424 message around a record's body:
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [coder@32473 id="..." resource_type="..."] BOM BODY
//! ```
//!
//! BOM is the UTF-8 byte order mark (`EF BB BF`): RFC 5424 §6.4 says a MSG encoded in
//! UTF-8 ("MSG-UTF8 = BOM UTF-8-STRING") starts with it, and every body here is UTF-8
//! JSON or CEF. Some receivers show it as a stray character, so `bom = false` leaves it
//! out (the MSG is then "MSG-ANY", which the RFC allows too).
//!
//! TIMESTAMP is the event's own time (NILVALUE when the entry had none: the receiver then
//! stamps it on arrival), MSGID is Coder's action, and the structured data carries the audit
//! id so a SIEM can deduplicate a resent batch without parsing the body. Header fields are
//! limited to printable US-ASCII of bounded length (§6); anything else becomes `_`.

use chrono::{DateTime, Datelike};
use sink_core::Record;

use crate::config::{Facility, Severity};

/// The default SD-ID of the shipper's structured data element. 32473 is the Private
/// Enterprise Number RFC 5612 reserves for documentation examples: operators with their
/// own PEN set `sd_id` to `name@<their number>` (RFC 5424 §7.2.2 reserves names without
/// `@` for IANA-registered SD-IDs).
pub const SD_ID: &str = "coder@32473";

/// Whether `sd_id` is an SD-ID an operator may use (RFC 5424 §6.3.2 and §7.2.2): 1 to 32
/// printable US-ASCII characters other than `=`, space, `]` and `"`, of the form
/// `name@<private enterprise number>`.
pub fn valid_sd_id(sd_id: &str) -> bool {
    let printable = !sd_id.is_empty()
        && sd_id.len() <= 32
        && sd_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'=' | b']' | b'"'));
    let enterprise = sd_id.split_once('@').is_some_and(|(name, pen)| {
        !name.is_empty()
            && !pen.is_empty()
            && pen.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && !pen.starts_with('.')
            && !pen.ends_with('.')
            && !pen.contains("..")
            && !name.contains('@')
    });
    printable && enterprise
}

/// What every message of a sink shares.
#[derive(Debug, Clone)]
pub struct Header {
    pri: u8,
    hostname: String,
    app_name: String,
    sd_id: String,
    bom: bool,
}

/// The UTF-8 byte order mark that opens a UTF-8 MSG (RFC 5424 §6.4).
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Header {
    pub fn new(facility: Facility, severity: Severity, hostname: &str, app_name: &str) -> Self {
        Header {
            pri: facility.code() * 8 + severity.code(),
            hostname: header_field(hostname, 255),
            app_name: header_field(app_name, 48),
            sd_id: SD_ID.to_owned(),
            bom: true,
        }
    }

    /// Whether MSG starts with the byte order mark (the default).
    pub fn with_bom(mut self, bom: bool) -> Self {
        self.bom = bom;
        self
    }

    /// The SD-ID of the structured data element (checked by [`valid_sd_id`] first).
    pub fn with_sd_id(mut self, sd_id: &str) -> Self {
        if valid_sd_id(sd_id) {
            self.sd_id = sd_id.to_owned();
        }
        self
    }

    /// The message for `record`, cut to `max` bytes when it is longer (the body is cut,
    /// never the header). Returns the message and whether it was cut.
    pub fn message(&self, record: &Record, max: Option<usize>) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(record.payload.len() + 160);
        out.extend_from_slice(format!("<{}>1 ", self.pri).as_bytes());
        // RFC 5424's FULL-DATE has a four-digit year; anything else is no usable time.
        match record
            .time_micros
            .and_then(DateTime::from_timestamp_micros)
            .filter(|t| (0..=9999).contains(&t.year()))
        {
            Some(t) => {
                out.extend_from_slice(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().as_bytes())
            }
            None => out.push(b'-'),
        }
        out.push(b' ');
        out.extend_from_slice(self.hostname.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.app_name.as_bytes());
        out.extend_from_slice(b" - ");
        out.extend_from_slice(header_field(record.action.as_deref().unwrap_or(""), 32).as_bytes());
        out.extend_from_slice(b" [");
        out.extend_from_slice(self.sd_id.as_bytes());
        param(&mut out, "id", &record.id);
        if let Some(rt) = record.resource_type.as_deref() {
            param(&mut out, "resource_type", rt);
        }
        out.extend_from_slice(b"] ");
        if self.bom {
            out.extend_from_slice(BOM);
        }
        let body = &record.payload[..];
        match max {
            Some(max) if out.len() + body.len() > max => {
                let room = max.saturating_sub(out.len());
                out.extend_from_slice(&body[..utf8_floor(body, room)]);
                (out, true)
            }
            _ => {
                out.extend_from_slice(body);
                (out, false)
            }
        }
    }
}

/// A header field: printable US-ASCII (33..=126), at most `max` bytes, NILVALUE when empty.
fn header_field(value: &str, max: usize) -> String {
    let s: String = value
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if s.is_empty() { "-".into() } else { s }
}

/// ` name="value"` with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn param(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push(b'\\');
        }
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    out.push(b'"');
}

/// The largest length `<= at` that does not split a UTF-8 character of `bytes`.
fn utf8_floor(bytes: &[u8], at: usize) -> usize {
    let mut i = at.min(bytes.len());
    while i > 0 && i < bytes.len() && (bytes[i] & 0xC0) == 0x80 {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &str) -> Record {
        Record {
            id: "0b0f0e2c-1111-4c4c-8888-000000000001".into(),
            time_micros: Some(1_764_158_400_123_456),
            resource_type: Some("workspace".into()),
            action: Some("start".into()),
            payload: payload.to_owned().into(),
        }
    }

    fn header() -> Header {
        Header::new(
            Facility::Authpriv,
            Severity::Notice,
            "coder.example.com",
            "coder-audit",
        )
    }

    #[test]
    fn a_message_has_every_rfc5424_part() {
        let (m, cut) = header().message(&record(r#"{"a":1}"#), None);
        assert!(!cut);
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "<85>1 2025-11-26T12:00:00.123456Z coder.example.com coder-audit - start \
             [coder@32473 id=\"0b0f0e2c-1111-4c4c-8888-000000000001\" resource_type=\"workspace\"] \u{feff}{\"a\":1}"
        );
        let (m, _) = header()
            .with_bom(false)
            .message(&record(r#"{"a":1}"#), None);
        assert!(m.ends_with(br#"resource_type="workspace"] {"a":1}"#));
    }

    #[test]
    fn an_operator_s_own_sd_id_is_used_when_it_is_one() {
        let (m, _) = header()
            .with_sd_id("audit@55555")
            .message(&record("x"), None);
        assert!(
            String::from_utf8(m)
                .unwrap()
                .contains(" [audit@55555 id=\"0b0f0e2c-")
        );
        for ok in ["coder@32473", "a@1.2.3", "x-y_z@9"] {
            assert!(valid_sd_id(ok), "{ok}");
        }
        for bad in [
            "",
            "coder",
            "coder@",
            "@32473",
            "co der@1",
            "a=b@1",
            "a]@1",
            "a\"@1",
            "a@b@1",
            "a@x1",
            "a@1..2",
            "averyveryveryverylongname@123456789",
        ] {
            assert!(!valid_sd_id(bad), "{bad}");
        }
    }

    #[test]
    fn structured_data_values_are_escaped() {
        let mut r = record("x");
        r.resource_type = Some(r#"a"b\c]d"#.into());
        let (m, _) = header().message(&r, None);
        let m = String::from_utf8(m).unwrap();
        assert!(m.contains(r#"resource_type="a\"b\\c\]d""#), "{m}");
    }

    #[test]
    fn header_fields_are_printable_ascii_or_nil() {
        let mut r = record("x");
        r.action = Some("log in\nnow".into());
        r.time_micros = None;
        let h = Header::new(Facility::Local0, Severity::Info, "", "app name");
        let (m, _) = h.message(&r, None);
        let m = String::from_utf8(m).unwrap();
        assert!(
            m.starts_with("<134>1 - - app_name - log_in_now [coder@32473"),
            "{m}"
        );
    }

    #[test]
    fn a_time_rfc_5424_cannot_write_is_nil() {
        let mut r = record("x");
        r.time_micros = Some(300_000_000_000_000_000); // year 11476
        let (m, _) = header().message(&r, None);
        assert!(
            String::from_utf8(m)
                .unwrap()
                .starts_with("<85>1 - coder.example.com")
        );
    }

    #[test]
    fn a_long_message_is_cut_in_the_body_on_a_character_boundary() {
        let body = "é".repeat(1000);
        let (m, cut) = header().message(&record(&body), Some(500));
        assert!(cut);
        assert!(m.len() <= 500 && m.len() >= 499);
        assert!(String::from_utf8(m).is_ok());
        let (whole, cut) = header().message(&record(&body), Some(100_000));
        assert!(!cut);
        assert!(whole.ends_with(body.as_bytes()));
    }
}
