//! `[enrich.geoip]`: look-ups in MaxMind-format databases written by the tests
//! (`scripts/geoip-test-dbs.sh`), for IPv4, IPv6, IPv4-mapped, private and unknown
//! addresses, databases that are missing or corrupt, and a database replaced while the
//! old one is open.

#[path = "common/entries.rs"]
mod entries;

use std::net::IpAddr;
use std::path::Path;

use coder_audit_shipper::normalize::geoip::{ASN_KEY, CITY_KEY, GeoIp, Place};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn both(dir: &Path) -> GeoIp {
    GeoIp::open(Some(&dir.join("city.mmdb")), Some(&dir.join("asn.mmdb"))).unwrap()
}

#[test]
fn an_ipv4_address_gets_its_city_region_country_continent_location_and_network_owner() {
    let geo = both(&entries::geoip_databases());
    let place = geo.lookup(ip("89.160.20.128")).expect("placed");
    assert_eq!(
        place,
        Place {
            continent_code: Some("EU".into()),
            continent_name: Some("Europe".into()),
            country_iso_code: Some("SE".into()),
            country_name: Some("Sweden".into()),
            region_iso_code: Some("SE-AB".into()),
            region_name: Some("Stockholm County".into()),
            city_name: Some("Stockholm".into()),
            postal_code: None,
            location: Some((59.3293, 18.0686)),
            timezone: Some("Europe/Stockholm".into()),
            as_number: Some(29518),
            as_organization: Some("Bredband2 AB".into()),
        }
    );
    // The IPv4-mapped form is the same address.
    assert_eq!(geo.lookup(ip("::ffff:89.160.20.128")), Some(place));
}

#[test]
fn an_ipv6_address_is_placed_and_a_country_only_network_has_no_city() {
    let geo = both(&entries::geoip_databases());
    let tokyo = geo.lookup(ip("2001:218:1::5")).expect("placed");
    assert_eq!(tokyo.country_iso_code.as_deref(), Some("JP"));
    assert_eq!(tokyo.city_name.as_deref(), Some("Tokyo"));
    assert_eq!(tokyo.as_number, Some(2914));
    let country_only = geo.lookup(ip("203.0.113.24")).expect("placed");
    assert_eq!(country_only.country_iso_code.as_deref(), Some("AU"));
    assert_eq!(country_only.city_name, None);
    assert_eq!(country_only.region_iso_code, None);
    assert!(country_only.location.is_some());
}

#[test]
fn an_address_in_no_network_or_in_a_private_range_is_not_placed() {
    let geo = both(&entries::geoip_databases());
    assert_eq!(
        geo.lookup(ip("8.8.8.8")),
        None,
        "in no network of either file"
    );
    assert_eq!(geo.lookup(ip("2a00:1450::1")), None);
    for private in [
        "10.20.0.14",
        "172.16.4.20",
        "100.64.1.1",
        "127.0.0.1",
        "fd7a::1",
    ] {
        assert_eq!(geo.lookup(ip(private)), None, "{private}");
    }
}

#[test]
fn either_database_alone_gives_its_own_part() {
    let dir = entries::geoip_databases();
    let asn_only = GeoIp::open(None, Some(&dir.join("asn.mmdb"))).unwrap();
    let place = asn_only.lookup(ip("89.160.20.128")).unwrap();
    assert_eq!(place.as_number, Some(29518));
    assert!(!place.has_geo());
    let city_only = GeoIp::open(Some(&dir.join("city.mmdb")), None).unwrap();
    let place = city_only.lookup(ip("89.160.20.128")).unwrap();
    assert_eq!(place.as_number, None);
    assert!(place.has_geo());
}

#[test]
fn a_missing_or_corrupt_file_is_refused_naming_its_key() {
    let dir = entries::geoip_databases();
    let e = GeoIp::open(Some(&dir.join("corrupt.mmdb")), None).unwrap_err();
    assert_eq!(e.key, CITY_KEY);
    assert!(e.to_string().contains("corrupt.mmdb"), "{e}");
    let e = GeoIp::open(None, Some(&dir.join("absent.mmdb"))).unwrap_err();
    assert_eq!(e.key, ASN_KEY);
    // Not a database at all.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), b"{\"not\": \"an mmdb\"}").unwrap();
    assert!(GeoIp::open(None, Some(junk.path())).is_err());
}

