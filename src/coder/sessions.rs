//! Connection sessions: the rows of Coder's connection log that change after they are read.
//!
//! An SSH-like session (ssh, vscode, jetbrains, reconnecting_pty) is one row, written when
//! it opens and updated in place when it ends (`ssh_info.disconnect_time`, reason, exit
//! code). The tailer ships the connect when it first reads a row; a row still open then
//! is remembered in the cursor ([`OpenSession`]) and looked at again (every
//! `session_poll_interval`, after a scan) until its disconnect shows, which is shipped as a
//! second event. The cursor is checkpointed
//! only after that delivery, so a restart between the two moments still ships the second.
//!
//! Re-reading is kept cheap: one query lists the sessions still open
//! (`status:ongoing`, a short list however busy the deployment is), and only a remembered
//! session missing from it is fetched again, by its `connection_id`. A session is
//! remembered for at most the horizon after its connect: agents that die never report a
//! disconnect, and the cursor must stay bounded. Sessions given up that way, and rows
//! deleted before their end was seen, are counted and logged.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::budget::Purpose;
use super::connection::Phase;
use super::oversize;
use super::page::Entry;
use super::permission::PermissionGate;
use super::stream::filter_time;
use super::{
    CoderClient, Cursor, EntryKey, Event, KeySet, OpenSession, Outlet, Stream, TailError,
    TailerOptions,
};

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Disconnects delivered.
    pub closed: usize,
    /// Sessions given up: open longer than the horizon, or their row deleted.
    pub abandoned: usize,
    /// Requests made.
    pub requests: usize,
    /// Sessions looked gone, and Coder says the token may no longer read the log: nothing
    /// was given up or delivered (the rows are hidden, not deleted).
    pub not_permitted: bool,
}

/// Set the phase of a connection row read for the first time, and remember it when it is
/// a session that is still open. Returns false when an open session is too old to be
/// remembered (connected before `horizon_start`): its disconnect will not be shipped.
pub(super) fn first_sight(
    event: &mut Event,
    cursor: &mut Cursor,
    horizon_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let Entry::Connection(c) = &mut event.entry else {
        return true;
    };
    if c.log.is_closed() {
        c.phase = Phase::ConnectAndDisconnect;
        return true;
    }
    // A web connection has one moment only. A session is looked up again by its
    // `connection_id`, which Coder's filter takes only as a UUID (anything else is a 400).
    let Some(connection_id) = c
        .log
        .connection_id()
        .filter(|id| uuid::Uuid::try_parse(id).is_ok())
    else {
        return true;
    };
    // A row whose time does not parse is still followed, from now.
    let connect_time = event.time.unwrap_or(now);
    if connect_time < horizon_start {
        return false;
    }
    cursor.sessions.insert(
        event.key.clone(),
        OpenSession {
            connection_id: connection_id.to_owned(),
            connect_time,
        },
    );
    true
}

/// Sessions connected longer ago than this are looked at again only on an old sweep (see
/// [`sweep`]): agents drop reports when their queue is full and nothing in Coder closes
/// such rows, so `status:ongoing` grows with sessions that will never end, and paging
/// through all of them every few seconds would cost more than everything else.
pub(super) const YOUNG: TimeDelta = TimeDelta::days(1);

/// How many sweeps of the young sessions come before one that looks at them all.
pub(super) const OLD_SWEEP_EVERY: u32 = 30;

