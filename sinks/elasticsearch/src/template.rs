//! The index template that types our fields, installed before the first write; and the
//! check `validate` makes.
//!
//! Without a template, Elasticsearch guesses each field's type from its first value, and
//! a later document whose value does not fit the guess is refused (400, dead-lettered).
//! `templates/coder-audit-shipper@mappings.json` (a component template) types every
//! ECS field we write (from ECS 9.4's `fields.csv`) and our `coder.*` fields, with
//! `coder.audit.diff` as `flattened` (its shape differs per resource type: as objects,
//! two resource types' diffs would fight over one mapping) and `coder.audit.ip` as a
//! keyword (it is Coder's text when that is no address). `templates/logs-coder.json`
//! (an index template, priority 200, above Elastic's built-in `logs` at 100) applies it to
//! `logs-coder.*-*` as data streams ("Index templates", "Component templates").
//!
//! They use Elasticsearch's types (`match_only_text`, `flattened`), which OpenSearch
//! lacks: on OpenSearch (its `GET /` says `"distribution": "opensearch"`) they are not
//! installed, and dynamic mapping applies.

use reqwest::Method;
use serde_json::Value;
use sink_http::transport::{self, excerpt};

use crate::sink::ElasticsearchSink;

pub const COMPONENT_NAME: &str = "coder-audit-shipper@mappings";
pub const COMPONENT: &str = include_str!("../templates/coder-audit-shipper@mappings.json");
pub const INDEX_TEMPLATE_NAME: &str = "logs-coder";
pub const INDEX_TEMPLATE: &str = include_str!("../templates/logs-coder.json");

pub enum Installed {
    /// Installed, or not to be (OpenSearch, no permission: said once in the log).
    Done,
    /// The cluster could not be asked: try again with the batch.
    Retry(String),
    /// The cluster refused the credentials.
    Fatal(String),
}

/// What the cluster says it is, from `GET /`.
async fn distribution(sink: &ElasticsearchSink) -> Result<(u16, Value), String> {
    let response = sink
        .request(Method::GET, &format!("{}/", sink.endpoint()))
        .send()
        .await
        .map_err(|e| format!("{}: {}", sink.endpoint(), transport::describe(&e)))?;
    let status = response.status().as_u16();
    let body = transport::read_capped(response).await?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

fn is_opensearch(root: &Value) -> bool {
    root["version"]["distribution"] == "opensearch"
}

pub async fn install(sink: &ElasticsearchSink) -> Installed {
    let root = match distribution(sink).await {
        Ok((200, root)) => root,
        Ok((status @ (401 | 403), _)) => {
            return Installed::Fatal(format!(
                "{}: GET / answered {status}: the cluster refused the credentials (api_key, \
                 user/password, bearer_token)",
                sink.endpoint()
            ));
        }
        Ok((status, _)) => {
            return Installed::Retry(format!("{}: GET / answered {status}", sink.endpoint()));
        }
        Err(e) => return Installed::Retry(e),
    };
    if is_opensearch(&root) {
        tracing::info!(
            sink = %sink.name_for_log(),
            "OpenSearch: the index template uses Elasticsearch's field types, so it is not \
             installed; fields are mapped dynamically"
        );
        return Installed::Done;
    }
    for (path, body) in [
        (format!("_component_template/{COMPONENT_NAME}"), COMPONENT),
        (
            format!("_index_template/{INDEX_TEMPLATE_NAME}"),
            INDEX_TEMPLATE,
        ),
    ] {
        let url = format!("{}/{path}", sink.endpoint());
        let sent = sink
            .request(Method::PUT, &url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Installed::Retry(format!(
                    "{}: installing {path}: {}",
                    sink.endpoint(),
                    transport::describe(&e)
                ));
            }
        };
        let status = response.status().as_u16();
        let said = transport::read_capped(response)
            .await
            .map(|b| excerpt(&b))
            .unwrap_or_default();
        match status {
            200..=299 => {}
            429 | 500..=599 => {
                return Installed::Retry(format!("installing {path}: {status} {said}"));
            }
            // No `manage_index_templates`, or a cluster that does not know a type: the
            // events still go, typed by Elastic's own `logs` template or dynamically.
            _ => {
                tracing::warn!(
                    sink = %sink.name_for_log(),
                    "could not install {path} ({status} {said}): fields are typed by the \
                     cluster's own templates; install templates/ by hand, or set \
                     templates = false to stop this warning"
                );
                return Installed::Done;
            }
        }
    }
    tracing::info!(sink = %sink.name_for_log(), "index template {INDEX_TEMPLATE_NAME} installed");
    Installed::Done
}

