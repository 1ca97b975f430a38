//! Coder's license, watched: without the `audit_log` entitlement Coder installs a no-op
//! auditor and the audit API keeps answering 200 with nothing new, which looks exactly like
//! a quiet deployment. So the shipper asks `/api/v2/entitlements` now and then, exposes the
//! answer as `coder_audit_log_entitled`, and says so in the log when it changes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::coder::CoderClient;

/// How often to ask. License changes are rare; a scrape sees the gauge meanwhile.
const EVERY: Duration = Duration::from_secs(300);

/// Ask until `shutdown` turns true.
pub async fn watch(client: Arc<CoderClient>, mut shutdown: watch::Receiver<bool>) {
    let mut last: Option<Option<bool>> = None;
    loop {
        let now = tokio::select! {
            r = client.audit_entitlement() => r,
            _ = shutdown.changed() => return,
        };
        let state = match now {
            Ok(Some((entitlement, enabled))) => {
                let entitled = enabled && entitlement != "not_entitled";
                crate::ops::metrics::audit_entitled(entitled);
                if last != Some(Some(entitled)) {
                    if entitled {
                        tracing::info!(entitlement, "Coder's license covers audit logging");
                    } else {
                        tracing::warn!(
                            entitlement,
                            enabled,
                            "Coder's license does not cover audit logging: Coder records no new audit entries until it does"
                        );
                    }
                }
                Some(entitled)
            }
            Ok(None) => {
                if last != Some(None) {
                    tracing::warn!(
                        "Coder has no /api/v2/entitlements (an AGPL build): it records audit entries only with a Premium license"
                    );
                }
                None
            }
            Err(e) => {
                tracing::warn!("reading Coder's entitlements: {e}");
                last.flatten()
            }
        };
        last = Some(state);
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
