//! The topic a record goes to: a fixed name, or a template with `{resource_type}`.
//!
//! Coder's resource types are lower-case words with `_`, all legal in topic names; anything
//! else a future Coder sends is replaced by `_`, so a strange value can never produce an
//! invalid topic (and with it a batch that fails for ever).

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    template: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopicError {
    #[error("topic is empty")]
    Empty,
    #[error("unknown placeholder {0:?} in the topic template (only {{resource_type}} exists)")]
    UnknownPlaceholder(String),
    #[error(
        "{0:?} is not a valid topic name (letters, digits, '.', '_' and '-' only, at most 249)"
    )]
    Invalid(String),
}

const PLACEHOLDER: &str = "{resource_type}";

impl TopicTemplate {
    pub fn parse(template: &str) -> Result<Self, TopicError> {
        if template.is_empty() {
            return Err(TopicError::Empty);
        }
        let rest = template.replace(PLACEHOLDER, "x");
        if let Some(start) = rest.find('{') {
            let end = rest[start..]
                .find('}')
                .map_or(rest.len(), |e| start + e + 1);
            return Err(TopicError::UnknownPlaceholder(rest[start..end].to_owned()));
        }
        if !valid(&rest) {
            return Err(TopicError::Invalid(template.to_owned()));
        }
        Ok(Self {
            template: template.to_owned(),
        })
    }

    /// The topic of a record with this resource type (`unknown` when it has none).
    pub fn render(&self, resource_type: Option<&str>) -> Cow<'_, str> {
        if !self.template.contains(PLACEHOLDER) {
            return Cow::Borrowed(&self.template);
        }
        let value: String = resource_type
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .chars()
            .map(|c| if legal(c) { c } else { '_' })
            .collect();
        let mut topic = self.template.replace(PLACEHOLDER, &value);
        topic.truncate(249);
        Cow::Owned(topic)
    }
}

fn legal(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn valid(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic.chars().all(legal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_topics_and_templates() {
        let t = TopicTemplate::parse("coder-audit").unwrap();
        assert_eq!(t.render(Some("workspace")), "coder-audit");
        let t = TopicTemplate::parse("coder-audit-{resource_type}").unwrap();
        assert_eq!(
            t.render(Some("workspace_build")),
            "coder-audit-workspace_build"
        );
        assert_eq!(t.render(None), "coder-audit-unknown");
        assert_eq!(t.render(Some("a/b c")), "coder-audit-a_b_c");
    }

    #[test]
    fn bad_templates_are_errors() {
        assert_eq!(TopicTemplate::parse(""), Err(TopicError::Empty));
        assert_eq!(
            TopicTemplate::parse("audit-{action}"),
            Err(TopicError::UnknownPlaceholder("{action}".into()))
        );
        assert!(matches!(
            TopicTemplate::parse("audit log"),
            Err(TopicError::Invalid(_))
        ));
    }
}
