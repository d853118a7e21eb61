//! Secrets live only in the OS keyring (`keyring-core` with the platform's
//! native store). One entry per connection holds its [`TokenSet`] as one JSON
//! value; one per OAuth client secret; one per pending flow's PKCE verifier.
//!
//! Every value fits Windows Credential Manager, which refuses a secret over
//! 2560 bytes stored as UTF-16 ([`MAX_ENTRY_UNITS`]): a token set that does
//! not (Microsoft's access tokens are JWTs of 1.5–3 KB) is split across
//! parts under a header that names them and the whole value's SHA-256. A set
//! with a part missing or changed reads as absent; it is never truncated.
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
    /// Unix seconds of the sign-in the refresh token came from (kept across
    /// refreshes); `None` when unknown (an imported refresh token).
    pub signed_in_at: Option<i64>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signed_in_at: Option<i64>,
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
            signed_in_at: self.signed_in_at,
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
            signed_in_at: s.signed_in_at,
        })
    }
}

fn bearer() -> String {
    "Bearer".to_string()
}

/// The most a keyring value may hold on every platform: Windows Credential
/// Manager's 2560 bytes, in UTF-16 code units.
pub const MAX_ENTRY_UNITS: usize = 1280;
/// The size of each part of a split value, under the limit with room to spare.
const PART_UNITS: usize = 1200;

/// The keyring entries Keyport owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretKey {
    Connection(String),
    ClientSecret(String),
    FlowVerifier(String),
    /// Part `index` of generation `generation` of a connection's split value.
    TokenPart {
        connection: String,
        generation: String,
        index: usize,
    },
}

/// The header a split token set leaves in the connection's own entry.
#[derive(Serialize, Deserialize)]
struct SplitHeader {
    keyport_split: u32,
    generation: String,
    parts: usize,
    sha256: String,
}

