//! What Coder's `status_code` means, and how the request ended.
//!
//! The field is not always an HTTP status. Agent connect and disconnect rows (Coder
//! v2.20–v2.24) carry a process exit code, or 0 for a connect (`coder-api/NOTES.md` §1:
//! "For agent disconnects it is the process exit code (0, 255). Agent connects have 0").
//! And a 3xx is not always a redirect away from success: Coder's OAuth callback answers
//! every successful GitHub or OIDC sign-in with 307 (`http.StatusTemporaryRedirect` in
//! `coderd/userauth.go`), while its audit description calls only 303 "was redirected
//! attempting to" (`auditLogDescription` in `coderd/audit.go`). Reading either as an HTTP
//! status would hide every SSO login from outcome searches and make exit code 255 a
//! success; both schemas and both line formats read the rules here.

use std::fmt;

/// `status_code`, by what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// An HTTP status of the audited request.
    Http(i64),
    /// A process exit code: an agent disconnect (v2.20–v2.24).
    Exit(i64),
    /// A number that is neither (say, a non-zero code on a row that should be HTTP).
    Other(i64),
    /// Absent, or 0 where 0 means "not said" (an agent connect, a fake entry).
    Absent,
}

impl Status {
    pub fn of(resource_type: &str, action: &str, code: Option<i64>) -> Self {
        let agent_row = resource_type == "workspace_agent";
        match (agent_row, action, code) {
            (true, "disconnect", Some(c)) => Status::Exit(c),
            (_, _, None | Some(0)) => Status::Absent,
            (true, "connect", Some(c)) => Status::Other(c),
            (_, _, Some(c @ 100..=599)) => Status::Http(c),
            (_, _, Some(c)) => Status::Other(c),
        }
    }

    /// The HTTP status, for fields typed as one (ECS `http.response.status_code`, OCSF
    /// `http_response.code` and `api.response.code`).
    pub fn http(self) -> Option<i64> {
        match self {
            Status::Http(c) => Some(c),
            _ => None,
        }
    }

    pub fn exit_code(self) -> Option<i64> {
        match self {
            Status::Exit(c) => Some(c),
            _ => None,
        }
    }

    /// A code that is no HTTP status and no exit code, kept as Coder sent it.
    pub fn other(self) -> Option<i64> {
        match self {
            Status::Other(c) => Some(c),
            _ => None,
        }
    }
}

/// How the request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// 4xx, 5xx, or a non-zero exit code.
    Failure,
    /// A 3xx that is not a success: Coder's "was redirected attempting to" (303, which
    /// for a workspace app means "sent to sign in", `httpmw.RedirectToLogin`).
    Redirect,
    /// Coder did not say.
    Unknown,
}

impl Outcome {
    /// The word SIEM schemas use (ECS `event.outcome`, CEF/LEEF `outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Redirect | Outcome::Unknown => "unknown",
        }
    }

    pub fn of(status: Status, resource_type: &str, action: &str) -> Self {
        match status {
            Status::Http(101 | 200..=299) => Outcome::Success,
            Status::Http(307) if oauth_callback(resource_type, action) => Outcome::Success,
            Status::Http(300..=399) => Outcome::Redirect,
            Status::Http(400..=599) => Outcome::Failure,
            Status::Http(_) | Status::Other(_) => Outcome::Unknown,
            Status::Exit(0) => Outcome::Success,
            Status::Exit(_) => Outcome::Failure,
            // The agent reports the connections it accepted; a connect row is one.
            Status::Absent if resource_type == "workspace_agent" && action == "connect" => {
                Outcome::Success
            }
            Status::Absent => Outcome::Unknown,
        }
    }
}

/// The entries Coder's OAuth callback records, whose success reply is 307: the sign-in
/// (`login`), a first sign-in (`register`), and the user writes it makes on the way (a
/// dormant account reactivated, a password account converted to OIDC).
fn oauth_callback(resource_type: &str, action: &str) -> bool {
    matches!(action, "login" | "register")
        || matches!((resource_type, action), ("user" | "convert_login", "write"))
}

/// The signal a shell reports as exit code 128 + n (Linux numbering), for 129..=159.
pub fn signal(exit_code: i64) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    let n = usize::try_from(exit_code.checked_sub(129)?).ok()?;
    NAMES.get(n).copied()
}

/// An exit code as words: `exit code 137 (SIGKILL)`.
pub struct ExitDetail(pub i64);

impl fmt::Display for ExitDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit code {}", self.0)?;
        if let Some(s) = signal(self.0) {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sso_sign_ins_answered_with_307_are_successes() {
        for action in ["login", "register"] {
            let s = Status::of("api_key", action, Some(307));
            assert_eq!(Outcome::of(s, "api_key", action), Outcome::Success);
        }
        let s = Status::of("user", "write", Some(307));
        assert_eq!(Outcome::of(s, "user", "write"), Outcome::Success);
        // Elsewhere a 3xx is what Coder calls it: a redirect.
        let s = Status::of("workspace_app", "open", Some(307));
        assert_eq!(Outcome::of(s, "workspace_app", "open"), Outcome::Redirect);
        let s = Status::of("api_key", "login", Some(303));
        assert_eq!(Outcome::of(s, "api_key", "login"), Outcome::Redirect);
    }

    #[test]
    fn agent_rows_carry_exit_codes() {
        let exit = |c| Status::of("workspace_agent", "disconnect", Some(c));
        assert_eq!(exit(0), Status::Exit(0));
        assert_eq!(
            Outcome::of(exit(0), "workspace_agent", "disconnect"),
            Outcome::Success
        );
        for c in [1, 130, 137, 143, 255] {
            assert_eq!(exit(c).http(), None, "{c}");
            assert_eq!(
                Outcome::of(exit(c), "workspace_agent", "disconnect"),
                Outcome::Failure,
                "{c}"
            );
        }
        let connect = Status::of("workspace_agent", "connect", Some(0));
        assert_eq!(connect, Status::Absent);
        assert_eq!(
            Outcome::of(connect, "workspace_agent", "connect"),
            Outcome::Success
        );
        // The same number on an HTTP row is an HTTP status.
        assert_eq!(Status::of("user", "write", Some(1)), Status::Other(1));
        assert_eq!(Status::of("user", "write", Some(403)), Status::Http(403));
    }

    #[test]
    fn signals_are_named_for_128_plus_n() {
        assert_eq!(signal(130), Some("SIGINT"));
        assert_eq!(signal(137), Some("SIGKILL"));
        assert_eq!(signal(143), Some("SIGTERM"));
        assert_eq!(signal(128), None);
        assert_eq!(signal(255), None);
        assert_eq!(signal(1), None);
        assert_eq!(ExitDetail(137).to_string(), "exit code 137 (SIGKILL)");
        assert_eq!(ExitDetail(255).to_string(), "exit code 255");
    }
}
