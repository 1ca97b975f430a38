//! Which ids of an entry are worth a look-up (those whose names the entry does not carry),
//! and what a page's look-ups answered.
//!
//! Both are made once per page, not per event: a page of 500 events names a handful of
//! workspaces, and building each event's ids, keys and context anew was 4 % of an ECS
//! backfill's instructions (BENCHMARKS.md, "Look-ups once per page"). So an event's ids are
//! borrowed from it, [`Answers`] are found by a borrowed id, and events that want the same
//! ids share one context.

use std::collections::BTreeMap;

use super::LookupResult;
use super::cache::{Key, Outcome};
use super::fetch::{Kind, is_uuid};
use crate::coder::context::{CoderContext, Found};
use crate::coder::{AuditEntry, ConnectionLog, Entry, Event, Organization};

/// The ids one event would have looked up, by what they are to it, borrowed from it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wants<'a> {
    pub workspace: Option<&'a str>,
    pub template: Option<&'a str>,
    pub organization: Option<&'a str>,
    pub user: Option<&'a str>,
    /// The workspace owner, when the row names it (a connection); otherwise the owner the
    /// workspace look-up names.
    pub owner: Option<&'a str>,
}

fn uuid(id: Option<&str>) -> Option<&str> {
    id.filter(|id| is_uuid(id))
}

/// The organization's id, when the entry names it without its name (entries before the
/// `organization` object, deployment-wide rows with only `organization_id`).
fn unnamed_organization<'a>(
    org: Option<&'a Organization>,
    org_id: Option<&'a str>,
) -> Option<&'a str> {
    let named = org.is_some_and(|o| o.name.as_deref().is_some_and(|n| !n.is_empty()));
    if named {
        return None;
    }
    uuid(org.and_then(|o| o.id.as_deref()).or(org_id))
}

/// What one page's look-ups answered: each key's outcome and how it came, by kind and then
/// id (so a borrowed id finds it). Keys of kinds that are off are absent.
#[derive(Debug, Default)]
pub struct Answers {
    by_kind: [BTreeMap<String, (Outcome, LookupResult)>; 4],
}

impl Answers {
    pub fn insert(&mut self, (kind, id): Key, answer: (Outcome, LookupResult)) {
        self.by_kind[kind.index()].insert(id, answer);
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&(Outcome, LookupResult)> {
        self.by_kind[kind.index()].get(id)
    }

    pub fn extend(&mut self, other: Answers) {
        for (mine, theirs) in self.by_kind.iter_mut().zip(other.by_kind) {
            mine.extend(theirs);
        }
    }

    fn found(&self, kind: Kind, id: Option<&str>) -> Option<&Found> {
        match self.get(kind, id?) {
            Some((Outcome::Found(found), _)) => Some(found),
            _ => None,
        }
    }

    /// The owner a workspace's answer names.
    pub fn owner_of(&self, workspace: Option<&str>) -> Option<&str> {
        match self.found(Kind::Workspace, workspace)? {
            Found::Workspace(w) => uuid(w.owner_id.as_deref()),
            _ => None,
        }
    }
}

/// How many of a page's look-ups ended each way, by kind: `enrich_lookups_total` is
/// counted once per page, not once per event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally([[u64; LookupResult::ALL.len()]; Kind::ALL.len()]);

impl Tally {
    pub fn add(&mut self, kind: Kind, how: LookupResult) {
        self.0[kind.index()][how as usize] += 1;
    }

    /// The counts that are not zero.
    pub fn counts(&self) -> impl Iterator<Item = (Kind, LookupResult, u64)> + '_ {
        Kind::ALL.into_iter().flat_map(move |kind| {
            LookupResult::ALL
                .into_iter()
                .map(move |how| (kind, how, self.0[kind.index()][how as usize]))
                .filter(|(_, _, n)| *n > 0)
        })
    }
}

impl<'a> Wants<'a> {
    pub fn of(event: &'a Event) -> Self {
        match &event.entry {
            Entry::Audit(a) => Self::of_audit(a.entry()),
            Entry::Connection(c) => Self::of_connection(&c.log),
        }
    }

