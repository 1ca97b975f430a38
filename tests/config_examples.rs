//! Every example under `config/` is accepted by `validate --offline` (their peers are
//! examples), so what users copy parses and passes every check.

use std::process::Command;

#[test]
fn every_example_config_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        // token_file must exist for validate; point it at a temp file.
        let token = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token.path(), "abc").unwrap();
        let mut run = Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"));
        run.args(["validate", "--offline", "--config"])
            .arg(&path)
            .env("CODER_AUDIT_SHIPPER__CODER__TOKEN_FILE", token.path());
        // So must the postgres store's url_file.
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("url_file") {
            run.env("CODER_AUDIT_SHIPPER__CHECKPOINT__URL_FILE", token.path());
        }
        let out = run.output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 2);
}
