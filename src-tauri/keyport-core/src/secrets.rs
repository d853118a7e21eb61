//! Secrets live only in the OS keyring (`keyring-core` with the platform's
//! native store). One entry per connection holds its [`TokenSet`] as one JSON
//! value; one per OAuth client secret; one per pending flow's PKCE verifier.
//!
//! Keyring calls block (D-Bus, Keychain, Credential Manager): async callers
//! go through [`SecretStore::run`], which moves them off the runtime.

use std::fmt;
use std::sync::{Arc, Mutex};

use keyring_core::{CredentialStore, Entry};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The keyring service name of the default data folder.
pub const SERVICE: &str = "dev.keyport";

/// A string that must never be shown: `Debug` and `Display` print
/// `[redacted]`, and it has no `Serialize`, so no DTO, IPC reply or log
/// field can carry one by accident. Only the keyring record below writes the
/// value, through [`Secret::expose`].
///
/// ```compile_fail,E0277
/// fn serialisable<T: serde::Serialize>() {}
/// serialisable::<keyport_core::secrets::Secret>();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The value itself, for the one place that must send it somewhere.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A connection's tokens, stored as one keyring value.
#[derive(Clone, Debug)]
pub struct TokenSet {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// Unix seconds; `None` when the provider gave no lifetime.
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
    pub token_type: String,
    /// Unix seconds when the provider issued these tokens.
    pub obtained_at: i64,
}

/// The keyring value of a [`TokenSet`]: the one serialised form of secrets.
#[derive(Serialize, Deserialize)]
struct StoredTokenSet {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default = "bearer")]
    token_type: String,
    #[serde(default)]
    obtained_at: i64,
}

impl TokenSet {
    fn to_keyring(&self) -> Result<Secret> {
        let stored = StoredTokenSet {
            access_token: self.access_token.expose().to_string(),
            refresh_token: self.refresh_token.as_ref().map(|r| r.expose().to_string()),
            expires_at: self.expires_at,
            scopes: self.scopes.clone(),
            token_type: self.token_type.clone(),
            obtained_at: self.obtained_at,
        };
        serde_json::to_string(&stored)
            .map(Secret::new)
            .map_err(|e| Error::KeyringUnavailable(format!("cannot encode tokens: {e}")))
    }

    fn from_keyring(value: &Secret) -> Option<TokenSet> {
        let s: StoredTokenSet = serde_json::from_str(value.expose()).ok()?;
        Some(TokenSet {
            access_token: Secret::new(s.access_token),
            refresh_token: s.refresh_token.map(Secret::new),
            expires_at: s.expires_at,
            scopes: s.scopes,
            token_type: s.token_type,
            obtained_at: s.obtained_at,
        })
    }
}

fn bearer() -> String {
    "Bearer".to_string()
}

/// The keyring entries Keyport owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretKey {
    Connection(String),
    ClientSecret(String),
    FlowVerifier(String),
}

impl SecretKey {
    fn user(&self) -> String {
        match self {
            SecretKey::Connection(id) => format!("connection:{id}"),
            SecretKey::ClientSecret(provider) => format!("client:{provider}"),
            SecretKey::FlowVerifier(id) => format!("flow:{id}"),
        }
    }
}

/// Opens the platform's credential store.
pub type StoreFactory = fn() -> Result<Arc<CredentialStore>>;

/// The OS keyring, opened on first use (a keyring that starts or unlocks
/// later is picked up on the next call).
#[derive(Clone)]
pub struct SecretStore {
    service: String,
    factory: StoreFactory,
    store: Arc<Mutex<Option<Arc<CredentialStore>>>>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("service", &self.service)
            .finish()
    }
}

impl SecretStore {
    /// The platform keyring under `service`.
    pub fn native(service: impl Into<String>) -> SecretStore {
        SecretStore::with_factory(service, native_store)
    }