    fn of_audit(a: &'a AuditEntry) -> Self {
        let resource = a.resource_id.as_deref();
        let kind = a.resource_type.as_deref().unwrap_or_default();
        Wants {
            workspace: match kind {
                "workspace" => uuid(resource),
                // Builds, agents and apps name their workspace in additional_fields.
                _ => uuid(
                    a.additional_fields
                        .as_ref()
                        .and_then(|f| f.string("workspace_id")),
                ),
            },
            template: uuid(resource.filter(|_| kind == "template")),
            organization: unnamed_organization(
                a.organization.as_ref(),
                a.organization_id.as_deref(),
            ),
            user: uuid(resource.filter(|_| kind == "user")),
            owner: None,
        }
    }

    fn of_connection(c: &'a ConnectionLog) -> Self {
        Wants {
            workspace: uuid(c.workspace_id.as_deref()),
            organization: unnamed_organization(c.organization.as_ref(), None),
            owner: uuid(c.workspace_owner_id.as_deref()),
            ..Wants::default()
        }
    }

    /// The ids known before any answer (the owner of a workspace comes from its answer).
    pub fn keys(self) -> impl Iterator<Item = (Kind, &'a str)> {
        [
            (Kind::Workspace, self.workspace),
            (Kind::Template, self.template),
            (Kind::Organization, self.organization),
            (Kind::User, self.user),
            (Kind::User, self.owner),
        ]
        .into_iter()
        .filter_map(|(kind, id)| Some((kind, id?)))
    }

