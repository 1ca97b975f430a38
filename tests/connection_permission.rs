//! The connection log read by a user who loses, then regains, the permission to read it.
//!
//! Coder answers such a reader with 200 and an empty list, not a 403
//! (`enterprise/coderd/connectionlog.go`, `connectionLogs`; the simulator does the same).
//! Read as data, the silence moved the cursor past everything recorded meanwhile and made
//! the session sweep give every remembered session up as deleted. The stream now asks
//! `POST /api/v2/authcheck` and waits.

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use coder_audit_shipper::coder::{Cursor, Stream};
use common::Harness;
use serde_json::Value;

fn rows(h: &Harness) -> Vec<Value> {
    std::fs::read_to_string(h.output())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn copies(rows: &[Value], id: &str) -> usize {
    rows.iter().filter(|r| r["id"] == id).count()
}

#[test]
fn nothing_recorded_while_the_permission_was_away_is_lost() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        // A short overlap, so that the cursor would pass the silent stretch within seconds
        // (it closes windows up to now - overlap) and the permission is asked every 2 s.
        let overlap = TimeDelta::seconds(4);
        let mut h = Harness::new(50, overlap);
        h.stream = Stream::Connection;
        let from = Utc::now() - TimeDelta::hours(1);
        let start = Cursor::starting_at(from, Some(from));
        let session = sim.open_session(Utc::now() - TimeDelta::minutes(30));
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        common::drain(&mut tailer, &mut outlet, 30).await.unwrap();
        assert_eq!(copies(&rows(&h), &session), 1, "its connect shipped");

        // The role goes. Meanwhile connections are made and the session ends.
        sim.set_connection_log_permitted(false);
        let t0 = Utc::now();
        let during: Vec<String> = (0..5)
            .map(|i| sim.insert_web_connection(t0 + TimeDelta::milliseconds(i)))
            .collect();
        assert!(sim.close_session(&session, t0));
        // Three overlaps of scans and sweeps while the log looks empty.
        let until = Instant::now() + Duration::from_secs(12);
        let mut waited = 0;
        while Instant::now() < until {
            let report = tailer.step(&mut outlet).await.unwrap();
            waited += usize::from(report.not_permitted);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let while_hidden = rows(&h).len();

        // The role comes back: everything recorded meanwhile ships, once.
        sim.set_connection_log_permitted(true);
        tokio::time::sleep(Duration::from_secs(2)).await;
        common::drain(&mut tailer, &mut outlet, 30).await.unwrap();
        common::drain(&mut tailer, &mut outlet, 30).await.unwrap();
        let after = rows(&h);
        for id in &during {
            assert_eq!(
                copies(&after, id),
                1,
                "{id} was recorded while hidden: {after:#?}"
            );
        }
        assert_eq!(
            copies(&after, &session),
            2,
            "the session's disconnect shipped, not given up as deleted: {after:#?}"
        );
        assert_eq!(after.len(), 1 + during.len() + 1);
        assert_eq!(while_hidden, 1, "nothing shipped while the log was hidden");
        assert!(waited > 0, "the stream said it was not permitted");
    });
}
