//! [`Verified`]: the axum extractor for the claims [`crate::VerifyLayer`]
//! verified.

use crate::layer::{Refusal, refusal};
use crate::verifier::Claims;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;

/// The verified claims of the request's access token, as
/// [`crate::VerifyLayer`] left them:
///
/// ```
/// use tessera_verify::Verified;
///
/// async fn hello(Verified(claims): Verified) -> String {
///     format!("hello, {}", claims.username.as_deref().unwrap_or(&claims.sub))
/// }
/// ```
///
/// A handler reached without the layer in front gets a 401 (and an error
/// is logged): it never runs without verified claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified(pub Claims);

/// The rejection when no verified claims are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotVerified;

impl IntoResponse for NotVerified {
    fn into_response(self) -> Response {
        refusal(Refusal::Missing)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verified {
    type Rejection = NotVerified;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotVerified> {
        match parts.extensions.get::<Claims>() {
            Some(claims) => Ok(Verified(claims.clone())),
            None => {
                tracing::error!(
                    path = %parts.uri.path(),
                    "Verified used on a route without VerifyLayer in front of it"
                );
                Err(NotVerified)
            }
        }
    }
}
