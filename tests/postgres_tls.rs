//! The postgres checkpoint store over TLS, against the PostgreSQL peer (ssl=on, a server
//! certificate signed by a throwaway CA; `tests/peers/start-postgres.sh`). Before, the
//! store connected in clear text only and `sslmode=require` in the URL failed: anyone on
//! the path could rewrite checkpoints and move a cursor past events.

mod common;

use coder_audit_shipper::checkpoint::CheckpointStore;
use coder_audit_shipper::checkpoint::postgres::PostgresStore;
use coder_audit_shipper::coder::Cursor;
use coder_audit_shipper::secret::Secret;

fn with(url: &str, params: &str) -> Secret {
    let sep = if url.contains('?') { '&' } else { '?' };
    Secret::new(format!("{url}{sep}{params}"))
}

#[test]
fn verify_full_with_the_ca_connects_and_without_it_is_refused() {
    let url = common::peers::postgres();
    let ca = common::peers::postgres_ca_file();
    let rt = common::runtime();
    rt.block_on(async {
        let schema = format!("tls_{}", std::process::id());
        let store = PostgresStore::open(
            &with(&url, &format!("sslmode=verify-full&sslrootcert={ca}")),
            &schema,
        )
        .await
        .expect("verify-full with the CA connects");
        // The store works over it.
        let key = coder_audit_shipper::checkpoint::CheckpointKey::run("tls");
        let cursor = Cursor::starting_at(chrono::Utc::now(), None);
        let saved = tokio::task::spawn_blocking(move || {
            store.save(&key, &cursor)?;
            store.load(&key)
        })
        .await
        .unwrap()
        .expect("save and load over TLS");
        assert!(saved.is_some());

        // The system's roots alone do not know the test CA.
        let err = PostgresStore::open(&with(&url, "sslmode=verify-full"), &schema)
            .await
            .err()
            .expect("an unknown CA is refused")
            .to_string();
        assert!(err.to_lowercase().contains("certificate"), "{err}");
        assert!(!err.contains("shipper-test-password"), "{err}");

        // A mode that falls back to clear text is refused before connecting.
        let err = PostgresStore::open(&with(&url, "sslmode=prefer"), &schema)
            .await
            .err()
            .expect("prefer is refused")
            .to_string();
        assert!(err.contains("prefer"), "{err}");
    });
}
