//! The audit `q` search grammar (`coderd/searchquery/search.go`, `AuditLogs`).
//!
//! The whole string is lower-cased, split on spaces except inside double quotes; each token
//! is `key:value` with exactly one colon; bare words are joined and mean `resource_type`; a
//! key may appear once; an unknown key is a 400 naming it. Dates are `YYYY-MM-DD`, UTC:
//! `date_from` is that day at 00:00:00, `date_to` that day at 23:59:59 (so the day's final
//! sub-second is *excluded*, a trap the tailer must handle).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// A parsed filter. Every present field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub resource_target: Option<String>,
    pub action: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    /// Inclusive lower bound (`time >= date_from 00:00:00`).
    pub date_from: Option<DateTime<Utc>>,
    /// Inclusive upper bound (`time <= date_to 23:59:59.000000`).
    pub date_to: Option<DateTime<Utc>>,
    pub build_reason: Option<String>,
    pub request_id: Option<String>,
}

/// A 400 "Invalid audit search query." with its validations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub field: String,
    pub detail: String,
}

const KEYS: &[&str] = &[
    "resource_type",
    "resource_id",
    "resource_target",
    "action",
    "username",
    "email",
    "date_from",
    "date_to",
    "build_reason",
    "organization",
    "request_id",
];

pub fn parse(q: &str) -> Result<Filter, QueryError> {
    let mut filter = Filter::default();
    let terms = terms(q, KEYS)?;
    for (key, value) in terms.pairs {
        apply(&mut filter, &key, value)?;
    }
    if !terms.bare.is_empty() {
        if filter.resource_type.is_some() {
            return Err(err(
                "resource_type",
                "Query param \"resource_type\" provided more than once".into(),
            ));
        }
        filter.resource_type = Some(terms.bare.join(" "));
    }
    Ok(filter)
}

/// A search query split as `searchTerms` does, for any of Coder's searches.
pub(crate) struct Terms {
    /// `key:value` terms, in order; each key one of the search's own, and given once.
    pub pairs: Vec<(String, String)>,
    /// Words without a key (each search decides what they mean).
    pub bare: Vec<String>,
}

/// Lower-case `q`, split it into terms outside double quotes, each term at its only colon
/// outside quotes; refuse a key not in `keys` or given twice.
pub(crate) fn terms(q: &str, keys: &[&str]) -> Result<Terms, QueryError> {
    let q = q.to_lowercase();
    let mut out = Terms {
        pairs: Vec::new(),
        bare: Vec::new(),
    };
    for token in split_terms(&q) {
        if token.starts_with(':') || token.ends_with(':') {
            return Err(err(
                "q",
                format!("Query element {token:?} cannot start or end with ':'"),
            ));
        }
        let parts = split_unquoted(&token, ':');
        match parts.as_slice() {
            [word] => out.bare.push(word.trim_matches('"').to_owned()),
            [key, value] => {
                if !keys.contains(&key.as_str()) {
                    return Err(err(key, format!("{key:?} is not a valid query param")));
                }
                if out.pairs.iter().any(|(k, _)| k == key) {
                    return Err(err(
                        key,
                        format!("Query param {key:?} provided more than once"),
                    ));
                }
                out.pairs
                    .push((key.clone(), value.trim_matches('"').to_owned()));
            }
            _ => {
                return Err(err(
                    "q",
                    format!("Query element {token:?} can only contain 1 ':'"),
                ));
            }
        }
    }
    Ok(out)
}

fn apply(filter: &mut Filter, key: &str, value: String) -> Result<(), QueryError> {
    match key {
        "resource_type" => filter.resource_type = Some(value),
        "resource_id" => filter.resource_id = Some(uuid(key, value)?),
        "resource_target" => filter.resource_target = Some(value),
        "action" => filter.action = Some(value),
        "username" => filter.username = Some(value),
        "email" => filter.email = Some(value),
        "date_from" => filter.date_from = Some(day(key, &value)?),
        "date_to" => {
            filter.date_to = Some(day(key, &value)? + TimeDelta::seconds(86_399));
        }
        "build_reason" => filter.build_reason = Some(value),
        "request_id" => filter.request_id = Some(uuid(key, value)?),
        // Organizations are not modelled: every row is in one org, so an org filter is a
        // no-op rather than a source of false test failures.
        _ => {}
    }
    Ok(())
}

pub(crate) fn uuid(key: &str, value: String) -> Result<String, QueryError> {
    uuid::Uuid::parse_str(&value)
        .map(|_| value.clone())
        .map_err(|_| err(key, format!("Query param {key:?} must be a valid uuid")))
}

fn day(key: &str, value: &str) -> Result<DateTime<Utc>, QueryError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
        .ok_or_else(|| {
            err(
                key,
                format!("Query param {key:?} must be a valid date format (2006-01-02): {value:?}"),
            )
        })
}

pub(crate) fn err(field: &str, detail: String) -> QueryError {
    QueryError {
        field: field.to_owned(),
        detail,
    }
}

/// Split `s` at `delimiter` outside double quotes, dropping empty parts (Go's
/// `strings.FieldsFunc` in `splitQueryParameterByDelimiter`): `key:"a:b"` is two parts.
fn split_unquoted(s: &str, delimiter: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == delimiter && !quoted {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Split on spaces, except inside double quotes.
fn split_terms(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dates_are_day_granular_and_date_to_stops_at_23_59_59() {
        let f = parse("date_from:2026-01-02 date_to:2026-01-03").unwrap();
        assert_eq!(f.date_from, Some(t("2026-01-02T00:00:00Z")));
        assert_eq!(f.date_to, Some(t("2026-01-03T23:59:59Z")));
    }

    #[test]
    fn the_query_is_lower_cased_and_bare_words_are_a_resource_type() {
        let f = parse("Action:Login WORKSPACE").unwrap();
        assert_eq!(f.action.as_deref(), Some("login"));
        assert_eq!(f.resource_type.as_deref(), Some("workspace"));
    }

    #[test]
    fn quoted_values_keep_their_spaces_and_colons() {
        // Colons inside quotes do not split, as in Coder; two bare ones do.
        let f = parse(r#"resource_target:"a b:c""#).unwrap();
        assert_eq!(f.resource_target.as_deref(), Some("a b:c"));
        assert_eq!(parse("resource_target:a:b").unwrap_err().field, "q");
        let f = parse(r#"resource_target:"a b""#).unwrap();
        assert_eq!(f.resource_target.as_deref(), Some("a b"));
    }

    #[test]
    fn unknown_and_repeated_keys_are_rejected() {
        assert_eq!(parse("foo:bar").unwrap_err().field, "foo");
        assert_eq!(parse("action:a action:b").unwrap_err().field, "action");
        assert_eq!(parse("date_from:yesterday").unwrap_err().field, "date_from");
    }
}
