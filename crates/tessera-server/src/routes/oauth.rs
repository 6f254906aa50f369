//! The OAuth 2.0 endpoints (`/oauth/token`, `/oauth/revoke`,
//! `/oauth/introspect`) with their form bodies and client authentication,
//! and OpenID Connect's `/userinfo`.

use crate::error::{ApiResult, OAuthApiError};
use crate::extract::{AuthUser, Client};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;
use std::collections::HashMap;
use tessera_core::oauth::{OAuthError, OAuthErrorCode};
use tessera_core::secret::SecretString;
use tessera_core::service::ClientAuthentication;

/// An `application/x-www-form-urlencoded` body (RFC 6749 §3.2): no
/// parameter twice, empty values treated as absent, unknown ones ignored.
#[derive(Debug, Default)]
pub struct OAuthForm(HashMap<String, String>);

impl OAuthForm {
    /// Parses a form body.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthApiError> {
        let mut fields = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if fields.insert(key.to_string(), value.into_owned()).is_some() {
                return Err(OAuthApiError::invalid_request(format!(
                    "the parameter {key} appears more than once"
                )));
            }
        }
        Ok(OAuthForm(fields))
    }

    /// An optional parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every parameter, in no particular order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A required parameter.
    pub fn required(&self, name: &str) -> Result<&str, OAuthApiError> {
        self.get(name)
            .ok_or_else(|| OAuthApiError::invalid_request(format!("{name} is required")))
    }
}

/// Whether the body is declared as a form.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

impl FromRequest<AppState> for OAuthForm {
    type Rejection = OAuthApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, OAuthApiError> {
        if !is_form(request.headers()) {
            return Err(OAuthApiError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| OAuthApiError::invalid_request("the body could not be read"))?;
        OAuthForm::parse(&bytes)
    }
}

/// How the request authenticates its client: HTTP Basic
/// (`client_secret_basic`, RFC 6749 §2.3.1, both parts form-encoded),
/// `client_id` and `client_secret` in the body (`client_secret_post`), or
/// `client_id` alone (a public client). Using two methods at once is refused.
pub fn client_authentication(
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<ClientAuthentication, OAuthApiError> {
    let basic = match headers.get(AUTHORIZATION) {
        Some(value) => basic_credentials(value)?,
        None => None,
    };
    match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(_), _, Some(_)) => Err(OAuthApiError::invalid_request(
            "use one client authentication method, not two",
        )),
        (Some((id, _)), Some(body_id), None) if body_id != id => Err(
            OAuthApiError::invalid_request("client_id differs from the authenticated client"),
        ),
        (Some((client_id, secret)), _, None) => Ok(ClientAuthentication::Secret {
            client_id,
            secret: secret.into(),
        }),
        (None, Some(id), Some(secret)) => Ok(ClientAuthentication::Secret {
            client_id: id.to_owned(),
            secret: SecretString::from(secret),
        }),
        (None, Some(id), None) => Ok(ClientAuthentication::Public(id.to_owned())),
        (None, None, Some(_)) => Err(OAuthApiError::invalid_request(
            "client_secret without client_id",
        )),
        (None, None, None) => Ok(ClientAuthentication::None),
    }
}

/// `Authorization: Basic` credentials; `None` for another scheme.
fn basic_credentials(value: &HeaderValue) -> Result<Option<(String, String)>, OAuthApiError> {
    let invalid = || OAuthApiError::from(OAuthError::invalid_client());
    let value = value.to_str().map_err(|_| invalid())?;
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// A JSON answer that must not be cached (RFC 6749 §5.1).
fn no_store(body: impl serde::Serialize) -> Response {
    super::no_store(Json(body))
}

/// `POST /oauth/token`
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type and its parameters (RFC 6749)"),
    responses((status = 200, description = "RFC 6749 §5.1 token response"),
              (status = 400, description = "RFC 6749 §5.2 error"),
              (status = 401, description = "invalid_client")))]
