//! [`VerifyLayer`]: a tower middleware that lets through only requests with
//! a valid `Authorization: Bearer` token, and hands the handler the
//! verified [`Claims`] in the request's extensions.

use crate::provider::BoxFuture;
use crate::verifier::{Claims, Verifier, VerifyError};
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Wraps a service so that it only sees requests whose bearer token
/// verifies; the claims are inserted into the request's extensions (read
/// them with the `Verified` extractor, or `extensions().get::<Claims>()`).
///
/// Refusals, with an empty body:
/// - no bearer token: 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3.1);
/// - a token that does not verify: 401 with
///   `WWW-Authenticate: Bearer error="invalid_token"`;
/// - keys not yet fetchable, or fail-closed engaged: 503 with
///   `Retry-After: 5` — the fault is the verifier's, and a client that
///   refreshed its token on a 401 would gain nothing.
#[derive(Debug, Clone)]
pub struct VerifyLayer {
    verifier: Verifier,
}

impl VerifyLayer {
    /// A layer verifying with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        VerifyLayer { verifier }
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`VerifyLayer`] makes.
#[derive(Debug, Clone)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B, ResBody> Service<Request<B>> for VerifyService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let token = match bearer_token(request.headers()) {
                Ok(Some(token)) => token.to_owned(),
                Ok(None) => return Ok(refusal(Refusal::Missing)),
                Err(()) => return Ok(refusal(Refusal::Invalid)),
            };
            match verifier.verify(&token).await {
                Ok(claims) => {
                    request.extensions_mut().insert::<Claims>(claims);
                    inner.call(request).await
                }
                Err(VerifyError::Invalid(reason)) => {
                    tracing::debug!(%reason, "access token refused");
                    Ok(refusal(Refusal::Invalid))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot verify access tokens");
                    Ok(refusal(Refusal::Unavailable))
                }
            }
        })
    }
}

/// Reads `Authorization: Bearer <token>` as Tessera does: `Ok(None)` when
/// there are no bearer credentials, `Err` when they are present but are
/// not a token (RFC 6750 §2.1 `b64token` characters).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ()> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim();
    let valid = !token.is_empty()
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        });
    if valid { Ok(Some(token)) } else { Err(()) }
}

/// The ways a request is turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No bearer token.
    Missing,
    /// A token that does not verify.
    Invalid,
    /// The verifier cannot verify anything right now.
    Unavailable,
}

/// The empty-bodied answer for a refusal.
pub(crate) fn refusal<B: Default>(kind: Refusal) -> Response<B> {
    let (status, name, value) = match kind {
        Refusal::Missing => (StatusCode::UNAUTHORIZED, WWW_AUTHENTICATE, "Bearer"),
        Refusal::Invalid => (
            StatusCode::UNAUTHORIZED,
            WWW_AUTHENTICATE,
            r#"Bearer error="invalid_token""#,
        ),
        Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, RETRY_AFTER, "5"),
    };
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(authorization).unwrap(),
        );
        h
    }

    #[test]
    fn bearer_tokens_are_read_like_tessera_reads_them() {
        assert_eq!(bearer_token(&HeaderMap::new()), Ok(None));
        assert_eq!(bearer_token(&headers(b"Bearer a.b.c")), Ok(Some("a.b.c")));
        assert_eq!(bearer_token(&headers(b"bearer  a.b.c ")), Ok(Some("a.b.c")));
        assert_eq!(bearer_token(&headers(b"Basic dXNlcg==")), Ok(None));
        assert_eq!(bearer_token(&headers(b"Bearer")), Err(()));
        assert_eq!(bearer_token(&headers(b"Bearer a b")), Err(()));
        assert_eq!(bearer_token(&headers(b"Bearer \xff")), Err(()));
    }

    #[test]
    fn refusals_say_why_in_their_headers() {
        let missing: Response<()> = refusal(Refusal::Missing);
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(missing.headers()[WWW_AUTHENTICATE], "Bearer");
        let invalid: Response<()> = refusal(Refusal::Invalid);
        assert_eq!(invalid.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            invalid.headers()[WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
        let unavailable: Response<()> = refusal(Refusal::Unavailable);
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.headers()[RETRY_AFTER], "5");
    }
}
