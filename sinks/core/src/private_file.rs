//! Files of audit data, opened so that only the shipper's user reads them.
//!
//! The file sink's output and the dead-letter files hold the whole audit trail (who did
//! what, from where). They are created `0600` in directories created `0700`, as the
//! checkpoints are; a file that already exists keeps the mode it has (an operator may have
//! opened it to a log shipper's group on purpose). A symlink where the file should be is
//! refused (`O_NOFOLLOW`): whoever can write the directory must not redirect the trail.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Create `dir` and its missing parents, `0700`.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Open `path` to append (and read), creating it `0600`; a symlink there is an error.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            std::io::Error::other(format!(
                "{} is a symbolic link; audit data is not written through one",
                path.display()
            ))
        } else {
            e
        }
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn new_files_and_directories_are_the_owner_s_only_and_symlinks_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("audit.ndjson");
        open_append(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        let link = dir.join("link.ndjson");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let err = open_append(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