#[test]
fn a_database_replaced_while_open_serves_the_old_data_until_it_is_opened_again() {
    let dir = entries::geoip_databases();
    let live = tempfile::tempdir().unwrap();
    let path = live.path().join("city.mmdb");
    std::fs::copy(dir.join("city.mmdb"), &path).unwrap();
    let before = GeoIp::open(Some(&path), None).unwrap();
    // As geoipupdate does: write the new file beside it, then rename it over the old one.
    let next = live.path().join("city.mmdb.new");
    std::fs::copy(dir.join("city-v2.mmdb"), &next).unwrap();
    std::fs::rename(&next, &path).unwrap();
    let city = |g: &GeoIp| g.lookup(ip("89.160.20.128")).unwrap().city_name;
    assert_eq!(
        city(&before).as_deref(),
        Some("Stockholm"),
        "the open mapping"
    );
    let after = GeoIp::open(Some(&path), None).unwrap();
    assert_eq!(city(&after).as_deref(), Some("Solna"), "reopened (SIGHUP)");
    assert_eq!(city(&before).as_deref(), Some("Stockholm"));
}

mod in_events {
    use super::entries;
    use coder_audit_shipper::coder::AuditEntry;
    use coder_audit_shipper::normalize::{ClassStrategy, Normalizer, OcsfVersion, Target};
    use serde_json::{Value, json};

    /// A login from `ip`, in `target`, with both test databases.
    fn event(target: Target, ip: &str) -> Value {
        let mut entry = entries::generated("api_key", "login", 0);
        entry["ip"] = json!(ip);
        let parsed = AuditEntry::parse(&entry.to_string());
        Normalizer::new(target, entries::enrichment_with_geoip(), None)
            .to_values(&parsed, chrono::Utc::now())
            .remove(0)
    }

    fn ocsf(version: OcsfVersion) -> Target {
        Target::Ocsf {
            version,
            classes: ClassStrategy::Semantic,
        }
    }

    #[test]
    fn ecs_gets_source_geo_and_source_as() {
        let e = event(Target::Ecs, "89.160.20.128");
        assert_eq!(
            e["source"]["geo"],
            json!({
                "continent_code": "EU", "continent_name": "Europe",
                "country_iso_code": "SE", "country_name": "Sweden",
                "region_iso_code": "SE-AB", "region_name": "Stockholm County",
                "city_name": "Stockholm", "location": {"lat": 59.3293, "lon": 18.0686},
                "timezone": "Europe/Stockholm"
            })
        );
        assert_eq!(
            e["source"]["as"],
            json!({"number": 29518, "organization": {"name": "Bredband2 AB"}})
        );
        // IPv4-mapped IPv6, as Coder records some: unwrapped, then placed.
        let mapped = event(Target::Ecs, "::ffff:89.160.20.128");
        assert_eq!(mapped["source"]["geo"], e["source"]["geo"]);
    }

    #[test]
    fn ocsf_1_8_gets_location_with_lat_long_and_the_autonomous_system() {
        let e = event(ocsf(OcsfVersion::V1_8_0), "2001:218:1::5");
        let src = &e["src_endpoint"];
        assert_eq!(src["location"]["city"], "Tokyo");
        assert_eq!(src["location"]["country"], "JP");
        assert_eq!(src["location"]["region"], "JP-13");
        assert_eq!(src["location"]["continent"], "Asia");
        assert_eq!(src["location"]["lat"], 35.6895);
        assert_eq!(src["location"]["long"], 139.6917);
        assert!(
            src["location"].get("coordinates").is_none(),
            "deprecated in 1.8.0"
        );
        assert_eq!(
            src["autonomous_system"],
            json!({"number": 2914, "name": "NTT America, Inc."})
        );
    }

    #[test]
    fn ocsf_1_1_gets_location_with_coordinates_and_no_autonomous_system() {
        let e = event(ocsf(OcsfVersion::V1_1_0), "89.160.20.128");
        let src = &e["src_endpoint"];
        assert_eq!(
            src["location"]["coordinates"],
            json!([18.0686, 59.3293]),
            "GeoJSON order"
        );
        assert_eq!(src["location"]["city"], "Stockholm");
        assert!(
            src.get("autonomous_system").is_none(),
            "OCSF 1.1.0 has no such object"
        );
    }

    #[test]
    fn cef_gets_the_source_coordinates() {
        let mut entry = entries::generated("api_key", "login", 0);
        entry["ip"] = json!("89.160.20.128");
        let parsed = AuditEntry::parse(&entry.to_string());
        let line = Normalizer::new(Target::Cef, entries::enrichment_with_geoip(), None)
            .encode(&parsed, chrono::Utc::now())
            .remove(0)
            .payload;
        let line = String::from_utf8(line).unwrap();
        assert!(line.contains(" slat=59.3293 slong=18.0686"), "{line}");
    }