    /// A keyring from `factory` (tests inject in-memory or failing stores).
    pub fn with_factory(service: impl Into<String>, factory: StoreFactory) -> SecretStore {
        SecretStore {
            service: service.into(),
            factory,
            store: Arc::new(Mutex::new(None)),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    fn store(&self) -> Result<Arc<CredentialStore>> {
        let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(s) => Ok(s.clone()),
            None => {
                let s = (self.factory)()?;
                *guard = Some(s.clone());
                Ok(s)
            }
        }
    }

    /// Runs `op` against the keyring. When the keyring service has gone
    /// away under this process (its daemon restarted: the session this
    /// process opened no longer exists, or the daemon left without
    /// replying, or was stopping while this process connected), the store is
    /// opened again and `op` runs again, up to three times with a short
    /// pause: every operation here is a whole get, set, delete or search, so
    /// running it twice is the same as running it once. Anything else — a
    /// locked keyring, a dismissed prompt, a missing entry, no keyring
    /// installed — is an answer: no retry.
    fn call<T>(&self, op: impl Fn(&Arc<CredentialStore>) -> keyring_core::Result<T>) -> Result<T> {
        const PAUSES_MS: [u64; 2] = [50, 250];
        let mut attempt = 0;
        loop {
            let failure = match self.store() {
                Err(e) if service_gone(&e.to_string()) => e,
                Err(e) => return Err(e),
                Ok(store) => match op(&store) {
                    Err(keyring_core::Error::PlatformFailure(e))
                        if service_gone(&e.to_string()) =>
                    {
                        let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
                        if guard.as_ref().is_some_and(|s| Arc::ptr_eq(s, &store)) {
                            *guard = None;
                        }
                        map_err(keyring_core::Error::PlatformFailure(e))
                    }
                    other => return other.map_err(map_err),
                },
            };
            let Some(pause) = PAUSES_MS.get(attempt) else {
                return Err(failure);
            };
            tracing::debug!(error = %failure, "the keyring service went away; reconnecting");
            std::thread::sleep(std::time::Duration::from_millis(*pause));
            attempt += 1;
        }
    }

    /// The names (`connection:<id>`, `client:<provider>`, `flow:<id>`) of
    /// every entry this service holds in the keyring, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let spec = std::collections::HashMap::from([("service", self.service.as_str())]);
        let mut users = self.call(|store| {
            let mut users = Vec::new();
            for entry in store.search(&spec)? {
                match entry.get_specifiers() {
                    Some((service, user)) => {
                        if service == self.service {
                            users.push(user);
                        }
                    }
                    None => {
                        if let Some(user) = entry.get_attributes()?.remove("username") {
                            users.push(user);
                        }
                    }
                }
            }
            Ok(users)
        })?;
        users.sort();
        Ok(users)
    }

    fn entry(
        store: &Arc<CredentialStore>,
        service: &str,
        key: &SecretKey,
    ) -> keyring_core::Result<Entry> {
        store.build(service, &key.user(), None)
    }

    pub fn set(&self, key: &SecretKey, value: &str) -> Result<()> {
        self.call(|s| Self::entry(s, &self.service, key)?.set_password(value))
    }

    pub fn get(&self, key: &SecretKey) -> Result<Option<Secret>> {
        self.call(
            |s| match Self::entry(s, &self.service, key)?.get_password() {
                Ok(v) => Ok(Some(Secret(v))),
                Err(keyring_core::Error::NoEntry) => Ok(None),
                Err(e) => Err(e),
            },
        )
    }

    /// Deletes the entry; deleting what is not there is not an error.
    pub fn delete(&self, key: &SecretKey) -> Result<()> {
        self.call(
            |s| match Self::entry(s, &self.service, key)?.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(e),
            },
        )
    }

    pub fn set_tokens(&self, connection_id: &str, tokens: &TokenSet) -> Result<()> {
        let value = tokens.to_keyring()?;
        self.set(
            &SecretKey::Connection(connection_id.to_string()),
            value.expose(),
        )
    }

    pub fn get_tokens(&self, connection_id: &str) -> Result<Option<TokenSet>> {
        match self.get(&SecretKey::Connection(connection_id.to_string()))? {
            None => Ok(None),
            // A damaged value is reported without echoing it.
            Some(v) => TokenSet::from_keyring(&v)
                .map(Some)
                .ok_or(Error::SecretMissing),
        }
    }

    /// Runs keyring work off the async runtime.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(SecretStore) -> Result<T> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this))
            .await
            .map_err(|e| Error::KeyringUnavailable(format!("keyring task failed: {e}")))?
    }

    /// A short description of the backend for diagnostics.
    pub fn backend_status(&self) -> String {
        match self.get(&SecretKey::ClientSecret("__probe__".into())) {
            Ok(_) => "available".to_string(),
            Err(e) => e.to_string(),
        }
    }
}

/// Does this keyring failure say the Secret Service left under us (its
/// daemon exited or restarted), rather than answering? The D-Bus error
/// names are stable across Secret Service implementations.
fn service_gone(text: &str) -> bool {
    [
        "org.freedesktop.Secret.Error.NoSession",
        "org.freedesktop.DBus.Error.NoReply",
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.Disconnected",
        "org.freedesktop.DBus.Error.UnknownObject",
    ]
    .iter()
    .any(|name| text.contains(name))
}

/// Maps keyring errors to `keyring.unavailable` without echoing any stored data.
fn map_err(e: keyring_core::Error) -> Error {
    use keyring_core::Error as K;
    let why = match e {
        K::NoStorageAccess(_) => "the keyring is locked; unlock it and try again".to_string(),
        K::NoDefaultStore => "no keyring service is running".to_string(),
        K::PlatformFailure(err) => format!("the keyring service failed ({err})"),
        K::BadEncoding(_) | K::BadDataFormat(..) => "a keyring value is damaged".to_string(),
        K::TooLong(what, max) => format!("{what} is longer than the keyring allows ({max})"),
        K::NoEntry => "the keyring entry is missing".to_string(),
        other => other.to_string().chars().take(200).collect::<String>(),
    };
    Error::KeyringUnavailable(why)
}

#[cfg(target_os = "linux")]
fn native_store() -> Result<Arc<CredentialStore>> {
    zbus_secret_service_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| {
            Error::KeyringUnavailable(format!(
                "no Secret Service is running (install and unlock GNOME Keyring or KeePassXC): {e}"
            ))
        })
}

