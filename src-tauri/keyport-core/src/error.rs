//! The one error type of Keyport's core, with the stable dotted codes the UI,
//! the CLI and scripts rely on ([`CODES`] lists them all; the UI's code union
//! is generated from it).
//!
//! Variants hold data, `Display` holds the wording. Messages are human
//! sentences and never carry a secret: variants hold only what is safe to
//! show (no tokens, codes, verifiers or client secrets).

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("{file}:{line}:{column}: {field}: {message}")]
    CatalogInvalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("{file}:{line}:{column}: {field}: {message}. Keyport follows no organisation settings until an administrator fixes this file, and will not sign in meanwhile.")]
    PolicyInvalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("The organisation policy {file} is not used: {reason}. Keyport will not sign in until an administrator fixes it.")]
    PolicyUnsafe { file: String, reason: String },
    #[error("Your organisation sets the OAuth client for {provider}; it cannot be changed here.")]
    PolicyLocked { provider: String },
    #[error("Your organisation does not allow {what}.")]
    PolicyForbids { what: String },
    #[error("{message}")]
    ClientInvalid { provider: String, message: String },
    #[error("{file} can be changed by other users of this computer, so Keyport does not use it. Run `chmod go-w {file}` and restart Keyport.")]
    CatalogUnsafe { file: String },
    #[error(
        "{name} would send your sign-in and tokens to {}, which the OAuth client for {provider} was not saved for. If you wrote this catalog entry yourself, confirm it in the Keyport window or with `keyport client trust {id}`.",
        .origins.join(", ")
    )]
    UntrustedEndpoints {
        id: String,
        name: String,
        provider: String,
        origins: Vec<String>,
    },
    #[error(
        "There is no integration called \"{id}\".{} Run `keyport integrations` to see them.",
        .suggestion.as_ref().map(|s| format!(" Did you mean \"{s}\"?")).unwrap_or_default()
    )]
    IntegrationUnknown {
        id: String,
        suggestion: Option<String>,
    },
    #[error(
        "{name} needs an OAuth client before it can connect: set one with `keyport client set {provider} --client-id …{}`.{}",
        if *.secret_required { " --client-secret-stdin" } else { "" },
        .guide.as_ref().map(|g| format!(" Setup guide: {g}")).unwrap_or_default()
    )]
    IntegrationNotConfigured {
        name: String,
        provider: String,
        secret_required: bool,
        guide: Option<String>,
    },
    #[error("{0}")]
    InvalidInput(String),
    #[error("Keyport sends {integration}'s token only to its API ({allowed}); {host} is not one of them, so nothing was sent.")]
    ForeignHost {
        integration: String,
        host: String,
        allowed: String,
    },
    #[error("The API answered HTTP {0}.")]
    ApiStatus(u16),
    #[error("This link is not a Keyport sign-in callback: {0}.")]
    DeepLinkInvalid(String),
    #[error("This sign-in response does not match any sign-in Keyport started. Start the connection again from Keyport.")]
    StateMismatch,
    #[error("There is no sign-in \"{0}\" in progress.")]
    FlowNotFound(String),
    #[error("This sign-in response came the wrong way: the sign-in waits for a {} redirect. Start the connection again from Keyport if it does not finish.", .expected.as_str())]
    WrongChannel {
        expected: crate::catalog::RedirectMode,
    },
    #[error("This sign-in response names another server ({got}) than {integration}'s ({expected}), so Keyport did not use it. Start the connection again.")]
    IssuerMismatch {
        integration: String,
        expected: String,
        got: String,
    },
    #[error("This sign-in response was already used. Start the connection again from Keyport.")]
    StateReused,
    #[error("The sign-in took longer than 10 minutes and expired. Start the connection again.")]
    FlowExpired,
    #[error("You declined access{}. Connect again and allow access to continue.", parenthesised(.description))]
    AccessDenied { description: Option<String> },
    #[error("The provider refused the sign-in ({error}){}.", parenthesised(.description))]
    AuthorizationFailed {
        error: String,
        description: Option<String>,
    },
    #[error("The sign-in response had no authorization code. Start the connection again.")]
    MissingCode,
    #[error("The sign-in was cancelled.")]
    Cancelled,
    #[error("No sign-in response arrived in time. Start the connection again.")]
    Timeout,
    /// `invalid_grant` and its kin: the provider no longer accepts the
    /// sign-in; `why` says which case, each with its own code and sentence.
    #[error("{}", grant_sentence(*.why, .description))]
    InvalidGrant {
        why: GrantEnd,
        description: Option<String>,
    },
    #[error("The provider rejected Keyport's OAuth client{}. Check the client id and secret in Settings.", said(.description))]
    InvalidClient { description: Option<String> },
    #[error("The token exchange failed: the provider answered {error}{}.", said(.description))]
    TokenExchange {
        error: String,
        description: Option<String>,
    },
    #[error("The provider did not revoke the access (HTTP {status}).")]
    RevocationFailed { status: u16 },
    #[error("The provider's reply could not be understood: {0}.")]
    ProviderMalformed(String),
    #[error("The provider could not be reached: {0}.")]
    ProviderUnreachable(String),
    #[error("The provider had an error (HTTP {0}). Try again later.")]
    ProviderError(u16),
    #[error("The provider is limiting requests{}. Try again later.", retry_hint(*.retry_after_secs))]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("Keyport could not find out which account signed in: {0}.")]
    Identity(String),
    #[error("Access was granted without {}: connect again and allow it.", .0.join(", "))]
    ScopesMissing(Vec<String>),
    #[error("You signed in as {got}; this connection is {expected}. Sign in with {expected} to reconnect it.")]
    WrongAccount { got: String, expected: String },
    #[error("The system keyring is not available: {0}. Keyport keeps tokens only in the keyring, so nothing was saved.")]
    KeyringUnavailable(String),
    #[error(
        "The secret Keyport stored for this connection is missing from the keyring. Reconnect it."
    )]
    SecretMissing,
    #[error(
        "This sign-in's PKCE verifier is missing from the keyring. Start the connection again."
    )]
    VerifierMissing,
    #[error("The Keyport database is busy in another process. Try again.")]
    StoreBusy,
    #[error("The Keyport database file is damaged ({0}). Move it aside and restart Keyport.")]
    StoreCorrupt(String),
    #[error("The Keyport database failed: {0}.")]
    Store(String),
    #[error("There is no connection \"{0}\". Run `keyport list` to see them.")]
    ConnectionNotFound(String),
    #[error("This connection needs you to sign in again{}.", if .0.is_empty() { String::new() } else { format!(" ({})", .0) })]
    NeedsReauth(String),
    #[error("Connection {0} is not connected. Connect it again.")]
    NotConnected(String),
    #[error("The provider failed recently; Keyport will try again in {secs} s. {last}")]
    CoolingDown { secs: u64, last: String },
    #[error("Keyport stopped while finishing the sign-in. Connect again.")]
    Interrupted,
    /// An error another process recorded (its code and message as stored).
    #[error("{message}")]
    Remote { code: String, message: String },
    #[error("{0}")]
    Io(String),
}