/// Look again at the remembered sessions (connected within [`YOUNG`], or with `old` all of
/// them), deliver the disconnects that appeared, forget what the horizon passed, and
/// commit the cursor if anything changed.
pub(super) async fn sweep<O: Outlet>(
    client: &Arc<CoderClient>,
    permission: &mut PermissionGate,
    cursor: &mut Cursor,
    outlet: &mut O,
    options: &TailerOptions,
    now: DateTime<Utc>,
    old: bool,
) -> Result<SweepReport, TailError<O::Error>> {
    let (page_size, overlap, horizon) =
        (options.page_size, options.overlap, options.session_horizon);
    let mut report = SweepReport::default();
    if cursor.sessions.is_empty() {
        return Ok(report);
    }
    let horizon_start = now - horizon;
    let before = cursor.sessions.len();
    cursor
        .sessions
        .retain(|_, s| s.connect_time >= horizon_start);
    let expired = before - cursor.sessions.len();
    if expired > 0 {
        crate::ops::metrics::sessions_abandoned("horizon", expired as u64);
        tracing::warn!(
            sessions = expired,
            horizon = ?horizon.to_std().unwrap_or_default(),
            "connection sessions still open after coder.session_horizon: their disconnects will not be shipped"
        );
        report.abandoned += expired;
    }
    let young_from = now - YOUNG;
    let looked_at = |s: &OpenSession| old || s.connect_time >= young_from;
    let Some(oldest) = cursor
        .sessions
        .values()
        .filter(|s| looked_at(s))
        .map(|s| s.connect_time)
        .min()
    else {
        if expired > 0 {
            outlet.commit(cursor).await.map_err(TailError::Outlet)?;
        }
        return Ok(report);
    };

    // Which remembered sessions Coder still lists as open. Offset paging can skip a row
    // that moved up while we paged; such a row is fetched below and found still open.
    let query = format!(
        "status:ongoing connected_after:{}",
        filter_time(oldest - overlap)
    );
    let limit = page_size.max(1);
    let mut still_open = KeySet::default();
    let mut offset = 0u64;
    loop {
        let fetched = oversize::fetch(
            client,
            Stream::Connection,
            Purpose::Sessions,
            &query,
            offset,
            limit,
            false,
        )
        .await?;
        report.requests += 1;
        let n = fetched.page.events.len();
        still_open.extend(fetched.page.events.into_iter().map(|e| e.key));
        if n < fetched.rows_asked as usize {
            break;
        }
        offset += u64::from(fetched.rows_asked);
    }

    let mut candidates: Vec<(EntryKey, OpenSession)> = cursor
        .sessions
        .iter()
        .filter(|(k, s)| looked_at(s) && !still_open.contains(*k))
        .map(|(k, s)| (k.clone(), s.clone()))
        .collect();
    candidates.sort_by_key(|(_, s)| s.connect_time);
    let mut disconnects = Vec::new();
    let mut gone = Vec::new();
    for (key, session) in candidates {
        // A connection id is unique per workspace and agent only: page until the row.
        let query = format!("connection_id:{}", session.connection_id);
        let mut offset = 0u64;
        let mut rows_seen = 0usize;
        let mut row = loop {
            let fetched = oversize::fetch(
                client,
                Stream::Connection,
                Purpose::Sessions,
                &query,
                offset,
                limit,
                false,
            )
            .await?;
            report.requests += 1;
            let n = fetched.page.events.len();
            rows_seen += n;
            let found = fetched.page.events.into_iter().find(|e| e.key == key);
            if found.is_some() || n < fetched.rows_asked as usize {
                break found;
            }
            offset += u64::from(fetched.rows_asked);
        };
        // Offsets are not stable: a row deleted while we paged pulls the rest up, and the
        // sought row can slip past a page boundary unseen. "Gone" is final (the session is
        // given up), so a miss over several pages is confirmed by one request that holds
        // them all, which no delete can split.
        if row.is_none() && offset > 0 {
            let all = u32::try_from(rows_seen + limit as usize).unwrap_or(u32::MAX);
            let fetched = oversize::fetch(
                client,
                Stream::Connection,
                Purpose::Sessions,
                &query,
                0,
                all,
                true,
            )
            .await?;
            report.requests += 1;
            row = fetched.page.events.into_iter().find(|e| e.key == key);
        }
        match row {
            Some(mut event) => {
                let closed = matches!(&event.entry, Entry::Connection(c) if c.log.is_closed());
                if closed {
                    if let Entry::Connection(c) = &mut event.entry {
                        c.phase = Phase::Disconnect;
                    }
                    disconnects.push(event);
                }
            }
            None => gone.push(key),
        }
    }
    // Rows hidden by a permission taken away look exactly like rows deleted: ask before
    // giving any session up (`super::permission`).
    if !gone.is_empty() && !permission.check(client).await? {
        report.not_permitted = true;
        return Ok(report);
    }
    if !gone.is_empty() {
        crate::ops::metrics::sessions_abandoned("deleted", gone.len() as u64);
        tracing::warn!(
            sessions = gone.len(),
            "connection-log rows of open sessions are gone from Coder (retention?): their disconnects will not be shipped"
        );
        report.abandoned += gone.len();
        for key in &gone {
            cursor.sessions.remove(key);
        }
    }
    if !disconnects.is_empty() {
        report.closed = disconnects.len();
        let keys: Vec<EntryKey> = disconnects.iter().map(|e| e.key.clone()).collect();
        outlet
            .deliver(disconnects)
            .await
            .map_err(TailError::Outlet)?;
        for key in &keys {
            cursor.sessions.remove(key);
        }
    }
    if report.closed > 0 || report.abandoned > 0 {
        outlet.commit(cursor).await.map_err(TailError::Outlet)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coder::{EntryKey, parse_stream_page};
    use chrono::TimeDelta;

    fn event(row: &str) -> Event {
        let page = format!(r#"{{"connection_logs":[{row}]}}"#);
        parse_stream_page(Stream::Connection, page.into())
            .unwrap()
            .events
            .remove(0)
    }

    fn phase(e: &Event) -> Phase {
        match &e.entry {
            Entry::Connection(c) => c.phase,
            Entry::Audit(_) => unreachable!(),
        }
    }

    #[test]
    fn first_sight_remembers_only_open_sessions_it_can_look_up_again() {
        let now = Utc::now();
        let horizon_start = now - TimeDelta::days(7);
        let mut cursor = Cursor::starting_at(now, None);
        let t = (now - TimeDelta::hours(1)).to_rfc3339();
        let cid = "026c8c11-fc5c-4df8-a286-5fe6d7f54f98";

        let mut open = event(&format!(
            r#"{{"id":"a","connect_time":"{t}","type":"ssh","ssh_info":{{"connection_id":"{cid}"}}}}"#
        ));
        assert!(first_sight(&mut open, &mut cursor, horizon_start, now));
        assert_eq!(phase(&open), Phase::Connect);
        assert_eq!(cursor.sessions[&EntryKey::from_id("a")].connection_id, cid);

        let mut closed = event(&format!(
            r#"{{"id":"b","connect_time":"{t}","type":"ssh","ssh_info":{{"connection_id":"{cid}","disconnect_time":"{t}"}}}}"#
        ));
        assert!(first_sight(&mut closed, &mut cursor, horizon_start, now));
        assert_eq!(phase(&closed), Phase::ConnectAndDisconnect);

        // Coder would answer 400 to `connection_id:not-a-uuid`: shipped, not followed.
        let mut odd = event(&format!(
            r#"{{"id":"c","connect_time":"{t}","type":"ssh","ssh_info":{{"connection_id":"not-a-uuid"}}}}"#
        ));
        assert!(first_sight(&mut odd, &mut cursor, horizon_start, now));
        let mut web = event(&format!(
            r#"{{"id":"d","connect_time":"{t}","type":"workspace_app","web_info":{{"status_code":200}}}}"#
        ));
        assert!(first_sight(&mut web, &mut cursor, horizon_start, now));

        let old = (now - TimeDelta::days(8)).to_rfc3339();
        let mut stale = event(&format!(
            r#"{{"id":"e","connect_time":"{old}","type":"ssh","ssh_info":{{"connection_id":"{cid}"}}}}"#
        ));
        assert!(!first_sight(&mut stale, &mut cursor, horizon_start, now));
        assert_eq!(cursor.sessions.len(), 1, "{:?}", cursor.sessions);
    }
}
