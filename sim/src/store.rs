//! The audit table: rows kept in `time` order, queried the way Coder's SQL does.
//!
//! Rows are stored oldest first so that live inserts (nearly always the newest) append in
//! O(1); a query walks them backwards to produce `ORDER BY time DESC`. Rows that share a
//! `time` have no defined order in Postgres, so every query hands the tie groups it touches
//! back in a fresh random order: a tailer that pages across a tie without care loses rows
//! here exactly as it would against Coder.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::seq::SliceRandom;

use crate::query::Filter;

/// One stored audit entry: the JSON served for it, plus the columns the filters read.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub time: DateTime<Utc>,
    /// The entry exactly as served (already HTML-escaped like Coder's encoder).
    pub json: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_target: String,
    pub username: String,
    pub email: String,
    pub build_reason: String,
    pub request_id: String,
}

impl Row {
    /// Build a row from an entry object, reading the filter columns out of it.
    pub fn from_entry(entry: &serde_json::Value) -> Option<Self> {
        let s = |v: Option<&serde_json::Value>| {
            v.and_then(|v| v.as_str()).unwrap_or_default().to_owned()
        };
        let time = entry.get("time")?.as_str()?;
        let time = DateTime::parse_from_rfc3339(time).ok()?.with_timezone(&Utc);
        let user = entry.get("user");
        Some(Row {
            id: s(entry.get("id")),
            time,
            json: html_escape(&crate::go_json::audit_entry(entry)),
            action: s(entry.get("action")),
            resource_type: s(entry.get("resource_type")),
            resource_id: s(entry.get("resource_id")),
            resource_target: s(entry.get("resource_target")),
            username: s(user.and_then(|u| u.get("username"))),
            email: s(user.and_then(|u| u.get("email"))),
            build_reason: s(entry
                .get("additional_fields")
                .and_then(|a| a.get("build_reason"))),
            request_id: s(entry.get("request_id")),
        })
    }

    fn matches(&self, f: &Filter) -> bool {
        let eq = |want: &Option<String>, have: &str| {
            want.as_ref().is_none_or(|w| w.eq_ignore_ascii_case(have))
        };
        // `resource_target` is compared after lower-casing the *query* only, so a
        // mixed-case target can never match: Coder's behaviour, kept on purpose.
        let target_ok = f
            .resource_target
            .as_ref()
            .is_none_or(|w| *w == self.resource_target);
        eq(&f.resource_type, &self.resource_type)
            && eq(&f.resource_id, &self.resource_id)
            && target_ok
            && eq(&f.action, &self.action)
            && eq(&f.username, &self.username)
            && eq(&f.email, &self.email)
            && eq(&f.build_reason, &self.build_reason)
            && eq(&f.request_id, &self.request_id)
    }
}

/// Go's `json.Encoder` with `SetEscapeHTML(true)`: `<`, `>` and `&` become `\u003c`,
/// `\u003e`, `\u0026`. Outside strings JSON has none of these, so a plain replace is exact.
pub fn html_escape(json: &str) -> String {
    if !json.contains(['<', '>', '&']) {
        return json.to_owned();
    }
    json.replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
}

#[derive(Debug, Default)]
pub struct Store {
    rows: Vec<Row>,
}

/// One page of a query: the entries' JSON and the total number of matches.
pub struct Page<'a> {
    pub entries: Vec<&'a str>,
    pub total: usize,
}

impl Store {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Insert keeping time order; equal times go after the existing ones.
    pub fn insert(&mut self, row: Row) {
        let at = self.rows.partition_point(|r| r.time <= row.time);
        self.rows.insert(at, row);
    }

    /// Delete every row older than `cutoff` (retention); returns the deleted rows' ids.
    pub fn delete_older_than(&mut self, cutoff: DateTime<Utc>) -> Vec<String> {
        let n = self.rows.partition_point(|r| r.time < cutoff);
        self.rows.drain(..n).map(|r| r.id).collect()
    }

