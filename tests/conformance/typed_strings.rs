//! Values Coder really carries that break an OCSF typed string (`email_t`, `ip_t`,
//! `hostname_t`, `mac_t`): every one of them, in every row shape it can travel in, must
//! still give valid ECS, OCSF 1.8.0 and OCSF 1.1.0, with the odd value kept, unchanged,
//! where the schema allows any string.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use coder_audit_shipper::coder::{ConnectionEvent, ConnectionLog, Phase};
use coder_audit_shipper::normalize::{ClassStrategy, Normalizer, OcsfVersion, Target};
use serde_json::{Value, json};

use super::{check_entry, ecs_check, entries, ocsf_problems, schemas, targets};

/// E-mails: IDN local parts and domains, Coder's dotless system users, RFC 5322 atext
/// only 1.8.0 admits, and ordinary ones.
const EMAILS: [&str; 10] = [
    "zoë.angstrom@acme.example",
    "prebuilds@system",
    "alice@bücher.example",
    "o'brien@acme.example",
    "a.b+tag@sub.acme.co.uk",
    "root@localhost",
    "UPPER@ACME.EXAMPLE",
    "\"quoted\"@acme.example",
    "two@at@signs.example",
    "",
];

/// What Coder's `ip` (an `inet` column, or text from a proxy header) can hold: zone ids,
/// IPv4-mapped addresses, ports, prefixes, MACs in every notation, padding.
const ADDRESSES: [&str; 13] = [
    "fe80::1%eth0",
    "::ffff:10.0.0.1",
    "10.0.0.1:443",
    "[2001:db8::1]:22",
    "2001:db8::1/64",
    "00:1a:2b:3c:4d:5e",
    "00-1A-2B-3C-4D-5E",
    "001a.2b3c.4d5e",
    " 127.0.0.1 ",
    "0.0.0.0",
    "::",
    "10.0.0.256",
    "",
];

/// Workspace and target names: an underscore, a dot, a leading dash, non-ASCII, a space.
const NAMES: [&str; 5] = ["my_ws", "ws.acme.example", "-dash", "ünïcode", "a b"];

/// Every failure, or the first ten of them, in the assertion's message.
fn assert_no_failures(failures: &[String]) {
    let first: Vec<&str> = failures.iter().take(10).map(String::as_str).collect();
    assert!(
        failures.is_empty(),
        "{} failures, first ones:\n{}",
        failures.len(),
        first.join("\n")
    );
}

#[test]
fn odd_e_mails_addresses_and_names_give_valid_events_in_every_target() {
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    let mut count = 0;
    let shapes = [
        ("api_key", "login"),
        ("user", "create"),
        ("organization_member", "write"),
        ("group", "write"),
        ("workspace", "start"),
    ];
    for (i, email) in EMAILS.iter().enumerate() {
        for (j, address) in ADDRESSES.iter().enumerate() {
            let (rt, action) = shapes[(i + j) % shapes.len()];
            let mut entry = entries::generated(rt, action, 0);
            entry["user"]["email"] = json!(email);
            entry["ip"] = json!(address);
            let name = NAMES[(i + j) % NAMES.len()];
            entry["additional_fields"]["workspace_name"] = json!(name);
            entry["resource_target"] = json!(name);
            failures.extend(check_entry(
                &format!("{rt}.{action} email {email:?} ip {address:?} name {name:?}"),
                &entry,
                &mut seen,
            ));
            count += 1;
        }
    }
    assert!(count >= 130, "{count}");
    assert_no_failures(&failures);
}

#[test]
fn odd_values_in_connection_rows_give_valid_events_in_every_target() {
    let read_at = Utc.with_ymd_and_hms(2026, 8, 21, 0, 0, 0).unwrap();
    let t = Utc.with_ymd_and_hms(2026, 8, 20, 10, 0, 0).unwrap();
    let mut rng = rand::rng();
    let mut failures = Vec::new();
    let mut count = 0;
    for (i, email) in EMAILS.iter().enumerate() {
        for (j, address) in ADDRESSES.iter().enumerate() {
            let session = (i + j) % 2 == 0;
            let mut row = coder_sim::connections::row(
                coder_sim::ApiVersion { minor: 36 },
                &format!("id-{i}-{j}"),
                t,
                session,
                &mut rng,
            )
            .value;
            row["ip"] = json!(address);
            row["workspace_name"] = json!(NAMES[(i + j) % NAMES.len()]);
            row["web_info"] = json!({
                "user_agent": "Mozilla/5.0",
                "user": {"id": "7a0b1c2d-0000-4000-8000-000000000003", "username": "alice", "email": email},
                "slug_or_port": "code-server",
                "status_code": 200,
            });
            let log = ConnectionLog::parse(&row.to_string());
            let event = ConnectionEvent {
                log,
                phase: Phase::Connect,
            };
            for (name, target) in targets() {
                for (_, e) in Normalizer::new(target, entries::enrichment(), None)
                    .encode_connection(&event, read_at)
                {
                    count += 1;
                    let doc: Value = serde_json::from_slice(&e.payload).unwrap();
                    let problems = match target {
                        Target::Ecs => ecs_check::check(&doc, &schemas().ecs_fields),
                        _ => ocsf_problems(&doc),
                    };
                    if !problems.is_empty() {
                        failures.push(format!(
                            "email {email:?} ip {address:?} [{name}]: {}\n    event: {doc}",
                            problems.join("; ")
                        ));
                    }
                }
            }
        }
    }
    assert!(count >= 600, "{count}");
    assert_no_failures(&failures);
}

#[test]
fn an_e_mail_that_breaks_email_t_is_kept_unchanged_under_unmapped() {
    let read_at = Utc.with_ymd_and_hms(2026, 8, 21, 0, 0, 0).unwrap();
    for version in [OcsfVersion::V1_8_0, OcsfVersion::V1_1_0] {
        let target = Target::Ocsf {
            version,
            classes: ClassStrategy::Semantic,
        };
        for (email, typed) in [
            ("prebuilds@system", false),
            ("zoë.angstrom@acme.example", false),
            ("alice@acme.example", true),
        ] {
            let mut entry = entries::generated("api_key", "login", 0);
            entry["user"]["email"] = json!(email);
            let parsed = coder_audit_shipper::coder::AuditEntry::parse(&entry.to_string());
            let event = &Normalizer::new(target, entries::enrichment(), None)
                .to_values(&parsed, read_at)[0];
            let attribute = &event["actor"]["user"]["email_addr"];
            let unmapped = &event["unmapped"]["coder"]["actor_email"];
            if typed {
                assert_eq!((attribute, unmapped), (&json!(email), &Value::Null));
            } else {
                assert_eq!(
                    (attribute, unmapped),
                    (&Value::Null, &json!(email)),
                    "{event}"
                );
            }
        }
        // 1.8.0 admits an apostrophe in the local part; 1.1.0 does not.
        let mut entry = entries::generated("api_key", "login", 0);
        entry["user"]["email"] = json!("o'brien@acme.example");
        let parsed = coder_audit_shipper::coder::AuditEntry::parse(&entry.to_string());
        let event =
            &Normalizer::new(target, entries::enrichment(), None).to_values(&parsed, read_at)[0];
        assert_eq!(
            event["actor"]["user"]["email_addr"].is_string(),
            version == OcsfVersion::V1_8_0,
            "{event}"
        );
    }
}
