//! Separating messages on a stream (RFC 6587).

use crate::config::Framing;

/// Append `message`, framed, to `out`.
pub fn frame(framing: Framing, message: &[u8], out: &mut Vec<u8>) {
    match framing {
        Framing::OctetCounting => {
            out.extend_from_slice(message.len().to_string().as_bytes());
            out.push(b' ');
            out.extend_from_slice(message);
        }
        Framing::Lf => {
            // A line feed would end the message early; in JSON it can only be whitespace.
            out.extend(message.iter().map(|b| if *b == b'\n' { b' ' } else { *b }));
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_counting_prefixes_the_byte_length() {
        let mut out = Vec::new();
        frame(Framing::OctetCounting, "héllo".as_bytes(), &mut out);
        frame(Framing::OctetCounting, b"x", &mut out);
        assert_eq!(out, "6 héllo1 x".as_bytes());
    }

    #[test]
    fn lf_framing_ends_each_message_and_keeps_line_feeds_out() {
        let mut out = Vec::new();
        frame(Framing::Lf, b"{\n\"a\": 1}", &mut out);
        frame(Framing::Lf, b"b", &mut out);
        assert_eq!(out, b"{ \"a\": 1}\nb\n");
    }
}
