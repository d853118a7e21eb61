//! The one error type of Keyport's core, with the stable dotted codes the UI,
//! the CLI and scripts rely on (see DESIGN.md "Errors").
//!
//! Messages are human sentences and never carry a secret: variants hold only
//! what is safe to show (no tokens, codes, verifiers or client secrets).

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}:{line}:{column}: {field}: {message}")]
    CatalogInvalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("There is no integration called \"{0}\". Run `keyport integrations` to see them.")]
    IntegrationUnknown(String),
    #[error("{name} needs an OAuth client before it can connect: set one with `keyport client set {provider} --client-id …`{secret_hint}.{guide}")]
    IntegrationNotConfigured {
        name: String,
        provider: String,
        secret_hint: String,
        guide: String,
    },
    #[error("{0}")]
    InvalidInput(String),
    #[error("This link is not a Keyport sign-in callback: {0}.")]
    DeepLinkInvalid(String),
    #[error("This sign-in response does not match any sign-in Keyport started. Start the connection again from Keyport.")]
    StateMismatch,
    #[error("This sign-in response was already used. Start the connection again from Keyport.")]
    StateReused,
    #[error("The sign-in took longer than 10 minutes and expired. Start the connection again.")]
    FlowExpired,
    #[error("You declined access{0}. Connect again and allow access to continue.")]
    AccessDenied(String),
    #[error("The provider refused the sign-in ({error}){description}.")]
    AuthorizationFailed { error: String, description: String },
    #[error("The sign-in response had no authorization code. Start the connection again.")]
    MissingCode,
    #[error("The sign-in was cancelled.")]
    Cancelled,
    #[error("No sign-in response arrived in time. Start the connection again.")]
    Timeout,
    #[error("The provider did not accept the authorization{0}. Connect again.")]
    InvalidGrant(String),
    #[error("The provider rejected Keyport's OAuth client{0}. Check the client id and secret in Settings.")]
    InvalidClient(String),
    #[error("The token exchange failed: {0}.")]
    TokenExchange(String),
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
            IntegrationUnknown(_) => "integration.unknown",
            IntegrationNotConfigured { .. } => "integration.not_configured",
            InvalidInput(_) => "input.invalid",
            DeepLinkInvalid(_) => "deeplink.invalid",
            StateMismatch => "oauth.state_mismatch",
            StateReused => "oauth.state_reused",
            FlowExpired => "oauth.flow_expired",
            AccessDenied(_) => "oauth.access_denied",
            AuthorizationFailed { .. } => "oauth.authorization_failed",
            MissingCode => "oauth.missing_code",
            Cancelled => "oauth.cancelled",
            Timeout => "oauth.timeout",
            InvalidGrant(_) => "oauth.invalid_grant",
            InvalidClient(_) => "oauth.invalid_client",
            TokenExchange(_) => "oauth.token_exchange",
            ProviderMalformed(_) => "provider.malformed",
            ProviderUnreachable(_) => "provider.unreachable",
            ProviderError(_) => "provider.error",
            RateLimited { .. } => "provider.rate_limited",
            Identity(_) => "identity.failed",
            ScopesMissing(_) => "oauth.scopes_missing",
            WrongAccount { .. } => "connection.wrong_account",
            KeyringUnavailable(_) => "keyring.unavailable",
            SecretMissing => "keyring.secret_missing",
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
            } => Some(
                serde_json::json!({"file": file, "line": line, "column": column, "field": field}),
            ),
            Error::ScopesMissing(scopes) => Some(serde_json::json!({ "missing_scopes": scopes })),
            Error::RateLimited { retry_after_secs } => {
                Some(serde_json::json!({ "retry_after_secs": retry_after_secs }))
            }
            Error::ProviderError(status) => Some(serde_json::json!({ "status": status })),
            Error::IntegrationNotConfigured { provider, .. } => {
                Some(serde_json::json!({ "provider": provider }))
            }
            _ => None,
        }
    }

    /// The same code and message, for recording an error that is also returned.
    pub fn clone_for_record(&self) -> Error {
        match self {
            Error::AccessDenied(d) => Error::AccessDenied(d.clone()),
            Error::FlowExpired => Error::FlowExpired,
            Error::Cancelled => Error::Cancelled,
            Error::MissingCode => Error::MissingCode,
            other => Error::Remote {
                code: other.code().to_string(),
                message: other.to_string(),
            },
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
        assert!(!Error::InvalidGrant(String::new()).is_transient());
    }
}
