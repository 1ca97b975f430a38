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
/// set (`CODER_AUDIT_SHIPPER__CODER__PAGESIZE` for `coder.pagesize`), else `file`.
pub(super) fn source_of(key: &str, file: &str) -> String {
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
    file.to_owned()
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
