//! The OAuth 2.0 authorization-code flow with PKCE S256 (RFC 6749, 7636,
//! 8252), built on the `oauth2` crate: the authorization URL, the code
//! exchange, refresh, and reading who signed in.

use std::time::Duration;

use base64::Engine;
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse as _,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::catalog::{Integration, OfflineStyle};
use crate::error::{Error, GrantEnd, Result};
use crate::http::{Http, HttpError};
use crate::secrets::Secret;

/// The OpenID Connect `id_token` Google and Microsoft add to token replies.
/// Its `Debug` never shows the token (the oauth2 crate prints extra fields).
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct IdTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl std::fmt::Debug for IdTokenFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenFields")
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}
impl ExtraTokenFields for IdTokenFields {}

type TokenReply = StandardTokenResponse<IdTokenFields, BasicTokenType>;
/// A token endpoint's error reply: RFC 6749 §5.2 plus what Google
/// (`error_subtype`) and Microsoft (`error_codes`) add to tell the cases of
/// `invalid_grant` apart.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct TokenErrorReply {
    #[serde(flatten)]
    base: BasicErrorResponse,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_subtype: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_codes: Option<serde_json::Value>,
}

impl std::fmt::Display for TokenErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.base.fmt(f)
    }
}
impl oauth2::ErrorResponse for TokenErrorReply {}

/// Which case of "sign in again" a provider's refusal is: Google's
/// `error_subtype`, Microsoft's AADSTS codes (in `error_codes` or at the
/// start of the description), else a plain revocation or expiry.
pub fn grant_end(subtype: Option<&str>, description: Option<&str>, codes: &[u64]) -> GrantEnd {
    if subtype == Some("invalid_rapt") {
        return GrantEnd::FreshSignIn;
    }
    let in_description = description.and_then(|d| {
        let at = d.find("AADSTS")? + "AADSTS".len();
        let digits: String = d[at..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().ok()
    });
    for code in codes.iter().copied().chain(in_description) {
        let why = match code {
            700082 | 70008 => GrantEnd::Unused,
            50173 => GrantEnd::PasswordChanged,
            50076 | 50079 => GrantEnd::MultiFactor,
            90094 | 65001 => GrantEnd::AdminApproval,
            _ => continue,
        };
        return why;
    }
    GrantEnd::Refused
}

type OAuthClient = oauth2::Client<
    TokenErrorReply,
    TokenReply,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The OAuth client Keyport acts as for one provider.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    /// Google desktop clients have one (not confidential, RFC 8252 §8.5).
    pub client_secret: Option<Secret>,
}

/// A freshly built authorization request.
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: Secret,
    pub verifier: Secret,
}

/// What the token endpoint returned, secrets wrapped.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: Option<Duration>,
    /// `None` when the reply had no `scope` (then it equals the request).
    pub scopes: Option<Vec<String>>,
    pub id_token: Option<Secret>,
}

/// Who signed in.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