/// Why a provider stopped accepting a sign-in. Every case means "sign in
/// again"; they differ in what the person (or an administrator) should know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantEnd {
    /// Revoked or expired (Google: "Token has been expired or revoked."),
    /// or a code that is no longer valid.
    Refused,
    /// Google's `error_subtype: invalid_rapt`: the organisation's session
    /// policy wants a fresh sign-in; nothing was revoked.
    FreshSignIn,
    /// A custom Google client's refresh token ended about 7 days after the
    /// sign-in: what Google does to clients in "Testing" status.
    TestingClient,
    /// Unused for too long (Microsoft AADSTS700082, AADSTS70008).
    Unused,
    /// The password was changed or reset (Microsoft AADSTS50173).
    PasswordChanged,
    /// A multi-factor sign-in is required (Microsoft AADSTS50076, AADSTS50079).
    MultiFactor,
    /// An administrator must approve the app (Microsoft AADSTS90094, AADSTS65001).
    AdminApproval,
}

impl GrantEnd {
    pub fn code(self) -> &'static str {
        match self {
            GrantEnd::Refused => "oauth.invalid_grant",
            GrantEnd::FreshSignIn => "oauth.fresh_sign_in_required",
            GrantEnd::TestingClient => "oauth.testing_client_expired",
            GrantEnd::Unused => "oauth.expired_unused",
            GrantEnd::PasswordChanged => "oauth.password_changed",
            GrantEnd::MultiFactor => "oauth.mfa_required",
            GrantEnd::AdminApproval => "oauth.admin_approval_required",
        }
    }

    pub const ALL: [GrantEnd; 7] = [
        GrantEnd::Refused,
        GrantEnd::FreshSignIn,
        GrantEnd::TestingClient,
        GrantEnd::Unused,
        GrantEnd::PasswordChanged,
        GrantEnd::MultiFactor,
        GrantEnd::AdminApproval,
    ];
}

