//! The behaviours that differ between Coder versions, picked from the version string.

/// The Coder version the simulator pretends to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    pub minor: u32,
}

/// How the `count` field behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMode {
    /// v2.0–v2.24: `COUNT(*) OVER()` in the page query, so 0 whenever the page is empty.
    ZeroOnEmptyPage,
    /// ≈v2.25–v2.31: a separate exact count.
    Exact,
    /// ≈v2.32+: `count` ≤ cap + 1, with `count_cap` in the response.
    Capped(u64),
}

impl ApiVersion {
    pub const HEAD: ApiVersion = ApiVersion { minor: 36 };

    /// Parse `v2.15.0+abc` or `2.15`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().trim_start_matches('v');
        let mut parts = s.split(['.', '+', '-']);
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        (major == 2).then_some(Self { minor })
    }

    pub fn version_string(self) -> String {
        format!("v2.{}.0+sim", self.minor)
    }

    pub fn count_mode(self) -> CountMode {
        match self.minor {
            0..=24 => CountMode::ZeroOnEmptyPage,
            25..=31 => CountMode::Exact,
            _ => CountMode::Capped(2000),
        }
    }

    /// v2.13 (#13676) made a missing or zero `limit` mean 100; before, it meant `LIMIT 0`.
    pub fn defaults_limit(self) -> bool {
        self.minor >= 13
    }

    /// `Authorization: Bearer` is accepted since ≈v2.25 (#18644).
    pub fn accepts_bearer(self) -> bool {
        self.minor >= 25
    }

    /// The `organization` object appears in entries since ≈v2.14.
    pub fn has_organization(self) -> bool {
        self.minor >= 14
    }

    /// Since ≈v2.20 a caller without audit read gets 403; v2.14–v2.19 got 200 and an empty list.
    pub fn forbids_without_permission(self) -> bool {
        self.minor >= 20 || self.minor == 13
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_build_info_versions() {
        assert_eq!(
            ApiVersion::parse("v2.15.0+abc123"),
            Some(ApiVersion { minor: 15 })
        );
        assert_eq!(ApiVersion::parse("2.36"), Some(ApiVersion { minor: 36 }));
        assert_eq!(ApiVersion::parse("v3.0.0"), None);
        assert_eq!(ApiVersion::parse("nonsense"), None);
    }

    #[test]
    fn count_mode_follows_the_release_notes() {
        assert_eq!(
            ApiVersion { minor: 9 }.count_mode(),
            CountMode::ZeroOnEmptyPage
        );
        assert_eq!(ApiVersion { minor: 28 }.count_mode(), CountMode::Exact);
        assert_eq!(ApiVersion::HEAD.count_mode(), CountMode::Capped(2000));
    }
}