fn client(
    integration: &Integration,
    creds: &ClientCredentials,
    redirect_uri: &str,
) -> Result<OAuthClient> {
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|e| Error::InvalidInput(format!("bad redirect URI: {e}")))?;
    let mut c = oauth2::Client::new(ClientId::new(creds.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(integration.authorize_url.clone()))
        .set_token_uri(TokenUrl::from_url(integration.token_url.clone()))
        .set_redirect_uri(redirect)
        // Google and Microsoft document credentials in the form body.
        .set_auth_type(AuthType::RequestBody);
    if let Some(secret) = &creds.client_secret {
        c = c.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    Ok(c)
}

/// The scopes to ask for: `scopes` plus what identity and offline access need.
pub fn request_scopes(integration: &Integration, scopes: &[String]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    let extra = integration.identity_scopes.iter();
    let offline = (integration.offline_access && integration.offline_style == OfflineStyle::Scope)
        .then(|| "offline_access".to_string());
    for s in scopes.iter().chain(extra).chain(offline.iter()) {
        if !s.is_empty() && !all.contains(s) {
            all.push(s.clone());
        }
    }
    all
}

/// Builds the authorization URL with a fresh state (≥128 bits) and PKCE S256.
pub fn authorization_request(
    integration: &Integration,
    creds: &ClientCredentials,
    redirect_uri: &str,
    scopes: &[String],
    login_hint: Option<&str>,
) -> Result<AuthorizationRequest> {
    let c = client(integration, creds, redirect_uri)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = c.authorize_url(CsrfToken::new_random);
    let sep = integration.scope_separator.as_str();
    if sep == " " {
        req = req.add_scopes(scopes.iter().cloned().map(Scope::new));
    } else if !scopes.is_empty() {
        req = req.add_scope(Scope::new(scopes.join(sep)));
    }
    if integration.pkce {
        req = req.set_pkce_challenge(challenge);
    }
    if integration.offline_access && integration.offline_style == OfflineStyle::AccessType {
        req = req.add_extra_param("access_type", "offline");
    }
    if let Some(prompt) = &integration.prompt {
        req = req.add_extra_param("prompt", prompt.clone());
    }
    for (k, v) in &integration.additional_params {
        req = req.add_extra_param(k.clone(), v.clone());
    }
    if let Some(hint) = login_hint {
        req = req.add_extra_param("login_hint", hint.to_string());
    }
    let (url, state) = req.url();
    Ok(AuthorizationRequest {
        url,
        state: Secret::new(state.secret().clone()),
        verifier: Secret::new(verifier.secret().clone()),
    })
}

/// Redeems an authorization code. `http` is Keyport's [`Http`] (the fuzz
/// target hands in canned replies).
pub async fn exchange_code<C>(
    http: &C,
    integration: &Integration,
    creds: &ClientCredentials,
    redirect_uri: &str,
    code: &Secret,
    verifier: Option<&Secret>,
) -> Result<Tokens>
where
    C: for<'c> oauth2::AsyncHttpClient<'c, Error = HttpError>,
{
    let c = client(integration, creds, redirect_uri)?;
    let mut req = c.exchange_code(AuthorizationCode::new(code.expose().to_string()));
    if let Some(v) = verifier {
        req = req.set_pkce_verifier(PkceCodeVerifier::new(v.expose().to_string()));
    }
    let reply = req.request_async(http).await.map_err(token_error)?;
    Ok(tokens(reply))
}

/// Uses a refresh token (`http` as for [`exchange_code`]).
pub async fn refresh<C>(
    http: &C,
    integration: &Integration,
    creds: &ClientCredentials,
    refresh_token: &Secret,
) -> Result<Tokens>
where
    C: for<'c> oauth2::AsyncHttpClient<'c, Error = HttpError>,
{
    let c = client(integration, creds, crate::callback::DEEP_LINK_REDIRECT)?;
    let token = RefreshToken::new(refresh_token.expose().to_string());
    let reply = c
        .exchange_refresh_token(&token)
        .request_async(http)
        .await
        .map_err(token_error)?;
    Ok(tokens(reply))
}

fn tokens(reply: TokenReply) -> Tokens {
    Tokens {
        access_token: Secret::new(reply.access_token().secret().clone()),
        refresh_token: reply
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone())),
        expires_in: reply.expires_in(),
        scopes: reply.scopes().map(|s| {
            s.iter()
                .flat_map(|s| s.split([' ', ',']))
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        }),
        id_token: reply.extra_fields().id_token.clone().map(Secret::new),
    }
}

