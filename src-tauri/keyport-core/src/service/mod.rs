//! The service the app, the CLI and the tests call: [`Keyport`] over the
//! catalog, the store (SQLite), the keyring and the HTTP client. One file per
//! concern: `flow` (start, complete, wait, cancel), `recover`, `clients`,
//! `settings`, `import`, `tokens`, `health`, `revocation`; `dto` holds the
//! plain data that crosses to the UI and the CLI.
//!
//! Write order keeps the invariants "no keyring entry without its row" and
//! "no active row without its secrets" even if the process dies between steps:
//! a flow is claimed (`exchanging`) and its target recorded in SQLite before
//! tokens go to the keyring, and the row turns `active` only after they are
//! there; [`Keyport::recover`] finishes or rolls back whatever a dead process
//! left behind. An OS file lock per flow tells a dead owner from a live one.

pub mod api;
mod clients;
mod dto;
pub mod export;
mod flow;
pub mod health;
mod import;
mod recover;
pub mod revocation;
mod settings;
pub mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, Integration};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::paths::Paths;
use crate::policy::Policy;
use crate::secrets::{Secret, SecretKey, SecretStore};
use crate::store::{Connection, Event, Store};

pub use clients::{builtin_client, check_client_id};
pub use dto::{
    ClientSource, ClientSummary, ConnectOptions, Initiated, IntegrationSummary, Settings, SignIn,
};
pub use flow::FLOW_LIFETIME;

/// Keyport's core service. Cheap to clone; its parts are reached only
/// through its methods.
#[derive(Clone)]
pub struct Keyport {
    paths: Paths,
    catalog: Catalog,
    store: Store,
    secrets: SecretStore,
    http: Http,
    refresh_locks: RefreshLocks,
    clock: tokens::Clock,
    /// Client secrets read from the keyring, by (provider, row version).
    client_secrets: Arc<Mutex<HashMap<(String, i64), Secret>>>,
    /// The organisation's policy, or why its file cannot be used.
    policy: std::result::Result<Policy, Error>,
}

type RefreshLocks = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// How long a provider may take to answer one request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest note a connection keeps.
pub const MAX_NOTE_CHARS: usize = 2000;
/// How many days of a connection's history its timeline shows.
pub const HISTORY_DAYS: i64 = 30;
/// At most this many events make a connection's history (an hourly
/// renewal for 30 days is 720).
const HISTORY_LIMIT: usize = 5000;

impl Keyport {
    /// Opens the catalog, database and OS keyring for `paths`.
    pub fn open(paths: Paths) -> Result<Keyport> {
        let secrets = SecretStore::native(keyring_service(&paths));
        Keyport::open_with(paths, secrets)
    }

    pub fn open_with(paths: Paths, secrets: SecretStore) -> Result<Keyport> {
        let policy = Policy::load(paths.policy_dir.as_deref());
        if let Err(e) = &policy {
            tracing::error!(
                code = e.code(),
                "the organisation's policy cannot be used: {e}"
            );
        }
        // The person's catalog file only where the organisation allows it.
        let catalog = match &policy {
            Ok(p) if p.custom_integrations => Catalog::load(&paths.user_catalog())?,
            _ => Catalog::builtin(),
        };
        let store = Store::open(&paths.database())?;
        Ok(Keyport {
            paths,
            catalog,
            store,
            secrets,
            http: Http::new(HTTP_TIMEOUT),
            refresh_locks: Default::default(),
            clock: Default::default(),
            client_secrets: Default::default(),
            policy,
        })
    }

    /// The organisation's policy in force, or the error that its file
    /// could not be used (then what it governs is refused).
    pub fn policy(&self) -> Result<&Policy> {
        self.policy.as_ref().map_err(Error::clone)
    }

    /// The same service with another per-request HTTP timeout (tests use a
    /// short one so timeout cases run quickly).
    pub fn with_http_timeout(mut self, timeout: Duration) -> Keyport {
        self.http = Http::new(timeout);
        self
    }

    /// The same service timing refreshes and cooldowns by `clock` (tests
    /// pass a [`tokens::Clock::manual`] one).
    pub fn with_clock(mut self, clock: tokens::Clock) -> Keyport {
        self.clock = clock;
        self
    }

    /// Where this service keeps its files.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The keyring service name its entries are stored under.
    pub fn keyring_service(&self) -> &str {
        self.secrets.service()
    }

    /// Whether the OS keyring answers (for diagnostics).
    pub async fn keyring_status(&self) -> Result<String> {
        self.secrets.run(|s| Ok(s.backend_status())).await
    }

    pub fn integration(&self, id: &str) -> Result<&Integration> {
        self.catalog.get(id)
    }

    pub fn list(&self) -> Result<Vec<Connection>> {
        self.store.with(|db| db.list_connections())
    }

    /// A connection by id or account email.
    pub fn get(&self, id_or_email: &str) -> Result<Connection> {
        let mut found = self.store.with(|db| db.find_connections(id_or_email))?;
        match found.len() {
            0 => Err(Error::ConnectionNotFound(id_or_email.to_string())),
            1 => Ok(found.remove(0)),
            _ if found[0].id == id_or_email => Ok(found.remove(0)),
            n => Err(Error::InvalidInput(format!(
                "{n} connections use {id_or_email}; give the connection id instead (see `keyport list`)"
            ))),
        }
    }

