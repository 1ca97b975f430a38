//! What `[enrich.coder]`'s look-ups add to an event (see `coder::lookup`), shaped once for
//! every format: ECS `coder.workspace.*` / `coder.template.*`, OCSF
//! `unmapped.coder.workspace.*` / `template.*`, the CEF and LEEF keys. The names the
//! schemas have fields for (organization name, workspace owner, the target user's e-mail)
//! go through [`super::Facts`] instead, so they land where the entry's own would.
//!
//! Present only when a look-up answered: with `[enrich.coder]` off, or before the answer,
//! the event is exactly what it was without.

use serde::Serialize;

use crate::coder::CoderContext;
use crate::coder::context::{TemplateInfo, WorkspaceInfo};

fn text(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// A template, as a workspace's answer or a template's own names it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TemplateView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_version_id: Option<&'a str>,
}

impl<'a> TemplateView<'a> {
    fn of_workspace(w: &'a WorkspaceInfo) -> Option<Self> {
        Some(TemplateView {
            id: text(&w.template_id),
            name: text(&w.template_name),
            display_name: text(&w.template_display_name),
            active_version_id: text(&w.template_active_version_id),
        })
        .filter(|t| t.id.is_some() || t.name.is_some())
    }

    fn of_template(t: &'a TemplateInfo) -> Option<Self> {
        Some(TemplateView {
            id: text(&t.id),
            name: text(&t.name),
            display_name: text(&t.display_name),
            active_version_id: text(&t.active_version_id),
        })
        .filter(|t| t.id.is_some() || t.name.is_some())
    }
}

/// A workspace's owner: its id and name from the workspace's answer (or the owner's), the
/// e-mail from the owner's (neither log records it).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct OwnerView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
}

/// What the look-ups say about the workspace an event is about.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct WorkspaceView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerView<'a>>,
}

/// The looked-up workspace of `context`, if a look-up said anything about it.
pub fn workspace(context: Option<&CoderContext>) -> Option<WorkspaceView<'_>> {
    let c = context?;
    let (ws, owner) = (c.workspace.as_deref(), c.owner.as_deref());
    let owner = Some(OwnerView {
        id: ws
            .and_then(|w| text(&w.owner_id))
            .or_else(|| owner.and_then(|u| text(&u.id))),
        name: ws
            .and_then(|w| text(&w.owner_name))
            .or_else(|| owner.and_then(|u| text(&u.username))),
        email: owner.and_then(|u| text(&u.email)),
    })
    .filter(|o| o.id.is_some() || o.name.is_some() || o.email.is_some());
    Some(WorkspaceView {
        template: ws.and_then(TemplateView::of_workspace),
        owner,
    })
    .filter(|w| w.template.is_some() || w.owner.is_some())
}

/// The looked-up template an entry is about (`resource_type = "template"`).
pub fn template(context: Option<&CoderContext>) -> Option<TemplateView<'_>> {
    context?
        .template
        .as_deref()
        .and_then(TemplateView::of_template)
}

/// The organization's display name, when a look-up found it.
pub fn organization_display_name(context: Option<&CoderContext>) -> Option<&str> {
    context?
        .organization
        .as_deref()
        .and_then(|o| text(&o.display_name))
}

/// The CEF and LEEF keys of what the look-ups found, LEEF's names first: LEEF 2.0 takes any
/// attribute name. CEF's are custom dictionary extensions, named vendor, product, then key
/// (Micro Focus, "Implementing ArcSight CEF", Custom Dictionary Extensions), since the
/// six `csN` strings are taken.
///
/// `owner_named`: the line names the owner already (a connection's `duser` /
/// `workspaceOwner`), so only the e-mail is added.
pub fn line_keys<'a>(
    workspace: Option<&WorkspaceView<'a>>,
    template: Option<&TemplateView<'a>>,
    owner_named: bool,
) -> Vec<(&'static str, &'static str, &'a str)> {
    let mut keys = Vec::new();
    let templates = [workspace.and_then(|w| w.template.as_ref()), template];
    if let Some(t) = templates.into_iter().flatten().next() {
        for (leef, cef, v) in [
            ("templateName", "CoderCoderTemplateName", t.name),
            (
                "templateDisplayName",
                "CoderCoderTemplateDisplayName",
                t.display_name,
            ),
            ("templateId", "CoderCoderTemplateId", t.id),
            (
                "templateActiveVersionId",
                "CoderCoderTemplateActiveVersionId",
                t.active_version_id,
            ),
        ] {
            if let Some(v) = v {
                keys.push((leef, cef, v));
            }
        }
    }
    if let Some(owner) = workspace.and_then(|w| w.owner.as_ref()) {
        for (leef, cef, v) in [
            (
                "workspaceOwner",
                "CoderCoderWorkspaceOwner",
                owner.name.filter(|_| !owner_named),
            ),
            (
                "workspaceOwnerEmail",
                "CoderCoderWorkspaceOwnerEmail",
                owner.email,
            ),
        ] {
            if let Some(v) = v {
                keys.push((leef, cef, v));
            }
        }
    }
    keys
}