fn grant_sentence(why: GrantEnd, description: &Option<String>) -> String {
    match why {
        GrantEnd::Refused => format!(
            "The provider did not accept the authorization{} Access was revoked or has expired: sign in again.",
            match description {
                Some(d) => format!(" (\"{}\").", d.trim_end_matches('.')),
                None => ".".into(),
            }
        ),
        GrantEnd::FreshSignIn => "Your organisation asks you to sign in again: its sign-in session has ended. Nothing was revoked; sign in again to go on.".into(),
        GrantEnd::TestingClient => "The sign-in ended about 7 days after it began, which Google does to OAuth clients in \"Testing\" status. Sign in again; to stop it happening, publish the client (\"In production\") in Google Cloud Console, or use Keyport's own client.".into(),
        GrantEnd::Unused => "The sign-in expired because it went unused for too long. Sign in again.".into(),
        GrantEnd::PasswordChanged => "The sign-in ended because the account's password was changed or reset. Sign in again with the new password.".into(),
        GrantEnd::MultiFactor => "Your organisation now requires a multi-factor sign-in for this account. Sign in again and complete the extra step.".into(),
        GrantEnd::AdminApproval => "An administrator of your organisation must approve Keyport for this account. Ask your IT administrator to grant consent, then connect again.".into(),
    }
}

impl Error {
    /// `integration.unknown` for `id`, naming the closest of `known` when it
    /// looks like a typo ("gmial" → "gmail").
    pub fn unknown_integration<'a>(id: &str, known: impl IntoIterator<Item = &'a str>) -> Error {
        let wanted = id.to_lowercase();
        let suggestion = known
            .into_iter()
            .map(|k| (strsim::damerau_levenshtein(&wanted, &k.to_lowercase()), k))
            .filter(|(distance, k)| *distance <= 2.max(k.len() / 4))
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, k)| k.to_string());
        Error::IntegrationUnknown {
            id: id.to_string(),
            suggestion,
        }
    }
}