impl SplitHeader {
    fn part(&self, connection: &str, index: usize) -> SecretKey {
        SecretKey::TokenPart {
            connection: connection.to_string(),
            generation: self.generation.clone(),
            index,
        }
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `text` in pieces of at most [`PART_UNITS`] UTF-16 code units each.
fn split_units(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut units) = (0, 0);
    for (at, c) in text.char_indices() {
        if units + c.len_utf16() > PART_UNITS {
            parts.push(&text[start..at]);
            (start, units) = (at, 0);
        }
        units += c.len_utf16();
    }
    parts.push(&text[start..]);
    parts
}

impl SecretKey {
    fn user(&self) -> String {
        match self {
            SecretKey::Connection(id) => format!("connection:{id}"),
            SecretKey::TokenPart {
                connection,
                generation,
                index,
            } => format!("connection:{connection}#{generation}.{index}"),
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
    /// opened again and `op` runs again, up to four times with a short
    /// pause: every operation here is a whole get, set, delete or search, so
    /// running it twice is the same as running it once. Anything else — a
    /// locked keyring, a dismissed prompt, a missing entry, no keyring
    /// installed — is an answer: no retry.
    fn call<T>(&self, op: impl Fn(&Arc<CredentialStore>) -> keyring_core::Result<T>) -> Result<T> {
        const PAUSES_MS: [u64; 3] = [50, 250, 1000];
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

    /// Deletes the entry (a connection's with the parts of its split value);
    /// deleting what is not there is not an error.
    pub fn delete(&self, key: &SecretKey) -> Result<()> {
        if let SecretKey::Connection(id) = key {
            if let Some(header) = self.get(key)?.as_ref().and_then(split_header) {
                self.delete_entry(key)?;
                return self.delete_parts(id, &header);
            }
        }
        self.delete_entry(key)
    }

    fn delete_parts(&self, connection: &str, header: &SplitHeader) -> Result<()> {
        (0..header.parts).try_for_each(|i| self.delete_entry(&header.part(connection, i)))
    }

    fn delete_entry(&self, key: &SecretKey) -> Result<()> {
        self.call(
            |s| match Self::entry(s, &self.service, key)?.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(e),
            },
        )
    }

    /// Stores a connection's tokens: as one value when it fits every
    /// platform's keyring, else as parts of a new generation, then the header
    /// naming them (the moment the new set takes over), then the previous
    /// generation's parts go. A reader never sees a mix of the two.
    pub fn set_tokens(&self, connection_id: &str, tokens: &TokenSet) -> Result<()> {
        let value = tokens.to_keyring()?;
        let key = SecretKey::Connection(connection_id.to_string());
        let previous = self.get(&key)?.as_ref().and_then(split_header);
        if value.expose().encode_utf16().count() <= MAX_ENTRY_UNITS {
            self.set(&key, value.expose())?;
        } else {
            let pieces = split_units(value.expose());
            let header = SplitHeader {
                keyport_split: 1,
                generation: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
                parts: pieces.len(),
                sha256: sha256_hex(value.expose()),
            };
            for (i, piece) in pieces.iter().enumerate() {
                self.set(&header.part(connection_id, i), piece)?;
            }
            let text = serde_json::to_string(&header)
                .map_err(|e| Error::KeyringUnavailable(format!("cannot encode tokens: {e}")))?;
            self.set(&key, &text)?;
        }
        match previous {
            Some(old) => self.delete_parts(connection_id, &old),
            None => Ok(()),
        }
    }

    pub fn get_tokens(&self, connection_id: &str) -> Result<Option<TokenSet>> {
        // A writer may replace a split set between our reads: once more.
        let mut value = self.read_whole(connection_id)?;
        if value.is_none() {
            value = self.read_whole(connection_id)?;
        }
        match value {
            None => Ok(None),
            // A damaged value is reported without echoing it.
            Some(v) => TokenSet::from_keyring(&v)
                .map(Some)
                .ok_or(Error::SecretMissing),
        }
    }

    /// The connection's value, joined from its parts when it was split;
    /// `None` when absent or when a part is missing or does not match.
    fn read_whole(&self, connection_id: &str) -> Result<Option<Secret>> {
        let Some(value) = self.get(&SecretKey::Connection(connection_id.to_string()))? else {
            return Ok(None);
        };
        let Some(header) = split_header(&value) else {
            return Ok(Some(value));
        };
        let mut whole = String::new();
        for i in 0..header.parts {
            match self.get(&header.part(connection_id, i))? {
                Some(piece) => whole.push_str(piece.expose()),
                None => return Ok(None),
            }
        }
        Ok((sha256_hex(&whole) == header.sha256).then(|| Secret::new(whole)))
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

/// The header of a split value, if `value` is one.
fn split_header(value: &Secret) -> Option<SplitHeader> {
    serde_json::from_str::<SplitHeader>(value.expose())
        .ok()
        .filter(|h| h.keyport_split == 1)
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
            signed_in_at: None,
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

    /// The mock store with Windows Credential Manager's rule: a secret over
    /// 2560 bytes, stored as UTF-16, is refused.
    struct WindowsLimit;

    struct Limited(Entry);

    impl keyring_core::api::CredentialStoreApi for WindowsLimit {
        fn vendor(&self) -> String {
            "windows-limit".into()
        }
        fn id(&self) -> String {
            "windows-limit".into()
        }
        fn build(
            &self,
            service: &str,
            user: &str,
            modifiers: Option<&std::collections::HashMap<&str, &str>>,
        ) -> keyring_core::Result<Entry> {
            let inner = mock_store()
                .expect("mock store")
                .build(service, user, modifiers)?;
            Ok(Entry::new_with_credential(Arc::new(Limited(inner))))
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    impl keyring_core::api::CredentialApi for Limited {
        fn set_secret(&self, secret: &[u8]) -> keyring_core::Result<()> {
            let bytes = String::from_utf8_lossy(secret).encode_utf16().count() * 2;
            if bytes > 2560 {
                return Err(keyring_core::Error::TooLong("password".into(), 2560));
            }
            self.0.set_secret(secret)
        }
        fn get_secret(&self) -> keyring_core::Result<Vec<u8>> {
            self.0.get_secret()
        }
        fn delete_credential(&self) -> keyring_core::Result<()> {
            self.0.delete_credential()
        }
        fn get_credential(
            &self,
        ) -> keyring_core::Result<Option<Arc<keyring_core::api::Credential>>> {
            Ok(None)
        }
        fn get_specifiers(&self) -> Option<(String, String)> {
            self.0.get_specifiers()
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    fn windows() -> Result<Arc<CredentialStore>> {
        Ok(Arc::new(WindowsLimit))
    }

    fn header_of(store: &SecretStore, id: &str) -> SplitHeader {
        let raw = store
            .get(&SecretKey::Connection(id.into()))
            .unwrap()
            .unwrap();
        split_header(&raw).expect("a split header")
    }

    #[test]
    fn a_token_set_too_big_for_windows_is_split_and_reads_back_whole() {
        let store = SecretStore::with_factory("dev.keyport.windows-test", windows);
        let id = "outlook";
        // The limit is real: a value over it is refused.
        let over = "a".repeat(MAX_ENTRY_UNITS + 1);
        let refused = store.set(&SecretKey::Connection("x".into()), &over);
        assert_eq!(refused.unwrap_err().code(), "keyring.unavailable");

        // A Microsoft-sized access token (a 2.5 KB JWT) and refresh token.
        let big = TokenSet {
            access_token: Secret::new(format!("eyJ0eXAi.{}", "Qk".repeat(1250))),
            refresh_token: Some(Secret::new(format!("M.C540_BL2.{}", "r".repeat(900)))),
            expires_at: Some(4_000_000_000),
            scopes: vec![
                "https://graph.microsoft.com/Mail.Read".into(),
                "é".repeat(300),
            ],
            token_type: bearer(),
            obtained_at: 1,
            signed_in_at: Some(1),
        };
        store.set_tokens(id, &big).unwrap();
        let back = store.get_tokens(id).unwrap().unwrap();
        assert_eq!(back.access_token, big.access_token);
        assert_eq!(back.refresh_token, big.refresh_token);
        assert_eq!(back.scopes, big.scopes);
        let first = header_of(&store, id);
        assert!(first.parts >= 3, "{} parts", first.parts);

        // Written again (a refresh): a new generation; the old parts go.
        store.set_tokens(id, &big).unwrap();
        let second = header_of(&store, id);
        assert_ne!(first.generation, second.generation);
        assert!(store.get(&first.part(id, 0)).unwrap().is_none());
        assert_eq!(
            store.get_tokens(id).unwrap().unwrap().access_token,
            big.access_token
        );

        // A part missing: the set reads as absent, never as a cut token.
        store.delete_entry(&second.part(id, 1)).unwrap();
        assert!(store.get_tokens(id).unwrap().is_none());

        // A small set replaces it in one entry, and the parts go.
        store.set_tokens(id, &big).unwrap();
        let third = header_of(&store, id);
        let small = TokenSet {
            access_token: Secret::new("ya29.small"),
            ..big.clone()
        };
        let small = TokenSet {
            refresh_token: Some(Secret::new("1//small")),
            scopes: vec![],
            ..small
        };
        store.set_tokens(id, &small).unwrap();
        assert_eq!(
            store.get_tokens(id).unwrap().unwrap().access_token,
            small.access_token
        );
        assert!((0..third.parts).all(|i| store.get(&third.part(id, i)).unwrap().is_none()));

        // Deleting the connection's entry takes the parts with it.
        store.set_tokens(id, &big).unwrap();
        let fourth = header_of(&store, id);
        store.delete(&SecretKey::Connection(id.into())).unwrap();
        assert!(store.get_tokens(id).unwrap().is_none());
        assert!((0..fourth.parts).all(|i| store.get(&fourth.part(id, i)).unwrap().is_none()));
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
