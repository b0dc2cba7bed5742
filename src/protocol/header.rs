//! Typed custom headers (`extFields`, protocol §1.4 and §3).
//!
//! Every header is a struct whose fields map to ext keys by their Java field name. Required
//! fields are plain types and their absence is a [`HeaderError`]; optional fields are
//! `Option<T>`. Numbers are decimal strings; booleans accept `true`/`false` in any case (Java's
//! `Boolean.parseBoolean`) and, because the C++ clients send them, `1`/`0`.

use std::fmt;

use super::command::ExtFields;

/// A header that can be read from and written to `extFields`.
pub trait Header: Sized {
    fn decode(ext: &ExtFields) -> Result<Self, HeaderError>;
    fn encode(&self, ext: &mut ExtFields);
}

/// A header field that is missing or does not parse. The handler answers SYSTEM_ERROR with this
/// text as the remark (Java's broker answers the same code after its NPE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    Missing { key: &'static str },
    Invalid { key: &'static str, value: String, expected: &'static str },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { key } => write!(f, "the header field {key} is missing"),
            Self::Invalid { key, value, expected } => {
                write!(f, "the header field {key}={value:?} is not {expected}")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// How one field type reads and writes itself.
pub trait HeaderField: Sized {
    fn read(ext: &ExtFields, key: &'static str) -> Result<Self, HeaderError>;
    fn write(&self, ext: &mut ExtFields, key: &'static str);
}

/// A scalar that has a text form on the wire.
pub trait HeaderScalar: Sized {
    const EXPECTED: &'static str;
    fn parse(text: &str) -> Option<Self>;
    fn render(&self) -> String;
}

impl HeaderScalar for String {
    const EXPECTED: &'static str = "a string";
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl HeaderScalar for i32 {
    const EXPECTED: &'static str = "a 32-bit integer";
    fn parse(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl HeaderScalar for i64 {
    const EXPECTED: &'static str = "a 64-bit integer";
    fn parse(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl HeaderScalar for bool {
    const EXPECTED: &'static str = "a boolean (true/false or 1/0)";
    fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            t if t.eq_ignore_ascii_case("true") || t == "1" => Some(true),
            t if t.eq_ignore_ascii_case("false") || t == "0" => Some(false),
            _ => None,
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

fn parse_scalar<T: HeaderScalar>(key: &'static str, value: &str) -> Result<T, HeaderError> {
    T::parse(value).ok_or_else(|| HeaderError::Invalid { key, value: value.to_string(), expected: T::EXPECTED })
}

impl<T: HeaderScalar> HeaderField for T {
    fn read(ext: &ExtFields, key: &'static str) -> Result<Self, HeaderError> {
        let value = ext.get(key).ok_or(HeaderError::Missing { key })?;
        parse_scalar(key, value)
    }
    fn write(&self, ext: &mut ExtFields, key: &'static str) {
        ext.insert(key, self.render());
    }
}

impl<T: HeaderScalar> HeaderField for Option<T> {
    /// An empty value counts as absent for non-string types: the C++ clients send
    /// `"transactionId":""` and the binary codec turns empty strings into nulls.
    fn read(ext: &ExtFields, key: &'static str) -> Result<Self, HeaderError> {
        match ext.get(key) {
            None => Ok(None),
            Some("") if T::EXPECTED != String::EXPECTED => Ok(None),
            Some(value) => parse_scalar(key, value).map(Some),
        }
    }
    fn write(&self, ext: &mut ExtFields, key: &'static str) {
        if let Some(value) = self {
            ext.insert(key, value.render());
        }
    }
}

/// Declares a header struct: `field: Type => "javaFieldName"`.
macro_rules! header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty => $key:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty ),*
        }

        impl $crate::protocol::header::Header for $name {
            fn decode(
                ext: &$crate::protocol::command::ExtFields,
            ) -> Result<Self, $crate::protocol::header::HeaderError> {
                Ok(Self {
                    $( $field: <$ty as $crate::protocol::header::HeaderField>::read(ext, $key)? ),*
                })
            }

            fn encode(&self, ext: &mut $crate::protocol::command::ExtFields) {
                $( $crate::protocol::header::HeaderField::write(&self.$field, ext, $key); )*
            }
        }
    };
}
pub(crate) use header;

#[cfg(test)]
mod tests {
    use super::*;

    header! {
        pub struct Sample {
            topic: String => "topic",
            queue_id: i32 => "queueId",
            unit_mode: Option<bool> => "unitMode",
        }
    }

    #[test]
    fn fields_parse_leniently_only_where_clients_need_it() {
        let mut ext = ExtFields::new();
        ext.insert("topic", "T");
        ext.insert("queueId", "3");
        ext.insert("unitMode", "1");
        let sample = Sample::decode(&ext).unwrap();
        assert_eq!(sample, Sample { topic: "T".into(), queue_id: 3, unit_mode: Some(true) });
        ext.insert("unitMode", "FALSE");
        assert_eq!(Sample::decode(&ext).unwrap().unit_mode, Some(false));
        ext.insert("unitMode", "yes");
        assert!(matches!(Sample::decode(&ext), Err(HeaderError::Invalid { key: "unitMode", .. })));
        ext.insert("unitMode", "");
        assert_eq!(Sample::decode(&ext).unwrap().unit_mode, None);
        ext.insert("queueId", "x");
        assert!(Sample::decode(&ext).is_err());
        let empty = ExtFields::new();
        assert_eq!(Sample::decode(&empty), Err(HeaderError::Missing { key: "topic" }));
    }

    #[test]
    fn encode_writes_every_present_field() {
        let sample = Sample { topic: "T".into(), queue_id: -1, unit_mode: None };
        let mut ext = ExtFields::new();
        sample.encode(&mut ext);
        assert_eq!(ext.get("queueId"), Some("-1"));
        assert_eq!(ext.get("unitMode"), None);
        assert_eq!(Sample::decode(&ext).unwrap(), sample);
    }
}