/// Maps a token endpoint failure to a typed error without echoing the reply.
fn token_error(e: RequestTokenError<HttpError, TokenErrorReply>) -> Error {
    match e {
        RequestTokenError::ServerResponse(reply) => {
            let r = &reply.base;
            let description = r.error_description().map(|d| {
                d.chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect::<String>()
            });
            let codes: Vec<u64> = match &reply.error_codes {
                Some(serde_json::Value::Array(a)) => {
                    a.iter().filter_map(serde_json::Value::as_u64).collect()
                }
                _ => Vec::new(),
            };
            let subtype = reply.error_subtype.as_ref().and_then(|s| s.as_str());
            let why = grant_end(subtype, description.as_deref(), &codes);
            match r.error() {
                // Microsoft asks for multi-factor as `interaction_required`.
                BasicErrorResponseType::InvalidGrant | BasicErrorResponseType::Extension(_)
                    if why != GrantEnd::Refused
                        || *r.error() == BasicErrorResponseType::InvalidGrant =>
                {
                    Error::InvalidGrant { why, description }
                }
                BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient => {
                    Error::InvalidClient { description }
                }
                other => Error::TokenExchange {
                    error: other.as_ref().to_string(),
                    description,
                },
            }
        }
        RequestTokenError::Request(http) => http.into(),
        RequestTokenError::Parse(_, _) => {
            Error::ProviderMalformed("the token reply is not valid OAuth JSON".into())
        }
        RequestTokenError::Other(why) => Error::ProviderMalformed(why),
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    email: Option<String>,
    preferred_username: Option<String>,
    name: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    tid: Option<String>,
}

/// Clock skew tolerated on an id_token's `exp`.
const ID_TOKEN_LEEWAY_SECS: i64 = 300;

impl Claims {
    fn identity(self, what: &str) -> Result<Identity> {
        let subject = self
            .sub
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .ok_or_else(|| Error::Identity(format!("the {what} has no `sub`")))?;
        let email = self
            .email
            .or(self.preferred_username.filter(|u| u.contains('@')))
            .filter(|e| e.len() <= 320);
        Ok(Identity {
            subject,
            email,
            name: self.name.map(|n| n.chars().take(200).collect()),
        })
    }
}

/// The claims of an id_token received directly from the token endpoint over
/// TLS (OIDC Core §3.1.3.7 allows skipping the signature check then); the
/// audience must be our client.
/// OpenID Connect Core §3.1.3.7: `aud` names this client, `azp` (when
/// present, and required with several audiences) is this client, `exp` has
/// not passed, and `iss` is the integration's issuer when the catalog names
/// one. The token came straight from the token endpoint over TLS, so its
/// signature is not checked (§3.1.3.7 point 6).
pub fn id_token_identity(
    id_token: &Secret,
    client_id: &str,
    issuer: Option<&str>,
) -> Result<Identity> {
    let payload = id_token
        .expose()
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::Identity("the id_token is not a JWT".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| Error::Identity("the id_token is not valid base64url".into()))?;
    let claims: Claims = serde_json::from_slice(&bytes)
        .map_err(|_| Error::Identity("the id_token claims are not JSON".into()))?;
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(a)) => a == client_id,
        Some(serde_json::Value::Array(a)) => a.iter().any(|v| v == client_id),
        _ => false,
    };
    if !aud_ok {
        return Err(Error::Identity(
            "the id_token was issued to another client".into(),
        ));
    }
    let several_audiences = matches!(&claims.aud, Some(serde_json::Value::Array(a)) if a.len() > 1);
    match &claims.azp {
        Some(azp) if azp != client_id => {
            return Err(Error::Identity(
                "the id_token was issued to another client (azp)".into(),
            ))
        }
        None if several_audiences => {
            return Err(Error::Identity(
                "the id_token names several audiences but no authorized party".into(),
            ))
        }
        _ => {}
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match claims.exp {
        Some(exp) if exp + ID_TOKEN_LEEWAY_SECS >= now => {}
        Some(_) => return Err(Error::Identity("the id_token has expired".into())),
        None => return Err(Error::Identity("the id_token has no expiry".into())),
    }
    if let Some(expected) = issuer {
        let expected = match &claims.tid {
            Some(tid) => expected.replace("{tenantid}", tid),
            None => expected.to_string(),
        };
        if claims.iss.as_deref() != Some(expected.as_str()) {
            return Err(Error::Identity(
                "the id_token comes from another issuer".into(),
            ));
        }
    }
    claims.identity("id_token")
}

/// Who signed in: the userinfo endpoint when the integration has one, else
/// the id_token.
pub async fn identity(
    http: &Http,
    integration: &Integration,
    creds: &ClientCredentials,
    tokens: &Tokens,
) -> Result<Identity> {
    if let Some(url) = &integration.userinfo_url {
        let (status, body) = http
            .get_bearer(url, tokens.access_token.expose())
            .await
            .map_err(Error::from)?;
        if status != 200 {
            return Err(Error::Identity(format!(
                "the userinfo endpoint answered HTTP {status}"
            )));
        }
        let claims: Claims = serde_json::from_slice(&body)
            .map_err(|_| Error::Identity("the userinfo reply is not JSON".into()))?;
        return claims.identity("userinfo reply");
    }
    match &tokens.id_token {
        Some(id) => id_token_identity(id, &creds.client_id, integration.issuer.as_deref()),
        None => Err(Error::Identity(
            "the provider sent no id_token and the integration has no userinfo_url".into(),
        )),
    }
}

/// The integration's check call (Gmail: `users/me/profile`): `Ok(Some(json))`
/// on 200, `Ok(None)` without a check URL.
pub async fn check_call(
    http: &Http,
    integration: &Integration,
    access_token: &Secret,
) -> Result<Option<serde_json::Value>> {
    let Some(url) = &integration.check_url else {
        return Ok(None);
    };
    bearer_call(http, url, access_token, "check")
        .await
        .map(Some)
}

/// The userinfo endpoint called with the access token: `Ok(true)` when it
/// answered, `Ok(false)` when the integration has none.
pub async fn userinfo_call(
    http: &Http,
    integration: &Integration,
    access_token: &Secret,
) -> Result<bool> {
    let Some(url) = &integration.userinfo_url else {
        return Ok(false);
    };
    bearer_call(http, url, access_token, "userinfo").await?;
    Ok(true)
}

