//! Compact JSON, byte for byte what `serde_json::to_writer` writes, with a faster escape.
//!
//! serde_json's serializer checks every byte of every string against its escape table,
//! one at a time: 16 % of the instructions of an ECS backfill, for documents of about
//! 1,500 bytes of which 1,100 are keys and strings that never need escaping (BENCHMARKS.md,
//! "Writing the documents"). Its serializer cannot be given another escape (the string
//! writer is a free function, not a `Formatter` method), so this is a `serde::Serializer`
//! of its own that passes over 8 bytes at a time while none needs escaping. Everything
//! else (numbers, the escapes themselves) is serde_json's `CompactFormatter`, so the two
//! agree on every value; the tests hold them to it on arbitrary JSON.

use std::io;

use serde::Serialize;
use serde::ser;
use serde_json::ser::{CompactFormatter, Formatter};

mod compound;
mod key;

use compound::Compound;
use key::Key;

/// Why a value could not be written: a map key that is not a string, or a value's own
/// `Serialize` failing. Never an I/O error: the output is a `Vec`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error(e.to_string())
    }
}

/// Append `value` to `out` as compact JSON.
pub fn to_writer<T: ?Sized + Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(Json::new(out))
}

/// The token serde_json's `RawValue` serializes under: a struct of this name with one
/// field of this name, whose string is written as it is.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Which bytes JSON requires escaped (RFC 8259 §7): controls, `"` and `\`.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// A word whose high bits (`HIGHS`) are all clear when none of the 8 bytes in `word`
/// needs escaping, and not all clear otherwise. Exact as a whole-word answer (no false
/// answers either way, though a set bit need not sit on the byte that set it): the
/// has-less-than and has-zero-byte tests of "Bit Twiddling Hacks" (Sean Eron Anderson).
/// The three tests are combined with `|`, not `||`: one branch per word instead of three,
/// and the answers of several words can be combined the same way before the one test.
fn escape_bits(word: u64) -> u64 {
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    (below_space | quote.wrapping_sub(ONES) & !quote | backslash.wrapping_sub(ONES) & !backslash)
        & HIGHS
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether no byte of `bytes` needs escaping, 16 bytes (two words) a test: whole blocks,
/// then the last 16 bytes again (overlapping) for the rest. Most strings are keys and
/// values of 4 to 40 bytes, so the short ones matter as much: 8 to 15 bytes are the first
/// and last 8 (overlapping), 4 to 7 the first and last 4, and 1 to 3 bytes are each among
/// the first, middle and last. Always inlined, so that a constant (a field's name, see
/// `compound::write_key`) is found clean when compiling.
#[inline(always)]
fn clean(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let pair = |at: usize| {
        escape_bits(word(&bytes[at..at + 8])) | escape_bits(word(&bytes[at + 8..at + 16]))
    };
    if n >= 16 {
        let mut at = 0;
        while at + 16 <= n {
            if pair(at) != 0 {
                return false;
            }
            at += 16;
        }
        at == n || pair(n - 16) == 0
    } else if n >= 8 {
        escape_bits(word(&bytes[..8])) | escape_bits(word(&bytes[n - 8..])) == 0
    } else if n >= 4 {
        escape_bits(u64::from(half(&bytes[..4])) | u64::from(half(&bytes[n - 4..])) << 32) == 0
    } else {
        n == 0
            || ![bytes[0], bytes[n / 2], bytes[n - 1]]
                .into_iter()
                .any(needs_escape)
    }
}

/// 8 bytes as a word (`bytes` is 8 long).
fn word(bytes: &[u8]) -> u64 {
    let mut eight = [0u8; 8];
    eight.copy_from_slice(bytes);
    u64::from_le_bytes(eight)
}

/// 4 bytes as a half word (`bytes` is 4 long).
fn half(bytes: &[u8]) -> u32 {
    let mut four = [0u8; 4];
    four.copy_from_slice(bytes);
    u32::from_le_bytes(four)
}

/// `value` as a JSON string, quotes included.
pub(crate) fn write_str(out: &mut Vec<u8>, value: &str) {
    out.reserve(value.len() + 2);
    out.push(b'"');
    write_inside(out, value);
    out.push(b'"');
}

/// `value` escaped, without quotes: a whole string, or a piece of one.
#[inline(always)]
fn write_inside(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    if clean(bytes) {
        out.extend_from_slice(bytes);
    } else {
        let mut start = 0;
        for (at, &byte) in bytes.iter().enumerate() {
            if needs_escape(byte) {
                out.extend_from_slice(&bytes[start..at]);
                write_escape(out, byte);
                start = at + 1;
            }
        }
        out.extend_from_slice(&bytes[start..]);
    }
}

/// What `Display` writes, escaped piece by piece into the string being written: a value
/// made of parts (`workspace.create`, `API Activity: Create`) needs no `String` of its own.
struct Inside<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Inside<'_> {
    fn write_str(&mut self, piece: &str) -> std::fmt::Result {
        write_inside(self.0, piece);
        Ok(())
    }
}

