//! Strings of an event made of parts, written into the document as they are serialized.
//!
//! `workspace.create`, `API Activity: Create` and a status code as `"137"` were each a
//! `String` built per event and freed after it: three to five allocations an event for
//! text that already exists in pieces. These hand their pieces to the serializer's
//! `collect_str` instead ([`super::json`] writes them straight into the document).

use std::fmt;

use serde::{Serialize, Serializer};

/// Borrowed pieces, written one after another as one string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined<'a, const N: usize>(pub [&'a str; N]);

impl<const N: usize> fmt::Display for Joined<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|piece| f.write_str(piece))
    }
}

impl<const N: usize> Serialize for Joined<'_, N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A value written as the string its `Display` gives (OCSF's `status_code` is a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Displayed<T>(pub T);

impl<T: fmt::Display> Serialize for Displayed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_one_string_in_json_and_in_text() {
        let op = Joined(["workspace", ".", "create"]);
        assert_eq!(op.to_string(), "workspace.create");
        assert_eq!(serde_json::to_string(&op).unwrap(), r#""workspace.create""#);
        let mut ours = Vec::new();
        crate::normalize::json::to_writer(&mut ours, &(op, Displayed(-137i64))).unwrap();
        assert_eq!(ours, br#"["workspace.create","-137"]"#);
        assert_eq!(
            serde_json::to_string(&Joined(["a\"", "\n"])).unwrap(),
            r#""a\"\n""#
        );
    }
}