/// A GET with the access token whose 200 reply is JSON; 401 is the token
/// refused, 403 a scope missing.
async fn bearer_call(
    http: &Http,
    url: &Url,
    access_token: &Secret,
    what: &str,
) -> Result<serde_json::Value> {
    let (status, body) = http
        .get_bearer(url, access_token.expose())
        .await
        .map_err(Error::from)?;
    match status {
        200 => serde_json::from_slice(&body)
            .map_err(|_| Error::ProviderMalformed(format!("the {what} reply is not JSON"))),
        401 => Err(Error::InvalidGrant {
            why: GrantEnd::Refused,
            description: Some("the access token was refused".into()),
        }),
        403 => Err(Error::ScopesMissing(vec![])),
        other => Err(Error::ProviderError(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn creds() -> ClientCredentials {
        ClientCredentials {
            client_id: "cid".into(),
            client_secret: Some(Secret::new("csecret")),
        }
    }

    #[test]
    fn gmail_authorization_url_has_pkce_state_and_google_params() {
        let cat = Catalog::builtin();
        let gmail = cat.get("gmail").unwrap();
        let scopes = request_scopes(gmail, &gmail.default_scopes());
        assert_eq!(
            scopes,
            [
                "https://www.googleapis.com/auth/gmail.readonly",
                "openid",
                "email"
            ]
        );
        let req = authorization_request(
            gmail,
            &creds(),
            "http://127.0.0.1:5555/callback",
            &scopes,
            None,
        )
        .unwrap();
        let q: std::collections::HashMap<String, String> =
            req.url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["include_granted_scopes"], "true");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:5555/callback");
        assert_eq!(q["state"], req.state.expose());
        assert!(!q.contains_key("client_secret"));
        assert!(
            !q["scope"].contains("offline_access"),
            "Google rejects offline_access"
        );
        // 16 random bytes, base64url: ≥128 bits of state.
        assert!(req.state.expose().len() >= 22);
        let again = authorization_request(
            gmail,
            &creds(),
            "http://127.0.0.1:5555/callback",
            &scopes,
            None,
        )
        .unwrap();
        assert_ne!(again.state.expose(), req.state.expose());
    }

    #[test]
    fn outlook_asks_for_offline_access_scope() {
        let cat = Catalog::builtin();
        let outlook = cat.get("outlook").unwrap();
        let scopes = request_scopes(outlook, &outlook.default_scopes());
        assert!(scopes.contains(&"offline_access".to_string()));
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn id_token_issuer_expiry_and_authorized_party_are_checked() {
        let google = Some("https://accounts.google.com");
        let good = serde_json::json!({"sub":"42","aud":"cid","azp":"cid",
            "iss":"https://accounts.google.com","exp":now() + 600});
        assert!(id_token_identity(&jwt(good.clone()), "cid", google).is_ok());
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good.clone();
            c[k] = v;
            id_token_identity(&jwt(c), "cid", google)
                .unwrap_err()
                .to_string()
        };
        assert!(with("iss", "https://evil.example".into()).contains("another issuer"));
        assert!(with("exp", (now() - 3600).into()).contains("expired"));
        assert!(with("azp", "other-client".into()).contains("azp"));
        let mut no_exp = good.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(id_token_identity(&jwt(no_exp), "cid", google).is_err());
        let mut two = good.clone();
        two["aud"] = serde_json::json!(["cid", "other"]);
        two.as_object_mut().unwrap().remove("azp");
        assert!(id_token_identity(&jwt(two), "cid", google).is_err());
        // Microsoft's multi-tenant issuer names the tenant of the token.
        let ms = Some("https://login.microsoftonline.com/{tenantid}/v2.0");
        let t = serde_json::json!({"sub":"7","aud":"cid","tid":"t-1","exp":now() + 60,
            "iss":"https://login.microsoftonline.com/t-1/v2.0"});
        assert!(id_token_identity(&jwt(t.clone()), "cid", ms).is_ok());
        let mut other_tenant = t;
        other_tenant["iss"] = "https://login.microsoftonline.com/t-2/v2.0".into();
        assert!(id_token_identity(&jwt(other_tenant), "cid", ms).is_err());
    }

    #[test]
    fn token_reply_debug_hides_the_id_token() {
        let fields: IdTokenFields =
            serde_json::from_str(r#"{"id_token":"eyJhbGciOi.secret-part.sig"}"#).unwrap();
        let shown = format!("{fields:?}");
        assert!(!shown.contains("secret-part"), "{shown}");
    }

    fn jwt(claims: serde_json::Value) -> Secret {
        let e = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        Secret::new(format!(
            "{}.{}.sig",
            e(&serde_json::json!({"alg":"RS256"})),
            e(&claims)
        ))
    }

    #[test]
    fn id_token_identity_checks_audience() {
        let t =
            jwt(serde_json::json!({"sub":"42","email":"a@b.example","aud":"cid","exp":now() + 60}));
        let id = id_token_identity(&t, "cid", None).unwrap();
        assert_eq!(
            (id.subject.as_str(), id.email.as_deref()),
            ("42", Some("a@b.example"))
        );
        assert_eq!(
            id_token_identity(&t, "other", None).unwrap_err().code(),
            "identity.failed"
        );
        assert_eq!(
            id_token_identity(&Secret::new("garbage"), "cid", None)
                .unwrap_err()
                .code(),
            "identity.failed"
        );
    }
}
