//! Arrays, objects and the variants around them, an element or a field at a time.

use serde::Serialize;
use serde::ser;

use super::{Error, Json, Key, clean, write_str};

/// An array or object being written.
pub(super) struct Compound<'a> {
    out: &'a mut Vec<u8>,
    /// No element or field written yet (no comma before the next).
    first: bool,
    /// `]` or `}`.
    close: u8,
    /// Inside `{"variant":…}`, closed with it.
    variant: bool,
    /// serde_json's `RawValue`: its one field's string is JSON, written as it is.
    raw: bool,
}

impl<'a> Compound<'a> {
    pub(super) fn open(out: &'a mut Vec<u8>, open: u8, close: u8) -> Self {
        out.push(open);
        Compound {
            out,
            first: true,
            close,
            variant: false,
            raw: false,
        }
    }

    /// `{"variant":` then the array or object.
    pub(super) fn variant(out: &'a mut Vec<u8>, name: &str, open: u8, close: u8) -> Self {
        out.push(b'{');
        write_str(out, name);
        out.push(b':');
        Compound {
            variant: true,
            ..Self::open(out, open, close)
        }
    }

    pub(super) fn raw(out: &'a mut Vec<u8>) -> Self {
        Compound {
            out,
            first: true,
            close: b'}',
            variant: false,
            raw: true,
        }
    }

    #[inline(always)]
    fn comma(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(Json::new(self.out))
    }

    #[inline(always)]
    fn field<T: ?Sized + Serialize>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        if self.raw {
            return self.raw_text(value);
        }
        write_key(self.out, !std::mem::replace(&mut self.first, false), key);
        value.serialize(Json::new(self.out))
    }

    /// The JSON text a `RawValue` holds (its one field, a string), as it is.
    fn raw_text<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Json {
            out: self.out,
            verbatim: true,
        })
    }

    fn finish(self) -> Result<(), Error> {
        if !self.raw {
            self.out.push(self.close);
            if self.variant {
                self.out.push(b'}');
            }
        }
        Ok(())
    }
}

/// A struct's field name with its colon, and the comma before it unless it comes first.
///
/// Always inlined, with `field` and each `serialize_field`, down into the code serde
/// derives for each struct: there the name is a constant, so whether it is `clean` is
/// settled when compiling, and `,"name":` is one constant on the stack, appended with one
/// capacity check (from its second byte for the first field). An ECS document has about
/// 60 field names; written by a called function they took 10 % of an ECS backfill's
/// instructions, and inlined the backfill executes about 10 % fewer, for 6 KB more code
/// (BENCHMARKS.md, "Field names settled when compiling"). A name longer than
/// [`SHORT_KEY`] or in need of escaping (none of ours) takes [`write_str`].
#[inline(always)]
fn write_key(out: &mut Vec<u8>, comma: bool, key: &str) {
    let name = key.as_bytes();
    if name.len() <= SHORT_KEY && clean(name) {
        let mut text = [0u8; SHORT_KEY + 4];
        text[0] = b',';
        text[1] = b'"';
        text[2..name.len() + 2].copy_from_slice(name);
        text[name.len() + 2..name.len() + 4].copy_from_slice(b"\":");
        out.extend_from_slice(&text[usize::from(!comma)..name.len() + 4]);
        return;
    }
    if comma {
        out.push(b',');
    }
    write_str(out, key);
    out.push(b':');
}

/// The longest field name [`write_key`] puts together on the stack. Our documents' longest,
/// `additional_fields_omitted`, has 25 bytes.
const SHORT_KEY: usize = 29;

/// serde asks for one trait per sequence-like shape (a list, a tuple, a tuple struct, a
/// tuple variant); each writes its elements the same way, so one macro writes all four.
macro_rules! sequence_like {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

sequence_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(Key { out: self.out })
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.out.push(b':');
        value.serialize(Json::new(self.out))
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// A struct and a struct variant write their fields the same way.
macro_rules! struct_like {
    ($($trait:ident),* $(,)?) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            #[inline(always)]
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

struct_like!(SerializeStruct, SerializeStructVariant);