/// ` (text)` when the provider gave a description.
fn parenthesised(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

/// `: text` when the provider gave a description.
fn said(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

/// Every code [`Error::code`] can return, in one place: the UI's `ErrorCode`
/// union is generated from it, and a test checks each variant's code is here.
pub const CODES: &[&str] = &[
    "catalog.invalid",
    "catalog.unsafe_permissions",
    "policy.invalid",
    "policy.unsafe",
    "policy.locked",
    "policy.forbidden",
    "client.invalid",
    "integration.untrusted_endpoints",
    "integration.unknown",
    "integration.not_configured",
    "input.invalid",
    "deeplink.invalid",
    "oauth.state_mismatch",
    "oauth.state_reused",
    "oauth.flow_expired",
    "oauth.flow_not_found",
    "oauth.wrong_channel",
    "oauth.issuer_mismatch",
    "oauth.access_denied",
    "oauth.authorization_failed",
    "oauth.missing_code",
    "oauth.cancelled",
    "oauth.timeout",
    "oauth.invalid_grant",
    "oauth.fresh_sign_in_required",
    "oauth.testing_client_expired",
    "oauth.expired_unused",
    "oauth.password_changed",
    "oauth.mfa_required",
    "oauth.admin_approval_required",
    "oauth.invalid_client",
    "oauth.token_exchange",
    "oauth.interrupted",
    "oauth.failed",
    "oauth.scopes_missing",
    "provider.malformed",
    "provider.unreachable",
    "provider.error",
    "provider.rate_limited",
    "provider.cooldown",
    "provider.revocation_failed",
    "identity.failed",
    "connection.wrong_account",
    "connection.not_found",
    "api.foreign_host",
    "api.status",
    "connection.needs_reauth",
    "connection.not_active",
    "keyring.unavailable",
    "keyring.secret_missing",
    "keyring.verifier_missing",
    "store.busy",
    "store.corrupt",
    "store.failed",
    "io.failed",
    "app.not_found",
];

fn retry_hint(secs: Option<u64>) -> String {
    secs.map(|s| format!(" (retry after {s} s)"))
        .unwrap_or_default()
}

impl Error {
    /// The stable, dotted code scripts and the UI match on.
    pub fn code(&self) -> &str {
        use Error::*;
        match self {
            CatalogInvalid { .. } => "catalog.invalid",
            CatalogUnsafe { .. } => "catalog.unsafe_permissions",
            PolicyInvalid { .. } => "policy.invalid",
            PolicyUnsafe { .. } => "policy.unsafe",
            PolicyLocked { .. } => "policy.locked",
            PolicyForbids { .. } => "policy.forbidden",
            ClientInvalid { .. } => "client.invalid",
            UntrustedEndpoints { .. } => "integration.untrusted_endpoints",
            IntegrationUnknown { .. } => "integration.unknown",
            IntegrationNotConfigured { .. } => "integration.not_configured",
            InvalidInput(_) => "input.invalid",
            ForeignHost { .. } => "api.foreign_host",
            ApiStatus(_) => "api.status",
            DeepLinkInvalid(_) => "deeplink.invalid",
            StateMismatch => "oauth.state_mismatch",
            FlowNotFound(_) => "oauth.flow_not_found",
            WrongChannel { .. } => "oauth.wrong_channel",
            StateReused => "oauth.state_reused",
            IssuerMismatch { .. } => "oauth.issuer_mismatch",
            FlowExpired => "oauth.flow_expired",
            AccessDenied { .. } => "oauth.access_denied",
            AuthorizationFailed { .. } => "oauth.authorization_failed",
            MissingCode => "oauth.missing_code",
            Cancelled => "oauth.cancelled",
            Timeout => "oauth.timeout",
            InvalidGrant { why, .. } => why.code(),
            InvalidClient { .. } => "oauth.invalid_client",
            TokenExchange { .. } => "oauth.token_exchange",
            RevocationFailed { .. } => "provider.revocation_failed",
            ProviderMalformed(_) => "provider.malformed",
            ProviderUnreachable(_) => "provider.unreachable",
            ProviderError(_) => "provider.error",
            RateLimited { .. } => "provider.rate_limited",
            Identity(_) => "identity.failed",
            ScopesMissing(_) => "oauth.scopes_missing",
            WrongAccount { .. } => "connection.wrong_account",
            KeyringUnavailable(_) => "keyring.unavailable",
            SecretMissing => "keyring.secret_missing",
            VerifierMissing => "keyring.verifier_missing",
            StoreBusy => "store.busy",
            StoreCorrupt(_) => "store.corrupt",
            Store(_) => "store.failed",
            ConnectionNotFound(_) => "connection.not_found",
            Interrupted => "oauth.interrupted",
            NeedsReauth(_) => "connection.needs_reauth",
            NotConnected(_) => "connection.not_active",
            CoolingDown { .. } => "provider.cooldown",
            Remote { code, .. } => code,
            Io(_) => "io.failed",
        }
    }

    /// Failures worth retrying later (network, 5xx, 429, a busy database).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::ProviderUnreachable(_)
                | Error::ProviderError(_)
                | Error::RateLimited { .. }
                | Error::StoreBusy
        )
    }

    fn detail(&self) -> Option<serde_json::Value> {
        match self {
            Error::CatalogInvalid {
                file,
                line,
                column,
                field,
                ..
            }
            | Error::PolicyInvalid {
                file,
                line,
                column,
                field,
                ..
            } => Some(
                serde_json::json!({"file": file, "line": line, "column": column, "field": field}),
            ),
            Error::ScopesMissing(scopes) => Some(serde_json::json!({ "missing_scopes": scopes })),
            Error::RateLimited { retry_after_secs } => {
                Some(serde_json::json!({ "retry_after_secs": retry_after_secs }))
            }
            Error::ProviderError(status) | Error::RevocationFailed { status } => {
                Some(serde_json::json!({ "status": status }))
            }
            Error::UntrustedEndpoints { id, origins, .. } => {
                Some(serde_json::json!({ "integration": id, "origins": origins }))
            }
            Error::IntegrationNotConfigured { provider, .. } => {
                Some(serde_json::json!({ "provider": provider }))
            }
            _ => None,
        }
    }

    /// `{code, message, detail}` as a JSON value (CLI `--json`, logs, IPC).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let detail = self.detail();
        let mut s = serializer.serialize_struct("Error", 3)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.serialize_field("detail", &detail)?;
        s.end()
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::StoreBusy,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Error::StoreCorrupt(e.to_string())
            }
            _ => Error::Store(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_code_message_and_detail() {
        let v = Error::ScopesMissing(vec!["gmail.readonly".into()]).to_json();
        assert_eq!(v["code"], "oauth.scopes_missing");
        assert!(v["message"].as_str().unwrap().contains("gmail.readonly"));
        assert_eq!(v["detail"]["missing_scopes"][0], "gmail.readonly");
    }

    #[test]
    fn transient_classification() {
        assert!(Error::ProviderError(503).is_transient());
        assert!(Error::RateLimited {
            retry_after_secs: Some(3)
        }
        .is_transient());
        assert!(!Error::InvalidGrant {
            why: GrantEnd::Refused,
            description: None
        }
        .is_transient());
    }

    #[test]
    fn every_code_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for c in CODES {
            assert!(seen.insert(c), "{c} listed twice");
        }
        // One value of each variant; a new variant without a listed code fails.
        let all = [
            Error::CatalogInvalid {
                file: "f".into(),
                line: 1,
                column: 2,
                field: "x".into(),
                message: "m".into(),
            },
            Error::unknown_integration("x", []),
            Error::CatalogUnsafe { file: "f".into() },
            Error::PolicyInvalid {
                file: "f".into(),
                line: 1,
                column: 1,
                field: "x".into(),
                message: "m".into(),
            },
            Error::PolicyUnsafe {
                file: "f".into(),
                reason: "r".into(),
            },
            Error::PolicyLocked {
                provider: "google".into(),
            },
            Error::PolicyForbids { what: "x".into() },
            Error::ClientInvalid {
                provider: "google".into(),
                message: "m".into(),
            },
            Error::UntrustedEndpoints {
                id: "gmail".into(),
                name: "Gmail".into(),
                provider: "google".into(),
                origins: vec!["https://evil.example".into()],
            },
            Error::IntegrationNotConfigured {
                name: "Gmail".into(),
                provider: "google".into(),
                secret_required: true,
                guide: None,
            },
            Error::InvalidInput("x".into()),
            Error::DeepLinkInvalid("x".into()),
            Error::StateMismatch,
            Error::FlowNotFound("f".into()),
            Error::WrongChannel {
                expected: crate::catalog::RedirectMode::Loopback,
            },
            Error::StateReused,
            Error::IssuerMismatch {
                integration: "x".into(),
                expected: "x".into(),
                got: "x".into(),
            },
            Error::FlowExpired,
            Error::AccessDenied { description: None },
            Error::AuthorizationFailed {
                error: "e".into(),
                description: None,
            },
            Error::MissingCode,
            Error::Cancelled,
            Error::Timeout,
            Error::InvalidGrant {
                why: GrantEnd::Refused,
                description: None,
            },
            Error::InvalidClient { description: None },
            Error::TokenExchange {
                error: "e".into(),
                description: None,
            },
            Error::RevocationFailed { status: 500 },
            Error::ProviderMalformed("x".into()),
            Error::ProviderUnreachable("x".into()),
            Error::ProviderError(500),
            Error::RateLimited {
                retry_after_secs: None,
            },
            Error::Identity("x".into()),
            Error::ScopesMissing(vec![]),
            Error::WrongAccount {
                got: "a".into(),
                expected: "b".into(),
            },
            Error::KeyringUnavailable("x".into()),
            Error::SecretMissing,
            Error::VerifierMissing,
            Error::StoreBusy,
            Error::StoreCorrupt("x".into()),
            Error::Store("x".into()),
            Error::ConnectionNotFound("x".into()),
            Error::NeedsReauth(String::new()),
            Error::NotConnected("x".into()),
            Error::CoolingDown {
                secs: 1,
                last: String::new(),
            },
            Error::Interrupted,
            Error::Io("x".into()),
        ];
        let grant_ends = GrantEnd::ALL.map(|why| Error::InvalidGrant {
            why,
            description: None,
        });
        for e in all.iter().chain(&grant_ends) {
            assert!(CODES.contains(&e.code()), "{} is not in CODES", e.code());
        }
    }

    #[test]
    fn an_unknown_integration_names_the_one_meant() {
        let known = ["gmail", "google-calendar", "google-drive", "outlook"];
        let typo = Error::unknown_integration("gmial", known);
        assert_eq!(
            typo.to_string(),
            "There is no integration called \"gmial\". Did you mean \"gmail\"? Run `keyport integrations` to see them."
        );
        assert!(Error::unknown_integration("Google-Calender", known)
            .to_string()
            .contains("\"google-calendar\""));
        let far = Error::unknown_integration("dropbox", known);
        assert!(!far.to_string().contains("Did you mean"), "{far}");
    }

    #[test]
    fn wording_lives_in_display() {
        let e = Error::IntegrationNotConfigured {
            name: "Gmail".into(),
            provider: "google".into(),
            secret_required: true,
            guide: Some("https://example.test/guide".into()),
        };
        assert_eq!(
            e.to_string(),
            "Gmail needs an OAuth client before it can connect: set one with \
             `keyport client set google --client-id … --client-secret-stdin`. \
             Setup guide: https://example.test/guide"
        );
        let denied = Error::AccessDenied {
            description: Some("The user said no".into()),
        };
        assert!(denied
            .to_string()
            .starts_with("You declined access (The user said no)."));
    }
}