/// One escaped byte, as serde_json writes it (`\n`, `\"`, `\u001f`, ...).
fn write_escape(out: &mut Vec<u8>, byte: u8) {
    use serde_json::ser::CharEscape;
    let escape = match byte {
        b'"' => CharEscape::Quote,
        b'\\' => CharEscape::ReverseSolidus,
        0x08 => CharEscape::Backspace,
        0x0c => CharEscape::FormFeed,
        b'\n' => CharEscape::LineFeed,
        b'\r' => CharEscape::CarriageReturn,
        b'\t' => CharEscape::Tab,
        other => CharEscape::AsciiControl(other),
    };
    // Writing to a Vec cannot fail.
    let _ = CompactFormatter.write_char_escape(out, escape);
}

/// The serializer: a value at a time, appended to `out`.
struct Json<'a> {
    out: &'a mut Vec<u8>,
    /// A string is JSON text, appended as it is: the one field of serde_json's
    /// `RawValue` (`diff` and `additional_fields` as Coder sent them).
    verbatim: bool,
}

impl<'a> Json<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Json {
            out,
            verbatim: false,
        }
    }
}

/// Numbers are written by serde_json's own formatter, so they agree digit for digit.
macro_rules! number {
    ($($method:ident: $t:ty => $write:ident),* $(,)?) => {
        $(fn $method(self, v: $t) -> Result<(), Error> {
            CompactFormatter.$write(self.out, v).map_err(Error::from)
        })*
    };
}

impl<'a> ser::Serializer for Json<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    number! {
        serialize_i8: i8 => write_i8,
        serialize_i16: i16 => write_i16,
        serialize_i32: i32 => write_i32,
        serialize_i64: i64 => write_i64,
        serialize_i128: i128 => write_i128,
        serialize_u8: u8 => write_u8,
        serialize_u16: u16 => write_u16,
        serialize_u32: u32 => write_u32,
        serialize_u64: u64 => write_u64,
        serialize_u128: u128 => write_u128,
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    /// Not a number JSON can hold: `null`, as serde_json writes it.
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if !v.is_finite() {
            return self.serialize_unit();
        }
        CompactFormatter.write_f32(self.out, v).map_err(Error::from)
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return self.serialize_unit();
        }
        CompactFormatter.write_f64(self.out, v).map_err(Error::from)
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        if self.verbatim {
            self.out.extend_from_slice(v.as_bytes());
        } else {
            write_str(self.out, v);
        }
        Ok(())
    }

    /// Written straight into the output, escaped as it comes (serde's default builds a
    /// `String` first).
    fn collect_str<T: ?Sized + std::fmt::Display>(self, value: &T) -> Result<(), Error> {
        use std::fmt::Write;
        if self.verbatim {
            return self.serialize_str(&value.to_string());
        }
        self.out.push(b'"');
        write!(Inside(self.out), "{value}").map_err(|e| Error(e.to_string()))?;
        self.out.push(b'"');
        Ok(())
    }

    /// An array of numbers, as serde_json writes bytes.
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for byte in v {
            seq.serialize_element(byte)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    /// `{"variant":value}`.
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        value.serialize(Json::new(self.out))?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, b'[', b']'))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    /// `{"variant":[...]}`.
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::variant(self.out, variant, b'[', b']'))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, b'{', b'}'))
    }

    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'a>, Error> {
        if name == RAW_VALUE_TOKEN {
            return Ok(Compound::raw(self.out));
        }
        Ok(Compound::open(self.out, b'{', b'}'))
    }

    /// `{"variant":{...}}`.
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::variant(self.out, variant, b'{', b'}'))
    }
}

#[cfg(test)]
mod tests;