pub async fn token(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, OAuthApiError> {
    let auth = client_authentication(&headers, &form)?;
    let tessera = &state.tessera;
    let scope = form.get("scope");
    let grant = form.required("grant_type")?;
    let result = match grant {
        "password" => {
            let username = form.required("username")?;
            let password = form.required("password")?;
            tessera
                .grants()
                .password_grant(&auth, username, password, scope, &client)
                .await
        }
        "refresh_token" => {
            let refresh_token = form.required("refresh_token")?;
            tessera
                .grants()
                .refresh_token_grant(&auth, refresh_token, scope, &client)
                .await
        }
        "client_credentials" => {
            tessera
                .grants()
                .client_credentials_grant(&auth, scope)
                .await
        }
        "authorization_code" => {
            let code = form.required("code")?;
            tessera
                .grants()
                .authorization_code_grant(
                    &auth,
                    code,
                    form.get("redirect_uri"),
                    form.get("code_verifier"),
                    &client,
                )
                .await
        }
        _ => {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "grant_type must be password, refresh_token, client_credentials or authorization_code",
            )
            .into());
        }
    };
    let operation = match grant {
        "password" => "oauth_password",
        "refresh_token" => "oauth_refresh_token",
        "client_credentials" => "oauth_client_credentials",
        _ => "oauth_authorization_code",
    };
    state.metrics.count_result(operation, &result);
    let tokens = result?;
    Ok(no_store(tokens))
}

/// `POST /oauth/revoke`
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint (RFC 7009)"),
    responses((status = 200, description = "revoked, or nothing to revoke"),
              (status = 401, description = "invalid_client")))]
pub async fn revoke(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, OAuthApiError> {
    let auth = client_authentication(&headers, &form)?;
    let token = form.required("token")?;
    state
        .tessera
        .grants()
        .revoke_token(&auth, token, &client)
        .await?;
    Ok((StatusCode::OK, no_store(serde_json::json!({}))).into_response())
}

/// `POST /oauth/introspect`
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token (RFC 7662)"),
    responses((status = 200, description = "{active, …}"),
              (status = 401, description = "invalid_client: a confidential client must authenticate")))]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, OAuthApiError> {
    let auth = client_authentication(&headers, &form)?;
    let token = form.required("token")?;
    Ok(no_store(
        state.tessera.grants().introspect(&auth, token).await?,
    ))
}

/// `GET /userinfo` (also `POST`)
#[utoipa::path(get, path = "/userinfo", tag = "oauth", security(("bearer" = [])),
    responses((status = 200, description = "sub, preferred_username, name, email, roles (OIDC Core §5.3)"),
              (status = 401, description = "unauthenticated or invalid_token"),
              (status = 403, description = "a client's token, or a scope without openid")))]
pub async fn userinfo(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Value>> {
    Ok(Json(state.tessera.grants().userinfo(&auth.claims).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::secret::ExposeSecret;

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        h
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(OAuthForm::parse(b"grant_type=password&grant_type=password").is_err());
        let form = OAuthForm::parse(b"grant_type=password&scope=&x=1").unwrap();
        assert_eq!(form.get("scope"), None);
        assert_eq!(form.get("grant_type"), Some("password"));
    }

    #[test]
    fn client_authentication_takes_one_method() {
        let secret_of = |auth: ClientAuthentication| match auth {
            ClientAuthentication::Secret { client_id, secret } => {
                (client_id, secret.expose_secret().to_owned())
            }
            other => panic!("expected a secret, got {other:?}"),
        };
        let none = OAuthForm::default();
        let auth = client_authentication(&basic("app", "s%3Ac"), &none).unwrap();
        assert_eq!(secret_of(auth), ("app".to_owned(), "s:c".to_owned()));
        let post = OAuthForm::parse(b"client_id=app&client_secret=s").unwrap();
        assert!(client_authentication(&basic("app", "s"), &post).is_err());
        let auth = client_authentication(&HeaderMap::new(), &post).unwrap();
        assert_eq!(secret_of(auth), ("app".to_owned(), "s".to_owned()));
        let public = OAuthForm::parse(b"client_id=app").unwrap();
        assert!(matches!(
            client_authentication(&HeaderMap::new(), &public).unwrap(),
            ClientAuthentication::Public(id) if id == "app"
        ));
        let other = OAuthForm::parse(b"client_id=other").unwrap();
        assert!(client_authentication(&basic("app", "s"), &other).is_err());
        let mut garbage = HeaderMap::new();
        garbage.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(
            client_authentication(&garbage, &none)
                .unwrap_err()
                .error
                .code,
            OAuthErrorCode::InvalidClient
        );
    }
}