/// `validate`'s check: `GET /` answers 200 with these credentials, and the security API
/// (where there is one) says they may create documents in the index.
pub async fn check(sink: &ElasticsearchSink) -> Result<(), String> {
    let (status, root) = distribution(sink).await?;
    match status {
        200 => {}
        401 | 403 => {
            return Err(format!(
                "{}: {status}: the cluster refused the credentials",
                sink.endpoint()
            ));
        }
        _ => return Err(format!("{}: GET / answered {status}", sink.endpoint())),
    }
    if is_opensearch(&root) {
        return Ok(());
    }
    // "Has privileges API": whether the user may `create_doc` (and let the first write
    // create the data stream, `auto_configure`) on the index.
    let ask = serde_json::json!({
        "index": [{"names": [sink.index()], "privileges": ["create_doc", "auto_configure"]}]
    });
    let response = sink
        .request(
            Method::POST,
            &format!("{}/_security/user/_has_privileges", sink.endpoint()),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(ask.to_string())
        .send()
        .await
        .map_err(|e| format!("{}: {}", sink.endpoint(), transport::describe(&e)))?;
    let status = response.status().as_u16();
    let body = transport::read_capped(response).await?;
    if status != 200 {
        // Security off (or not Elasticsearch): nothing to ask; the first write will tell.
        return Ok(());
    }
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if answer["has_all_requested"] == true {
        return Ok(());
    }
    Err(format!(
        "{}: the credentials may not write to {}: {}",
        sink.endpoint(),
        sink.index(),
        answer["index"]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_are_json_and_the_index_template_names_the_component() {
        let component: Value = serde_json::from_str(COMPONENT).unwrap();
        assert!(component["template"]["mappings"]["properties"]["@timestamp"]["type"] == "date");
        let index: Value = serde_json::from_str(INDEX_TEMPLATE).unwrap();
        assert_eq!(index["composed_of"][0], COMPONENT_NAME);
        assert_eq!(index["index_patterns"][0], "logs-coder.*-*");
        assert!(index["data_stream"].is_object());
    }

    /// Whether `path` (`a.b.c`) has a type in the component template: its own, or inside
    /// an object mapped whole (`flattened`) or left to the dynamic template (`labels`).
    fn typed(mappings: &Value, path: &str) -> bool {
        let mut node = &mappings["properties"];
        for part in path.split('.') {
            let field = &node[part];
            if field.is_null() {
                return false;
            }
            if field["type"] == "flattened" || field["dynamic"] == true {
                return true;
            }
            if field.get("properties").is_none() {
                return field.get("type").is_some();
            }
            node = &field["properties"];
        }
        false
    }

    fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(x, &p, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| leaves(x, prefix, out)),
            _ => out.push(prefix.to_owned()),
        }
    }

    /// Every field of every golden ECS event (audit and connection, all shapes) is typed
    /// by the template: a field the normalizer starts writing fails here until typed.
    #[test]
    fn every_field_the_golden_ecs_events_carry_is_typed() {
        let component: Value = serde_json::from_str(COMPONENT).unwrap();
        let mappings = &component["template"]["mappings"];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
        let mut checked = 0;
        let mut untyped = std::collections::BTreeSet::new();
        for dir in [root.clone(), root.join("connection")] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if !path.to_string_lossy().ends_with(".ecs.json") {
                    continue;
                }
                let event: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let mut fields = Vec::new();
                leaves(&event, "", &mut fields);
                for f in fields {
                    // `labels.*` are keyword by the dynamic template, as ECS defines them.
                    if !f.starts_with("labels.") && !typed(mappings, &f) {
                        untyped.insert(f);
                    }
                }
                checked += 1;
            }
        }
        assert!(checked >= 15, "{checked} golden events");
        assert!(untyped.is_empty(), "not in the template: {untyped:?}");
    }
}
