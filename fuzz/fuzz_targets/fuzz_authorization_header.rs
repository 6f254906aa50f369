//! The `Authorization` header parser: `extract::bearer_token`.
//!
//! Input: the header value as raw bytes. A `\n` (never valid inside a header
//! value) separates repeated `Authorization` headers; bytes that `HeaderValue`
//! refuses (which no HTTP parser would hand over) are skipped.
#![no_main]

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{NOW_MS, policy, revocations, ring};
use tessera_server::error::ApiError;
use tessera_server::extract::bearer_token;
use tessera_token::tokens::verify_access_token;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for part in data.split(|&b| b == b'\n') {
        let Ok(value) = HeaderValue::from_bytes(part) else {
            return;
        };
        headers.append(AUTHORIZATION, value);
    }
    let first = headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);

    match bearer_token(&headers) {
        Ok(Some(token)) => {
            let Some(value) = first else {
                panic!("a token without a header")
            };
            // The first header is the one read: `Bearer` (any case), one
            // space, then the token with surrounding whitespace trimmed.
            let text = std::str::from_utf8(value).expect("token came from UTF-8");
            let (scheme, rest) = text.split_once(' ').expect("scheme and token");
            assert!(scheme.eq_ignore_ascii_case("bearer"), "scheme {scheme:?}");
            assert_eq!(rest.trim(), token);
            // A token is non-empty RFC 6750 b64token text: no whitespace,
            // no control characters, nothing outside the b64token set.
            assert!(!token.is_empty());
            assert!(!token.contains(|c: char| c.is_whitespace() || c.is_control()));
            assert!(token.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
            }));
            // What the extractor does next must not panic either.
            let _ = verify_access_token(token, ring(), revocations(), policy(), NOW_MS);
        }
        Ok(None) => {
            // Either no header, or a first header whose scheme is not Bearer.
            if let Some(value) = first {
                let scheme = value.split(|&b| b == b' ').next().unwrap_or_default();
                assert!(
                    !scheme.eq_ignore_ascii_case(b"bearer"),
                    "Bearer credentials ignored"
                );
            }
        }
        Err(e) => {
            assert!(first.is_some(), "refused credentials that were not there");
            assert!(matches!(e, ApiError::InvalidToken), "{e:?}");
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        }
    }
});