    #[test]
    fn private_and_unknown_addresses_and_no_databases_add_nothing() {
        for ip in ["10.20.0.14", "8.8.8.8", "127.0.0.1"] {
            let e = event(Target::Ecs, ip);
            assert!(
                e["source"].get("geo").is_none() && e["source"].get("as").is_none(),
                "{ip}: {e}"
            );
            let o = event(ocsf(OcsfVersion::V1_8_0), ip);
            assert!(o["src_endpoint"].get("location").is_none(), "{ip}");
        }
        let mut entry = entries::generated("api_key", "login", 0);
        entry["ip"] = json!("89.160.20.128");
        let parsed = AuditEntry::parse(&entry.to_string());
        let plain = Normalizer::new(Target::Ecs, entries::enrichment(), None)
            .to_values(&parsed, chrono::Utc::now())
            .remove(0);
        assert!(
            plain["source"].get("geo").is_none(),
            "no [enrich.geoip]: no look-up"
        );
    }
}

/// `validate --offline` opens the databases: a missing or corrupt one fails naming its
/// key (a SIGHUP reload refuses the new config the same way, keeping the running one).
#[test]
fn validate_refuses_a_missing_or_corrupt_database_naming_its_key() {
    let dbs = entries::geoip_databases();
    let dir = tempfile::tempdir().unwrap();
    let run = |city: &Path, asn: &Path| {
        let cfg = dir.path().join("shipper.toml");
        std::fs::write(
            &cfg,
            format!(
                "[coder]\nurl = \"https://coder.example.com\"\ntoken = \"t\"\n\
                 [checkpoint]\ndir = \"{state}\"\n\
                 [enrich.geoip]\ncity_database = \"{city}\"\nasn_database = \"{asn}\"\n\
                 [sinks.archive]\ntype = \"file\"\npath = \"{out}\"\nformat = \"ecs\"\n",
                state = dir.path().join("state").display(),
                city = city.display(),
                asn = asn.display(),
                out = dir.path().join("out.ndjson").display(),
            ),
        )
        .unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args(["validate", "--offline", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    };
    let (ok, text) = run(&dbs.join("city.mmdb"), &dbs.join("asn.mmdb"));
    assert!(ok, "{text}");
    let (ok, text) = run(&dbs.join("corrupt.mmdb"), &dbs.join("asn.mmdb"));
    assert!(!ok);
    assert!(text.contains("enrich.geoip.city_database"), "{text}");
    let (ok, text) = run(&dbs.join("city.mmdb"), &dir.path().join("gone.mmdb"));
    assert!(!ok);
    assert!(
        text.contains("enrich.geoip.asn_database") && text.contains("gone.mmdb"),
        "{text}"
    );
}

/// Connection-log rows are placed too, in each format.
mod in_connection_events {
    use super::entries;
    use coder_audit_shipper::coder::{ConnectionEvent, ConnectionLog, Phase};
    use coder_audit_shipper::normalize::{ClassStrategy, Normalizer, OcsfVersion, Target};
    use serde_json::{Value, json};

    fn row(ip: &str) -> ConnectionLog {
        ConnectionLog::parse(
            &json!({
                "id": "0a6f0c1e-0000-4000-8000-000000000001",
                "connect_time": "2026-08-20T10:00:00Z",
                "organization": {"id": "d8a5c1e2-0000-4000-8000-000000000002", "name": "coder"},
                "workspace_owner_id": "7a0b1c2d-0000-4000-8000-000000000003",
                "workspace_owner_username": "alice",
                "workspace_id": "3f7e8d9c-0000-4000-8000-000000000004",
                "workspace_name": "dev",
                "agent_name": "main",
                "ip": ip,
                "type": "ssh",
                "ssh_info": {"connection_id": "c0ffee00-0000-4000-8000-000000000005"}
            })
            .to_string(),
        )
    }

    fn payloads(target: Target, ip: &str) -> Vec<Vec<u8>> {
        let event = ConnectionEvent {
            log: row(ip),
            phase: Phase::Connect,
        };
        let encoded = Normalizer::new(target, entries::enrichment_with_geoip(), None)
            .encode_connection(&event, chrono::Utc::now())
            .into_iter()
            .map(|(_, e)| e.payload)
            .collect::<Vec<_>>();
        assert!(!encoded.is_empty(), "an ssh connect is one event");
        encoded
    }

    #[test]
    fn an_ssh_session_from_a_public_address_is_placed_in_ecs_ocsf_and_cef() {
        for payload in payloads(Target::Ecs, "89.160.20.128") {
            let e: Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(e["source"]["geo"]["city_name"], "Stockholm");
            assert_eq!(e["source"]["as"]["number"], 29518);
        }
        let target = Target::Ocsf {
            version: OcsfVersion::V1_8_0,
            classes: ClassStrategy::Semantic,
        };
        for payload in payloads(target, "2001:218:1::5") {
            let e: Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(e["src_endpoint"]["location"]["country"], "JP");
            assert_eq!(e["src_endpoint"]["autonomous_system"]["number"], 2914);
        }
        for payload in payloads(Target::Cef, "89.160.20.128") {
            let line = String::from_utf8(payload).unwrap();
            assert!(line.contains(" slat=59.3293 slong=18.0686"), "{line}");
        }
        for payload in payloads(Target::Ecs, "10.0.3.7") {
            let e: Value = serde_json::from_slice(&payload).unwrap();
            assert!(e["source"].get("geo").is_none(), "a private address: {e}");
        }
    }
}

mod common;

/// Through `run`: events are placed from the start; a database replaced by rename (as
/// geoipupdate does) is read after SIGHUP; a database that went bad is refused at the
/// next SIGHUP, and the running one goes on placing events. No event lost or repeated.
#[test]
fn sighup_reopens_a_replaced_database_and_keeps_the_old_one_when_the_new_is_corrupt() {
    use chrono::{DateTime, Utc};
    use common::delivered;
    use std::time::Duration;

    let dbs = entries::geoip_databases();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(200, Duration::from_secs(3_600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let live_db = dir.path().join("city.mmdb");
    // Replace the live file as geoipupdate does: a new file beside it, renamed over it.
    let install = |from: &str| {
        let next = dir.path().join("city.mmdb.new");
        std::fs::copy(dbs.join(from), &next).unwrap();
        std::fs::rename(&next, &live_db).unwrap();
    };
    install("city.mmdb");
    let out = dir.path().join("ecs.ndjson");
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        100,
        &format!(
            "{}[enrich.geoip]\ncity_database = \"{}\"\n\n[sinks.siem]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n",
            common::scrape::SERVER,
            live_db.display(),
            out.display()
        ),
    );
    let mut child = common::spawn_run(&cfg);
    let live = common::spawn_live(&rt, &sim, 20.0);
    // The simulator's client address is 203.0.113.24: AU in city.mmdb, NZ in city-v2.mmdb.
    let countries = || -> Vec<String> {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|e| {
                e["source"]["geo"]["country_iso_code"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    };
    let count = |code: &str| countries().iter().filter(|c| *c == code).count();
    assert!(
        common::wait_until(Duration::from_secs(30), || count("AU") >= 100),
        "{}",
        common::run_log(&cfg)
    );
    // Each look-up is counted by its result; the simulator's IPv6 rows are private.
    for (result, min) in [("placed", 100.0), ("not_looked_up", 1.0)] {
        let (reached, metrics) = common::scrape::wait_for_metric(
            &cfg,
            "enrich_geoip_lookups_total",
            &[&format!("result=\"{result}\"")],
            min,
        );
        assert!(reached, "{result}:\n{metrics}");
    }
    let hup = || {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };

    install("city-v2.mmdb");
    hup();
    assert!(
        common::wait_until(Duration::from_secs(30), || count("NZ") >= 20),
        "the new database is read after SIGHUP\n{}",
        common::run_log(&cfg)
    );

    install("corrupt.mmdb");
    hup();
    assert!(common::wait_until(Duration::from_secs(10), || {
        let log = common::run_log(&cfg);
        log.contains("the new config is refused") && log.contains("enrich.geoip.city_database")
    }));
    let placed = count("NZ");
    assert!(
        common::wait_until(Duration::from_secs(10), || count("NZ") > placed + 10),
        "the open database goes on placing events\n{}",
        common::run_log(&cfg)
    );
    live.abort();
    let all: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let caught_up = common::wait_until(Duration::from_secs(30), || {
        let (got, _) = delivered::distinct(&delivered::file(&out));
        all.iter().all(|id| got.contains(id))
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(caught_up, "{log}");
    assert!(status.success(), "{status}\n{log}");
    let t = common::tally(&sim, &delivered::file(&out), DateTime::<Utc>::MIN_UTC);
    assert!(t.lost.is_empty(), "lost {:?}", t.lost);
    assert_eq!(t.duplicates, 0, "a reload sent events twice");
    assert_eq!(
        log.matches("enrich.geoip.city_database").count(),
        1,
        "one line for the refused reload\n{log}"
    );
}
