//! Which ids of an entry are worth a look-up: those whose names the entry does not carry.

use std::collections::BTreeMap;

use super::LookupResult;
use super::cache::{Key, Outcome};
use super::fetch::{Kind, is_uuid};
use crate::coder::context::{CoderContext, Found};
use crate::coder::{AuditEntry, ConnectionLog, Entry, Event, Organization};

/// The ids one event would have looked up, by what they are to it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wants {
    pub workspace: Option<String>,
    pub template: Option<String>,
    pub organization: Option<String>,
    pub user: Option<String>,
    /// The workspace owner, when the row names it (a connection); otherwise the owner the
    /// workspace look-up names.
    pub owner: Option<String>,
}

fn uuid(id: Option<&str>) -> Option<String> {
    id.filter(|id| is_uuid(id)).map(str::to_owned)
}

/// The organization's id, when the entry names it without its name (entries before the
/// `organization` object, deployment-wide rows with only `organization_id`).
fn unnamed_organization(org: Option<&Organization>, org_id: Option<&str>) -> Option<String> {
    let named = org.is_some_and(|o| o.name.as_deref().is_some_and(|n| !n.is_empty()));
    if named {
        return None;
    }
    uuid(org.and_then(|o| o.id.as_deref()).or(org_id))
}

impl Wants {
    pub fn of(event: &Event) -> Self {
        match &event.entry {
            Entry::Audit(a) => Self::of_audit(a.entry()),
            Entry::Connection(c) => Self::of_connection(&c.log),
        }
    }

    fn of_audit(a: &AuditEntry) -> Self {
        let resource = a.resource_id.as_deref();
        let additional = |key: &str| a.additional_fields.as_ref().and_then(|f| f.string(key));
        let kind = a.resource_type.as_deref().unwrap_or_default();
        Wants {
            workspace: match kind {
                "workspace" => uuid(resource),
                // Builds, agents and apps name their workspace in additional_fields.
                _ => uuid(additional("workspace_id")),
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

    fn of_connection(c: &ConnectionLog) -> Self {
        Wants {
            workspace: uuid(c.workspace_id.as_deref()),
            organization: unnamed_organization(c.organization.as_ref(), None),
            owner: uuid(c.workspace_owner_id.as_deref()),
            ..Wants::default()
        }
    }

    /// The keys known before any answer (the owner of a workspace comes from its answer).
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        [
            (Kind::Workspace, &self.workspace),
            (Kind::Template, &self.template),
            (Kind::Organization, &self.organization),
            (Kind::User, &self.user),
            (Kind::User, &self.owner),
        ]
        .into_iter()
        .filter_map(|(kind, id)| id.as_ref().map(|id| (kind, id.clone())))
    }

    /// The owner's id: the row's, or the one its workspace's answer names.
    fn owner_id(&self, answers: &BTreeMap<Key, (Outcome, LookupResult)>) -> Option<String> {
        self.owner.clone().or_else(|| {
            let id = self.workspace.clone()?;
            match answers.get(&(Kind::Workspace, id)) {
                Some((Outcome::Found(Found::Workspace(w)), _)) => uuid(w.owner_id.as_deref()),
                _ => None,
            }
        })
    }

    /// How each of this event's look-ups ended, for `enrich_lookups_total`.
    pub fn results<'a>(
        &'a self,
        answers: &'a BTreeMap<Key, (Outcome, LookupResult)>,
    ) -> impl Iterator<Item = (Kind, LookupResult)> + 'a {
        let owner = self
            .owner_id(answers)
            .filter(|_| self.owner.is_none())
            .map(|id| (Kind::User, id));
        self.keys()
            .chain(owner)
            .filter_map(|key| answers.get(&key).map(|(_, how)| (key.0, *how)))
    }

    /// What the answers say about this event.
    pub fn context(&self, answers: &BTreeMap<Key, (Outcome, LookupResult)>) -> CoderContext {
        let found = |kind: Kind, id: &Option<String>| {
            let (outcome, _) = answers.get(&(kind, id.clone()?))?;
            match outcome {
                Outcome::Found(f) => Some(f.clone()),
                _ => None,
            }
        };
        CoderContext {
            workspace: match found(Kind::Workspace, &self.workspace) {
                Some(Found::Workspace(w)) => Some(w),
                _ => None,
            },
            template: match found(Kind::Template, &self.template) {
                Some(Found::Template(t)) => Some(t),
                _ => None,
            },
            organization: match found(Kind::Organization, &self.organization) {
                Some(Found::Organization(o)) => Some(o),
                _ => None,
            },
            user: match found(Kind::User, &self.user) {
                Some(Found::User(u)) => Some(u),
                _ => None,
            },
            owner: match found(Kind::User, &self.owner_id(answers)) {
                Some(Found::User(u)) => Some(u),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coder::parse_page;

    const WS: &str = "05567e23-31e2-4c00-bd05-4d499d437347";
    const ORG: &str = "2e1105ea-9827-41ef-8e19-fb7f93dac993";

    fn audit(entry: serde_json::Value) -> Wants {
        let page = serde_json::json!({"audit_logs": [entry], "count": 1}).to_string();
        let page = parse_page(bytes::Bytes::from(page)).unwrap_or_else(|e| panic!("{e}"));
        Wants::of(&page.events[0])
    }

    #[test]
    fn an_entry_wants_the_ids_it_does_not_name() {
        let w = audit(serde_json::json!({
            "id": "a", "time": "2026-08-20T10:00:00Z",
            "resource_type": "workspace_build", "resource_id": "9f3a0c1e-0000-4000-8000-000000000001",
            "additional_fields": {"workspace_id": WS, "workspace_name": "dev"},
            "organization_id": ORG, "organization": {"id": ORG, "name": "coder"}
        }));
        assert_eq!(w.workspace.as_deref(), Some(WS));
        assert_eq!(w.organization, None, "named already");
        assert_eq!((w.template.as_ref(), w.user.as_ref()), (None, None));

        let w = audit(serde_json::json!({
            "id": "b", "time": "2026-08-20T10:00:00Z",
            "resource_type": "user", "resource_id": WS, "organization_id": ORG
        }));
        assert_eq!(w.user.as_deref(), Some(WS));
        assert_eq!(w.organization.as_deref(), Some(ORG), "named only by id");

        let w = audit(serde_json::json!({
            "id": "c", "time": "2026-08-20T10:00:00Z",
            "resource_type": "template", "resource_id": WS,
            "organization_id": "00000000-0000-0000-0000-000000000000"
        }));
        assert_eq!(w.template.as_deref(), Some(WS));
        assert_eq!(w.organization, None, "the nil UUID names nothing");
        assert_eq!(w.workspace, None);
    }
}
