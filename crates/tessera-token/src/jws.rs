//! Strict reading of a compact JWS before any key is touched: size, shape,
//! canonical base64url, JSON objects without duplicate members, and the
//! header rules of RFC 8725 that do not depend on the key.

use crate::crypto::b64url_decode;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// The largest token accepted, in bytes; longer ones are refused unparsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a compact JWS was refused before signature verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("token too large")]
    TooLarge,
    /// Not three non-empty dot-separated parts.
    #[error("token is not a compact JWS")]
    Shape,
    /// A part is not canonical unpadded base64url.
    #[error("token part is not base64url")]
    Base64,
    /// Header or claims are not a JSON object, or repeat a member.
    #[error("token header or claims are not a JSON object without duplicate members")]
    Json,
}

/// The three parts of a compact JWS, decoded.
#[derive(Debug, Clone)]
pub struct CompactJws<'a> {
    /// `BASE64URL(header) . BASE64URL(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The signature as sent (base64url).
    pub signature_b64: &'a str,
    /// The decoded protected header.
    pub header: Map<String, Value>,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS; the payload must also be a JSON object.
pub fn parse_compact(token: &str) -> Result<CompactJws<'_>, JwsError> {
    let jws = parse_compact_opaque(token)?;
    // The claims must be a JSON object without duplicates too; parsed again
    // into typed claims by the caller, so only checked here.
    check_strict_object(&jws.payload)?;
    Ok(jws)
}

/// Like [`parse_compact`], but the payload is left as bytes, not required to
/// be JSON: for a JWS that is not a JWT (such as the test vectors of other
/// projects). Every other rule is the same.
pub fn parse_compact_opaque(token: &str) -> Result<CompactJws<'_>, JwsError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwsError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Shape);
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(JwsError::Shape);
    }
    let header_bytes = b64url_decode(h).ok_or(JwsError::Base64)?;
    let payload = b64url_decode(p).ok_or(JwsError::Base64)?;
    let signature = b64url_decode(s).ok_or(JwsError::Base64)?;
    let header = strict_object(&header_bytes)?;
    Ok(CompactJws {
        signing_input: &token[..h.len() + 1 + p.len()],
        signature_b64: s,
        header,
        payload,
        signature,
    })
}

/// Parses `bytes` as a JSON object, refusing duplicate member names at any depth.
pub fn strict_object(bytes: &[u8]) -> Result<Map<String, Value>, JwsError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::deserialize_with(&mut de).map_err(|_| JwsError::Json)?;
    de.end().map_err(|_| JwsError::Json)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JwsError::Json),
    }
}

/// Checks that `bytes` is a JSON object without duplicate member names at any
/// depth, as [`strict_object`] does, without building it: the names are
/// borrowed from `bytes` where they hold no escapes, and values are walked,
/// not kept. For a payload that the caller parses again into its own types.
pub fn check_strict_object(bytes: &[u8]) -> Result<(), JwsError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_map(CheckVisitor)
        .map_err(|_| JwsError::Json)?;
    de.end().map_err(|_| JwsError::Json)
}

/// A JSON value walked by [`CheckVisitor`].
struct Checked;

impl<'de> de::Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckVisitor).map(|()| Checked)
    }
}

/// A member name, borrowed from the input where it holds no escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(v)))
    }
}

/// Accepts any JSON value; fails on an object that repeats a member name.
struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Sorted once at the end: a linear search per name would let a
        // token of a few thousand names cost milliseconds.
        let mut names = Vec::with_capacity(16);
        while let Some(Name(name)) = map.next_key()? {
            map.next_value::<Checked>()?;
            names.push(name);
        }
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(de::Error::custom("duplicate member"));
        }
        Ok(())
    }
}

/// A `serde_json::Value` built by a visitor that fails on duplicate keys.
struct StrictValue;

impl StrictValue {
    fn deserialize_with<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

struct Strict(Value);

impl<'de> de::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(key, v).is_some() {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(Value::Object(out))
    }
}