#[cfg(target_os = "macos")]
fn native_store() -> Result<Arc<CredentialStore>> {
    apple_native_keyring_store::keychain::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(map_err)
}

#[cfg(target_os = "windows")]
fn native_store() -> Result<Arc<CredentialStore>> {
    windows_native_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(map_err)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn native_store() -> Result<Arc<CredentialStore>> {
    Err(Error::KeyringUnavailable(
        "this platform has no supported keyring".into(),
    ))
}

/// An in-memory store for unit tests.
#[cfg(test)]
pub fn mock_store() -> Result<Arc<CredentialStore>> {
    // One mock store per process so entries persist across `entry()` calls.
    static STORE: std::sync::OnceLock<Arc<CredentialStore>> = std::sync::OnceLock::new();
    Ok(STORE
        .get_or_init(|| keyring_core::mock::Store::new().expect("mock store"))
        .clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("ya29.very-secret");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        let t = TokenSet {
            access_token: s.clone(),
            refresh_token: Some(Secret::new("1//refresh")),
            expires_at: Some(1),
            scopes: vec![],
            token_type: bearer(),
            obtained_at: 0,
        };
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("ya29") && !shown.contains("1//refresh"),
            "{shown}"
        );
    }

    #[test]
    fn round_trip_through_a_store() {
        let store = SecretStore::with_factory("dev.keyport.test", mock_store);
        let key = SecretKey::ClientSecret("unit".into());
        assert!(store.get(&key).unwrap().is_none());
        store.set(&key, "s3cret").unwrap();
        assert_eq!(store.get(&key).unwrap().unwrap().expose(), "s3cret");
        store.delete(&key).unwrap();
        store.delete(&key).unwrap();
        assert!(store.get(&key).unwrap().is_none());
    }

    #[test]
    fn list_names_the_entries_of_its_service_only() {
        let store = SecretStore::with_factory("dev.keyport.list-test", mock_store);
        let other = SecretStore::with_factory("dev.keyport.list-test.other", mock_store);
        store
            .set(&SecretKey::FlowVerifier("f1".into()), "v")
            .unwrap();
        store.set(&SecretKey::Connection("c1".into()), "t").unwrap();
        other.set(&SecretKey::Connection("c2".into()), "t").unwrap();
        assert_eq!(store.list().unwrap(), ["connection:c1", "flow:f1"]);
        assert_eq!(other.list().unwrap(), ["connection:c2"]);
    }

    /// Injects `error` into the next call on `key`'s mock credential.
    fn fail_next(service: &str, key: &SecretKey, error: keyring_core::Error) {
        let entry = mock_store()
            .unwrap()
            .build(service, &key.user(), None)
            .unwrap();
        let cred: &keyring_core::mock::Cred = entry.as_any().downcast_ref().unwrap();
        cred.set_error(error);
    }

    #[test]
    fn a_failed_keyring_service_is_reopened_and_the_call_retried() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static OPENED: AtomicUsize = AtomicUsize::new(0);
        fn counting() -> Result<Arc<CredentialStore>> {
            OPENED.fetch_add(1, Ordering::SeqCst);
            mock_store()
        }
        let service = "dev.keyport.retry-test";
        let store = SecretStore::with_factory(service, counting);
        let key = SecretKey::Connection("restarted".into());
        store.set(&key, "kept").unwrap();
        assert_eq!(OPENED.load(Ordering::SeqCst), 1);

        // The daemon went away under the open store: reopened, read again.
        let gone = || {
            keyring_core::Error::PlatformFailure(
                "zbus error: org.freedesktop.Secret.Error.NoSession: The session does not exist"
                    .into(),
            )
        };
        fail_next(service, &key, gone());
        assert_eq!(store.get(&key).unwrap().unwrap().expose(), "kept");
        assert_eq!(OPENED.load(Ordering::SeqCst), 2);

        // Another failure of the service is an answer: no second try.
        fail_next(
            service,
            &key,
            keyring_core::Error::PlatformFailure("Prompt dismissed".into()),
        );
        assert!(store.get(&key).is_err());
        assert_eq!(OPENED.load(Ordering::SeqCst), 2);
        // A locked keyring is not a restart: no second try, a typed error.
        fail_next(
            service,
            &key,
            keyring_core::Error::NoStorageAccess("locked".into()),
        );
        let err = store.get(&key).unwrap_err();
        assert_eq!(err.code(), "keyring.unavailable");
        assert!(err.to_string().contains("locked"), "{err}");
        assert_eq!(OPENED.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn unavailable_keyring_is_a_typed_error() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static TRIED: AtomicUsize = AtomicUsize::new(0);
        fn none() -> Result<Arc<CredentialStore>> {
            TRIED.fetch_add(1, Ordering::SeqCst);
            Err(map_err(keyring_core::Error::NoDefaultStore))
        }
        let store = SecretStore::with_factory(SERVICE, none);
        let err = store.get(&SecretKey::Connection("x".into())).unwrap_err();
        assert_eq!(err.code(), "keyring.unavailable");
        // No keyring at all is an answer: one try.
        assert_eq!(TRIED.load(Ordering::SeqCst), 1);
    }
}