    /// Labels a connection ("Client: Acme Ltd"); an empty label clears it.
    pub fn rename(&self, id_or_email: &str, label: Option<&str>) -> Result<Connection> {
        let label = clean_label(label)?;
        let c = self.get(id_or_email)?;
        self.store.with(|db| db.rename(&c.id, label))?;
        self.get(&c.id)
    }

    /// Keeps a note on a connection ("Client: Müller GmbH, VAT returns");
    /// an empty note clears it.
    pub fn set_note(&self, id_or_email: &str, note: Option<&str>) -> Result<Connection> {
        let note = clean_note(note)?;
        let c = self.get(id_or_email)?;
        self.store.with(|db| db.set_note(&c.id, note))?;
        self.get(&c.id)
    }

    /// Deletes every keyring entry this data folder's records name (tokens,
    /// client secrets, sign-in verifiers); returns how many were named.
    /// `keyport reset` then removes the folder itself.
    pub async fn delete_all_secrets(&self) -> Result<usize> {
        let mut keys: Vec<SecretKey> = Vec::new();
        for g in self.store.with(|db| db.list_grants())? {
            keys.push(SecretKey::Connection(g.id));
        }
        for c in self.store.with(|db| db.list_connections())? {
            keys.push(SecretKey::Connection(c.id));
        }
        for (id, _, _) in self.store.with(|db| db.due_revocations_all())? {
            keys.push(SecretKey::Connection(id));
        }
        for c in self.store.with(|db| db.clients())? {
            keys.push(SecretKey::ClientSecret(c.provider));
        }
        for f in self.store.with(|db| db.flows())? {
            keys.push(SecretKey::FlowVerifier(f.id));
        }
        let count = keys.len();
        self.secrets
            .run(move |s| keys.iter().try_for_each(|k| s.delete(k)))
            .await?;
        Ok(count)
    }

    /// A number that changes whenever another process (the CLI, a second
    /// window) has written to the database since the last call: polled by
    /// the window to stay current.
    pub fn outside_changes(&self) -> Result<i64> {
        self.store.with(|db| db.data_version())
    }

    /// How many revocations are still owed to providers (for diagnostics).
    pub fn pending_revocations(&self) -> Result<usize> {
        self.store.with(|db| db.pending_revocations())
    }

    /// The event log of one connection (or all), newest first.
    pub fn events(&self, connection_id: Option<&str>, limit: usize) -> Result<Vec<Event>> {
        self.store.with(|db| db.events(connection_id, limit))
    }

    /// A connection's history for its timeline: every event of the last
    /// [`HISTORY_DAYS`] days, and at least its newest `at_least` events
    /// however old, newest first.
    pub fn history(&self, connection_id: &str, at_least: usize) -> Result<Vec<Event>> {
        let since = crate::store::now_ms() - HISTORY_DAYS * 24 * 60 * 60 * 1000;
        self.store
            .with(|db| db.events_since(connection_id, since, at_least, HISTORY_LIMIT))
    }
}

/// A label as stored: trimmed, `None` when blank; at most 100 characters.
pub fn clean_label(label: Option<&str>) -> Result<Option<&str>> {
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    if label.is_some_and(|l| l.chars().count() > 100) {
        return Err(Error::InvalidInput(
            "a label can be at most 100 characters".into(),
        ));
    }
    Ok(label)
}

/// A note as stored: trimmed, `None` when blank; at most [`MAX_NOTE_CHARS`].
pub fn clean_note(note: Option<&str>) -> Result<Option<&str>> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(Error::InvalidInput(format!(
            "a note can be at most {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(note)
}

/// Crash injection for the tests: in debug builds, `KEYPORT_CRASH_AT=<step>`
/// aborts the process at that named write step. Release builds have no such
/// switch.
#[inline]
pub(crate) fn crash_point(step: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("KEYPORT_CRASH_AT").is_ok_and(|s| s == step) {
        eprintln!("KEYPORT_CRASH_AT: aborting at {step}");
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}

/// The keyring service: `dev.keyport`, or one per data folder when
/// `KEYPORT_DATA_DIR` points elsewhere (isolated runs must not share clients).
pub fn keyring_service(paths: &Paths) -> String {
    let default = Paths::from_env_defaults().map(|p| p.data_dir);
    if default.as_ref().ok() == Some(&paths.data_dir) {
        return crate::secrets::SERVICE.to_string();
    }
    let hash = state_hash(&paths.data_dir.to_string_lossy());
    format!("{}@{}", crate::secrets::SERVICE, &hash[..12])
}

/// The SHA-256 of a flow's state, hex: the only form of it SQLite keeps.
pub fn state_hash(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_hash_is_stable_hex() {
        assert_eq!(state_hash("abc").len(), 64);
        assert_eq!(state_hash("abc"), state_hash("abc"));
        assert_ne!(state_hash("abc"), state_hash("abd"));
    }
}