    /// Delete rows matching `pred` anywhere in the table (the 90-day connection-event purge).
    pub fn delete_where(&mut self, pred: impl Fn(&Row) -> bool) -> Vec<String> {
        let mut gone = Vec::new();
        self.rows.retain(|r| {
            let del = pred(r);
            if del {
                gone.push(r.id.clone());
            }
            !del
        });
        gone
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// `WHERE filter ORDER BY time DESC LIMIT limit OFFSET offset`, ties shuffled.
    pub fn query(&self, f: &Filter, offset: usize, limit: usize, rng: &mut impl Rng) -> Page<'_> {
        // The date bounds select a contiguous range of the time-ordered rows.
        let lo = f
            .date_from
            .map_or(0, |from| self.rows.partition_point(|r| r.time < from));
        let hi = f.date_to.map_or(self.rows.len(), |to| {
            self.rows.partition_point(|r| r.time <= to)
        });
        let range = if lo < hi { &self.rows[lo..hi] } else { &[][..] };
        // Newest first.
        let matched: Vec<&Row> = range.iter().rev().filter(|r| r.matches(f)).collect();
        let total = matched.len();
        if offset >= total || limit == 0 {
            return Page {
                entries: Vec::new(),
                total,
            };
        }
        let end = offset.saturating_add(limit).min(total);
        // Widen to whole tie groups, shuffle each, then cut the page out.
        let mut start = offset;
        while start > 0 && matched[start - 1].time == matched[offset].time {
            start -= 1;
        }
        let mut stop = end;
        while stop < total && matched[stop].time == matched[end - 1].time {
            stop += 1;
        }
        let mut window: Vec<&Row> = matched[start..stop].to_vec();
        let mut i = 0;
        while i < window.len() {
            let mut j = i + 1;
            while j < window.len() && window[j].time == window[i].time {
                j += 1;
            }
            window[i..j].shuffle(rng);
            i = j;
        }
        let entries = window[offset - start..end - start]
            .iter()
            .map(|r| r.json.as_str())
            .collect();
        Page { entries, total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query;

    fn row(id: &str, time: &str) -> Row {
        Row::from_entry(&serde_json::json!({"id": id, "time": time, "action": "login"})).unwrap()
    }

    fn ids(p: &Page) -> Vec<String> {
        p.entries
            .iter()
            .map(|j| {
                let v: serde_json::Value = serde_json::from_str(j).unwrap();
                v["id"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn newest_first_with_offset_paging() {
        let mut s = Store::default();
        for (i, t) in [
            "2026-01-01T00:00:01Z",
            "2026-01-01T00:00:03Z",
            "2026-01-01T00:00:02Z",
        ]
        .iter()
        .enumerate()
        {
            s.insert(row(&i.to_string(), t));
        }
        let mut rng = rand::rng();
        let f = Filter::default();
        assert_eq!(ids(&s.query(&f, 0, 2, &mut rng)), ["1", "2"]);
        assert_eq!(ids(&s.query(&f, 2, 2, &mut rng)), ["0"]);
        assert_eq!(s.query(&f, 3, 2, &mut rng).total, 3);
    }

    #[test]
    fn date_to_excludes_the_last_sub_second_of_the_day() {
        let mut s = Store::default();
        s.insert(row("late", "2026-01-01T23:59:59.5Z"));
        s.insert(row("edge", "2026-01-01T23:59:59Z"));
        let mut rng = rand::rng();
        let f = query::parse("date_from:2026-01-01 date_to:2026-01-01").unwrap();
        assert_eq!(ids(&s.query(&f, 0, 10, &mut rng)), ["edge"]);
        let next_day = query::parse("date_from:2026-01-02").unwrap();
        assert!(s.query(&next_day, 0, 10, &mut rng).entries.is_empty());
    }

    #[test]
    fn ties_across_a_page_boundary_change_order_between_requests() {
        let mut s = Store::default();
        for i in 0..6 {
            s.insert(row(&i.to_string(), "2026-01-01T00:00:00Z"));
        }
        let mut rng = rand::rng();
        let firsts: std::collections::HashSet<Vec<String>> = (0..50)
            .map(|_| ids(&s.query(&Filter::default(), 0, 3, &mut rng)))
            .collect();
        assert!(
            firsts.len() > 1,
            "tie order must not be stable across requests"
        );
    }

    #[test]
    fn html_is_escaped_like_go() {
        let r = Row::from_entry(&serde_json::json!({
            "id": "a", "time": "2026-01-01T00:00:00Z", "description": "a & <b>"
        }))
        .unwrap();
        assert!(r.json.contains(r"a \u0026 \u003cb\u003e"), "{}", r.json);
    }
}