    /// The owner's id: the row's, or the one its workspace's answer names.
    fn owner_id<'b>(&self, answers: &'b Answers) -> Option<&'b str>
    where
        'a: 'b,
    {
        self.owner.or_else(|| answers.owner_of(self.workspace))
    }

    /// How each of this event's look-ups ended, for `enrich_lookups_total`.
    pub fn results<'b>(
        self,
        answers: &'b Answers,
    ) -> impl Iterator<Item = (Kind, LookupResult)> + 'b
    where
        'a: 'b,
    {
        let owner = answers
            .owner_of(self.workspace)
            .filter(|_| self.owner.is_none())
            .map(|id| (Kind::User, id));
        self.keys()
            .chain(owner)
            .filter_map(move |(kind, id)| answers.get(kind, id).map(|(_, how)| (kind, *how)))
    }

    /// What the answers say about this event.
    pub fn context(&self, answers: &Answers) -> CoderContext {
        CoderContext {
            workspace: match answers.found(Kind::Workspace, self.workspace) {
                Some(Found::Workspace(w)) => Some(w.clone()),
                _ => None,
            },
            template: match answers.found(Kind::Template, self.template) {
                Some(Found::Template(t)) => Some(t.clone()),
                _ => None,
            },
            organization: match answers.found(Kind::Organization, self.organization) {
                Some(Found::Organization(o)) => Some(o.clone()),
                _ => None,
            },
            user: match answers.found(Kind::User, self.user) {
                Some(Found::User(u)) => Some(u.clone()),
                _ => None,
            },
            owner: match answers.found(Kind::User, self.owner_id(answers)) {
                Some(Found::User(u)) => Some(u.clone()),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::coder::context::{UserInfo, WorkspaceInfo};
    use crate::coder::parse_page;

    const WS: &str = "05567e23-31e2-4c00-bd05-4d499d437347";
    const ORG: &str = "2e1105ea-9827-41ef-8e19-fb7f93dac993";
    const OWNER: &str = "7d1a2b3c-0000-4000-8000-00000000000a";

    fn page(entry: serde_json::Value) -> crate::coder::Page {
        let page = serde_json::json!({"audit_logs": [entry], "count": 1}).to_string();
        parse_page(bytes::Bytes::from(page)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_entry_wants_the_ids_it_does_not_name() {
        let p = page(serde_json::json!({
            "id": "a", "time": "2026-08-20T10:00:00Z",
            "resource_type": "workspace_build", "resource_id": "9f3a0c1e-0000-4000-8000-000000000001",
            "additional_fields": {"workspace_id": WS, "workspace_name": "dev"},
            "organization_id": ORG, "organization": {"id": ORG, "name": "coder"}
        }));
        let w = Wants::of(&p.events[0]);
        assert_eq!(w.workspace, Some(WS));
        assert_eq!(w.organization, None, "named already");
        assert_eq!((w.template, w.user), (None, None));

        let p = page(serde_json::json!({
            "id": "b", "time": "2026-08-20T10:00:00Z",
            "resource_type": "user", "resource_id": WS, "organization_id": ORG
        }));
        let w = Wants::of(&p.events[0]);
        assert_eq!(w.user, Some(WS));
        assert_eq!(w.organization, Some(ORG), "named only by id");

        let p = page(serde_json::json!({
            "id": "c", "time": "2026-08-20T10:00:00Z",
            "resource_type": "template", "resource_id": WS,
            "organization_id": "00000000-0000-0000-0000-000000000000"
        }));
        let w = Wants::of(&p.events[0]);
        assert_eq!(w.template, Some(WS));
        assert_eq!(w.organization, None, "the nil UUID names nothing");
        assert_eq!(w.workspace, None);
    }

    #[test]
    fn an_escaped_workspace_id_is_read() {
        // "0" escaped as \u0030: Go never writes it, but it is the same id.
        let escaped = format!("\\u0030{}", &WS[1..]);
        let text = format!(
            r#"{{"audit_logs":[{{"id":"a","time":"2026-08-20T10:00:00Z","resource_type":"workspace_agent","additional_fields":{{"workspace_id":"{escaped}"}}}}],"count":1}}"#
        );
        let p = parse_page(bytes::Bytes::from(text)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Wants::of(&p.events[0]).workspace, Some(WS));
    }

    fn answers() -> Answers {
        let mut answers = Answers::default();
        let ws = WorkspaceInfo {
            name: Some("dev".into()),
            owner_id: Some(OWNER.into()),
            ..WorkspaceInfo::default()
        };
        answers.insert(
            (Kind::Workspace, WS.into()),
            (
                Outcome::Found(Found::Workspace(Arc::new(ws))),
                LookupResult::Hit,
            ),
        );
        let owner = UserInfo {
            email: Some("alice@example.com".into()),
            ..UserInfo::default()
        };
        let mut later = Answers::default();
        later.insert(
            (Kind::User, OWNER.into()),
            (
                Outcome::Found(Found::User(Arc::new(owner))),
                LookupResult::Miss,
            ),
        );
        later.insert(
            (Kind::Organization, ORG.into()),
            (Outcome::Gone, LookupResult::Gone),
        );
        answers.extend(later);
        answers
    }

    #[test]
    fn the_owner_comes_from_the_workspace_answer() {
        let answers = answers();
        let wants = Wants {
            workspace: Some(WS),
            organization: Some(ORG),
            ..Wants::default()
        };
        let context = wants.context(&answers);
        assert_eq!(
            context.workspace.and_then(|w| w.name.clone()).as_deref(),
            Some("dev")
        );
        let email = context.owner.and_then(|o| o.email.clone());
        assert_eq!(email.as_deref(), Some("alice@example.com"));
        assert_eq!(context.organization, None, "gone: nothing to attach");

        let results: Vec<_> = wants.results(&answers).collect();
        assert_eq!(
            results,
            [
                (Kind::Workspace, LookupResult::Hit),
                (Kind::Organization, LookupResult::Gone),
                (Kind::User, LookupResult::Miss),
            ]
        );
        // A row that names its owner is not counted twice for it.
        let named = Wants {
            owner: Some(OWNER),
            ..wants
        };
        assert_eq!(named.results(&answers).count(), 3);
        assert_eq!(Wants::default().context(&answers), CoderContext::default());
    }

    #[test]
    fn indices_are_places_in_all() {
        for (at, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), at);
        }
        for (at, how) in LookupResult::ALL.into_iter().enumerate() {
            assert_eq!(how as usize, at);
        }
    }

    #[test]
    fn a_tally_counts_each_kind_and_result_apart() {
        let mut tally = Tally::default();
        tally.add(Kind::User, LookupResult::Deferred);
        tally.add(Kind::User, LookupResult::Deferred);
        tally.add(Kind::Workspace, LookupResult::Hit);
        tally.add(Kind::User, LookupResult::Timeout);
        let counts: Vec<_> = tally.counts().collect();
        assert_eq!(
            counts,
            [
                (Kind::Workspace, LookupResult::Hit, 1),
                (Kind::User, LookupResult::Timeout, 1),
                (Kind::User, LookupResult::Deferred, 2),
            ]
        );
    }
}
