//! `[sinks.NAME.filter]`: which events a sink is sent.
//!
//! ```toml
//! [sinks.siem.filter]
//! include = [{ outcome = ["failure"] }, { resource_type = ["user", "custom_role"] }]
//! exclude = [{ user = ["ci-bot"] }]
//! ```
//!
//! A rule matches an event when every key it names matches one of its values; an event is
//! sent when it matches an `include` rule (or there is none) and no `exclude` rule. A
//! connection row with both a connect and a disconnect is sent when either matches, and
//! then whole. Filtering is about what a sink is *sent*: an event left out still counts as
//! handled, so the sink's checkpoint moves past it (counted, never silent).

use serde::Deserialize;

use crate::coder::{Entry, Event};
use crate::normalize::connection::{ConnectionFacts, Moment};
use crate::normalize::{ClassStrategy, Facts, OcsfVersion, ocsf};

/// A sink's filter; the default sends everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default)]
    pub include: Vec<Rule>,
    #[serde(default)]
    pub exclude: Vec<Rule>,
}

/// One match: each key it names must match one of its values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The audit `resource_type`, or the connection `type` (`ssh`, `workspace_app`, ...).
    #[serde(default)]
    pub resource_type: Vec<String>,
    /// The audit `action`, or `connect` / `disconnect`.
    #[serde(default)]
    pub action: Vec<String>,
    /// `success`, `failure` or `unknown`, as ECS `event.outcome` says it.
    #[serde(default)]
    pub outcome: Vec<Outcome>,
    /// The acting user's username (a web connection's user).
    #[serde(default)]
    pub user: Vec<String>,
    /// The OCSF class of the event (with the semantic classes).
    #[serde(default)]
    pub class_uid: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Unknown,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

/// What a rule reads of one event (one moment of a connection row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject<'a> {
    pub resource_type: Option<&'a str>,
    pub action: Option<&'a str>,
    pub outcome: &'static str,
    pub user: Option<&'a str>,
    pub class_uids: Vec<u32>,
}

impl<'a> Subject<'a> {
    /// The subjects of `event`: one for an audit entry, one per moment of a connection row.
    pub fn of(event: &'a Event) -> Vec<Subject<'a>> {
        match &event.entry {
            Entry::Audit(lazy) => {
                let entry = lazy.entry();
                let facts = Facts::of(entry);
                // The classes OCSF 1.8.0 gives the entry with the semantic classes (the
                // default); a role change beside a status change is two.
                let mut class_uids: Vec<u32> =
                    ocsf::activities(&facts, ClassStrategy::Semantic, OcsfVersion::V1_8_0)
                        .iter()
                        .map(|a| a.class.uid())
                        .collect();
                class_uids.sort_unstable();
                class_uids.dedup();
                vec![Subject {
                    resource_type: entry.resource_type.as_deref(),
                    action: entry.action.as_deref(),
                    outcome: facts.outcome.as_str(),
                    user: facts.username(),
                    class_uids,
                }]
            }
            Entry::Connection(c) => Moment::of(c.phase)
                .iter()
                .map(|&moment| {
                    let f = ConnectionFacts::of(c, moment);
                    Subject {
                        resource_type: c.log.connection_type.as_deref(),
                        action: Some(moment.action()),
                        outcome: f.outcome().unwrap_or("unknown"),
                        user: f.username(),
                        class_uids: vec![f.class_uid()],
                    }
                })
                .collect(),
        }
    }
}

impl Rule {
    /// A rule that names no key would match everything: refused by [`Filter::check`].
    fn is_empty(&self) -> bool {
        self.resource_type.is_empty()
            && self.action.is_empty()
            && self.outcome.is_empty()
            && self.user.is_empty()
            && self.class_uid.is_empty()
    }

    fn matches(&self, s: &Subject<'_>) -> bool {
        let one_of = |values: &[String], v: Option<&str>| {
            values.is_empty() || v.is_some_and(|v| values.iter().any(|x| x == v))
        };
        one_of(&self.resource_type, s.resource_type)
            && one_of(&self.action, s.action)
            && (self.outcome.is_empty() || self.outcome.iter().any(|o| o.word() == s.outcome))
            && one_of(&self.user, s.user)
            && (self.class_uid.is_empty()
                || self.class_uid.iter().any(|c| s.class_uids.contains(c)))
    }
}

impl Filter {
    /// Whether this filter sends everything.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// A rule naming no key is a mistake (it would match every event): the key and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, rules) in [("include", &self.include), ("exclude", &self.exclude)] {
            if let Some(i) = rules.iter().position(Rule::is_empty) {
                return Err((
                    key,
                    format!(
                        "rule {} names no key: give it resource_type, action, outcome, user \
                         or class_uid",
                        i + 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether `event` is sent.
    pub fn admits(&self, event: &Event) -> bool {
        if self.is_empty() {
            return true;
        }
        Subject::of(event).iter().any(|s| self.admits_subject(s))
    }

    fn admits_subject(&self, s: &Subject<'_>) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.matches(s)))
            && !self.exclude.iter().any(|r| r.matches(s))
    }
}

#[cfg(test)]
mod tests;