/// Whether a `typ` header names an access token (RFC 9068 §2.1): `at+jwt`,
/// or `application/at+jwt`, compared case-insensitively.
pub fn is_access_token_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::b64url;

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64url(header), b64url(payload), b64url("sig"))
    }

    #[test]
    fn well_formed_token_parses() {
        let t = token(
            r#"{"alg":"ES256","typ":"at+jwt"}"#,
            r#"{"sub":"x","n":{"a":[1,2]}}"#,
        );
        let jws = parse_compact(&t).unwrap();
        assert_eq!(jws.header["alg"], "ES256");
        assert_eq!(jws.signature, b"sig");
        assert!(t.starts_with(jws.signing_input));
    }

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert_eq!(
            parse_compact(&token(r#"{"alg":"ES256","alg":"none"}"#, "{}")).unwrap_err(),
            JwsError::Json
        );
        assert_eq!(
            parse_compact(&token(r#"{"alg":"ES256"}"#, r#"{"a":{"b":1,"b":2}}"#)).unwrap_err(),
            JwsError::Json
        );
    }

    #[test]
    fn the_check_without_building_agrees_with_the_strict_parse() {
        let accepted = [
            r#"{}"#,
            r#" {"a":1} "#,
            r#"{"a":{"b":[{"c":null,"d":true}],"e":-1.5e3},"f":"\u0041"}"#,
            r#"{"a":{"x":1},"b":{"x":2}}"#,
            r#"{"a":1,"A":2,"a ":3}"#,
            r#"{"a":[{"x":1},{"x":2}]}"#,
        ];
        let refused = [
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"a":{"b":1,"c":2,"b":3}}"#,
            r#"{"a":[1,{"x":1,"x":1}]}"#,
            r#"[]"#,
            r#""{}""#,
            r#"42"#,
            r#"{} {}"#,
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a":1e400}"#,
            "",
        ];
        for json in accepted {
            assert!(strict_object(json.as_bytes()).is_ok(), "{json}");
            assert_eq!(check_strict_object(json.as_bytes()), Ok(()), "{json}");
        }
        for json in refused {
            assert!(strict_object(json.as_bytes()).is_err(), "{json}");
            assert_eq!(
                check_strict_object(json.as_bytes()),
                Err(JwsError::Json),
                "{json}"
            );
        }
        let many: Vec<String> = (0..2000).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let wide = format!("{{{}}}", many.join(","));
        assert_eq!(check_strict_object(wide.as_bytes()), Ok(()));
        let repeated = format!("{{{},\"k1999\":0}}", many.join(","));
        assert_eq!(
            check_strict_object(repeated.as_bytes()),
            Err(JwsError::Json),
            "the last name repeats one far before it"
        );
    }

    #[test]
    fn non_objects_and_trailing_data_are_refused() {
        assert_eq!(
            parse_compact(&token("[]", "{}")).unwrap_err(),
            JwsError::Json
        );
        assert_eq!(
            parse_compact(&token("{}", "42")).unwrap_err(),
            JwsError::Json
        );
        assert_eq!(
            parse_compact(&token("{} {}", "{}")).unwrap_err(),
            JwsError::Json
        );
    }

    #[test]
    fn shape_and_size_are_checked_first() {
        assert_eq!(parse_compact("a.b").unwrap_err(), JwsError::Shape);
        assert_eq!(parse_compact("a.b.c.d").unwrap_err(), JwsError::Shape);
        assert_eq!(
            parse_compact("e30.e30.").unwrap_err(),
            JwsError::Shape,
            "empty signature"
        );
        assert_eq!(
            parse_compact(&"a".repeat(MAX_TOKEN_BYTES + 1)).unwrap_err(),
            JwsError::TooLarge
        );
        assert_eq!(
            parse_compact("e30=.e30.c2ln").unwrap_err(),
            JwsError::Base64,
            "padding"
        );
    }

    #[test]
    fn opaque_payloads_are_left_to_the_caller() {
        let t = format!(
            "{}.{}.{}",
            b64url(r#"{"alg":"HS256"}"#),
            b64url("foo"),
            b64url("sig")
        );
        assert_eq!(parse_compact(&t).unwrap_err(), JwsError::Json);
        let jws = parse_compact_opaque(&t).unwrap();
        assert_eq!(jws.payload, b"foo");
        assert_eq!(
            parse_compact_opaque(&token("[]", "{}")).unwrap_err(),
            JwsError::Json,
            "the header is still a JSON object"
        );
        assert_eq!(
            parse_compact_opaque("e30..c2ln").unwrap_err(),
            JwsError::Shape,
            "and no part is empty"
        );
    }

    #[test]
    fn access_token_typ_spellings() {
        assert!(is_access_token_typ("at+jwt"));
        assert!(is_access_token_typ("AT+JWT"));
        assert!(is_access_token_typ("application/at+jwt"));
        assert!(!is_access_token_typ("JWT"));
        assert!(!is_access_token_typ("rt+jwt"));
    }
}
