//! Config errors a person can act on: serde's words, plus the closest valid name for a
//! misspelt one, what to write for a number where a duration belongs, and the environment
//! variable an error came from when it was not the file.

use super::ENV_PREFIX;

/// `message`, with a hint where one helps.
pub(super) fn explain(message: &str) -> String {
    // config-rs repeats the key the error already names.
    let message = match message.rfind(" for key `") {
        Some(i) if message.ends_with('`') => &message[..i],
        _ => message,
    };
    if let Some(hint) = duration_hint(message) {
        return hint;
    }
    match closest(message) {
        Some(name) => format!("{message}; did you mean `{name}`?"),
        None => message.to_owned(),
    }
}

/// serde's "unknown variant `ocfs`, expected one of `raw`, `ecs`, `ocsf`" (or `field`):
/// the expected name nearest the one given, when it is near enough to be a typo.
fn closest(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown variant ")
        .or_else(|| message.strip_prefix("unknown field "))?;
    let mut names = rest.split('`').skip(1).step_by(2);
    let given = names.next()?;
    let limit = (given.chars().count() / 3).max(2);
    names
        .map(|n| (strsim::damerau_levenshtein(given, n), n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// A bare number where a duration belongs (`poll_interval = 2`): which unit it lacks.
fn duration_hint(message: &str) -> Option<String> {
    if !message.ends_with("expected a duration") {
        return None;
    }
    let number: String = message
        .split(['"', '`'])
        .nth(1)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!number.is_empty())
        .then(|| format!("a number is not a duration: write \"{number}s\" (or ms, m, h, d)"))
}

/// Where `key` was set: the environment variable that overrides it in `file`, when one is
/// set (`CODER_AUDIT_SHIPPER__CODER__PAGESIZE` for `coder.pagesize`), else `file` and the
/// line of `text`, its contents, where the key is.
pub(super) fn source_of(key: &str, file: &str, text: &str) -> String {
    let segments: Vec<String> = key
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    // A key inside a list or map has no variable of its own; its table may.
    for n in (1..=segments.len()).rev() {
        let name = format!("{ENV_PREFIX}__{}", segments[..n].join("__"));
        if std::env::var_os(&name).is_some() {
            return format!("environment variable {name} (overriding {file})");
        }
    }
    match line_of(text, key) {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    }
}

/// The line of `text` (a TOML file) where `key` (`sinks.archive.format`) is written, or
/// failing that, where the deepest table on its path is: config-rs merges the file with the
/// environment and forgets positions, so the file is parsed once more, only for this.
pub(super) fn line_of(text: &str, key: &str) -> Option<usize> {
    let table = toml::de::DeTable::parse(text).ok()?;
    let mut table = table.get_ref();
    let mut at = None;
    for segment in key.split('.').filter(|s| !s.is_empty()) {
        // serde_path_to_error writes a list's element as `name[2]`: the list is enough.
        let name = segment.split('[').next().unwrap_or(segment);
        let Some((k, v)) = table
            .iter()
            .find(|(k, _)| k.get_ref().eq_ignore_ascii_case(name))
        else {
            break;
        };
        at = Some(k.span().start);
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    Some(text.get(..at?)?.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_gets_the_nearest_name_and_nonsense_gets_none() {
        assert_eq!(
            explain("unknown variant `ocfs`, expected one of `raw`, `ecs`, `ocsf`"),
            "unknown variant `ocfs`, expected one of `raw`, `ecs`, `ocsf`; did you mean `ocsf`?"
        );
        assert!(
            explain("unknown field `max_file`, expected one of `path`, `max_bytes`, `max_files`")
                .ends_with("did you mean `max_files`?")
        );
        assert!(
            explain("unknown variant `newline`, expected `octet-counting` or `lf`")
                .ends_with("`lf`"),
            "nothing is near `newline`"
        );
    }

    #[test]
    fn a_key_is_found_on_its_line_or_on_its_table_header() {
        let text = "[coder]\nurl = \"x\"\npage_size = 5\n\n[sinks.archive]\ntype = \"file\"\n\
                    format = \"ocfs\"\n[sinks.b]\nlabels = [1, 2]\n";
        assert_eq!(line_of(text, "coder.page_size"), Some(3));
        assert_eq!(line_of(text, "sinks.archive.format"), Some(7));
        // A key that is missing (`path`) is reported at its table.
        assert_eq!(line_of(text, "sinks.archive.path"), Some(5));
        assert_eq!(line_of(text, "sinks.b.labels[1]"), Some(9));
        assert_eq!(
            line_of(text, "checkpoint.dir"),
            None,
            "set by the environment"
        );
        assert_eq!(line_of("not = toml = at all", "not"), None);
    }

    #[test]
    fn the_key_config_repeats_is_dropped() {
        assert_eq!(
            explain(
                "invalid value: string \"2\", expected a duration for key `coder.poll_interval`"
            ),
            "a number is not a duration: write \"2s\" (or ms, m, h, d)"
        );
    }

    #[test]
    fn a_number_where_a_duration_belongs_says_what_to_write() {
        assert_eq!(
            explain("invalid value: string \"2\", expected a duration"),
            "a number is not a duration: write \"2s\" (or ms, m, h, d)"
        );
        assert_eq!(
            explain("invalid type: integer `30`, expected a duration"),
            "a number is not a duration: write \"30s\" (or ms, m, h, d)"
        );
        assert_eq!(
            explain("invalid value: string \"soon\", expected a duration"),
            "invalid value: string \"soon\", expected a duration"
        );
    }
}
