//! SQLite storage (rusqlite, bundled): connections, pending flows, OAuth
//! client settings and the event log. Never secrets (see `secrets`).
//!
//! One file in the data folder, user-only permissions, WAL, a busy timeout
//! and foreign keys on; the schema evolves through `migrations/*.sql`, applied
//! in order and tracked in `user_version`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection as Sqlite, OptionalExtension, Row};
use rusqlite_migration::{Migrations, M};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::RedirectMode;
use crate::error::{Error, Result};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/001_init.sql")),
        M::up(include_str!("migrations/002_settings.sql")),
        M::up(include_str!("migrations/003_endpoint_trust.sql")),
        M::up(include_str!("migrations/004_usage.sql")),
        M::up(include_str!("migrations/005_no_failed_rows.sql")),
        M::up(include_str!("migrations/006_grants.sql")),
        M::up(include_str!("migrations/007_notes.sql")),
    ])
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SSZ` for Unix milliseconds (UTC; days to a civil date
/// as in Howard Hinnant's `civil_from_days`).
pub fn utc_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(rename = "ConnectionStatus")]
pub enum Status {
    /// A flow was started; no tokens yet.
    Initiated,
    Active,
    /// Working, but the last refresh or check failed transiently.
    Degraded,
    /// The provider no longer accepts the grant: the user must reconnect.
    NeedsReauth,
    /// The flow that created it failed.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Initiated => "initiated",
            Status::Active => "active",
            Status::Degraded => "degraded",
            Status::NeedsReauth => "needs_reauth",
            Status::Failed => "failed",
        }
    }

    fn parse_column(s: &str) -> std::result::Result<Status, String> {
        Ok(match s {
            "initiated" => Status::Initiated,
            "active" => Status::Active,
            "degraded" => Status::Degraded,
            "needs_reauth" => Status::NeedsReauth,
            "failed" => Status::Failed,
            other => return Err(format!("unknown status {other:?}")),
        })
    }

    /// Has tokens in the keyring.
    pub fn has_secrets(self) -> bool {
        matches!(
            self,
            Status::Active | Status::Degraded | Status::NeedsReauth
        )
    }
}

/// The enums stored as text columns read and write themselves.
macro_rules! text_column {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                <$t>::parse_column(value.as_str()?).map_err(|e| FromSqlError::Other(e.into()))
            }
        }
    )*};
}
text_column!(Status, FlowPurpose, FlowStatus, RedirectMode);

impl RedirectMode {
    fn parse_column(s: &str) -> std::result::Result<RedirectMode, String> {
        RedirectMode::parse(s).map_err(|e| e.to_string())
    }
}

fn corrupt(msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::<dyn std::error::Error + Send + Sync>::from(msg),
    )
}

/// A connection as stored (and shown: nothing here is secret).
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct Connection {
    pub id: String,
    pub integration: String,
    pub provider: String,
    pub status: Status,
    pub label: Option<String>,
    pub subject: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub requested_scopes: Vec<String>,
    pub granted_scopes: Vec<String>,
    pub missing_scopes: Vec<String>,
    pub redirect_mode: RedirectMode,
    #[ts(type = "Record<string, unknown> | null")]
    pub profile: Option<serde_json::Value>,
    pub last_error_code: Option<String>,
    pub last_error_message: Option<String>,
    pub last_checked_at: Option<i64>,
    pub last_check_ok: Option<bool>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Transient refresh failures in a row.
    pub refresh_failures: i64,
    /// No refresh before this time (ms) after transient failures.
    pub retry_after: Option<i64>,
    pub last_refreshed_at: Option<i64>,
    /// The account grant this integration is enabled on (its tokens, its
    /// status); `None` until the first sign-in finishes.
    pub grant_id: Option<String>,
    /// The person's own note ("Client: Müller GmbH"); shown and exported,
    /// never sent anywhere.
    pub note: Option<String>,
}

impl Connection {
    /// Whose keyring entry holds this connection's tokens: its grant's.
    pub fn holder(&self) -> &str {
        self.grant_id.as_deref().unwrap_or(&self.id)
    }

    /// The person has to act: sign in again (`needs_reauth`), or grant the
    /// permissions a signed-in connection is missing. What the window's
    /// "Needs attention", the app badge, the tray and the notifications count.
    pub fn needs_person(&self) -> bool {
        match self.status {
            Status::NeedsReauth => true,
            Status::Active | Status::Degraded => !self.missing_scopes.is_empty(),
            Status::Initiated | Status::Failed => false,
        }
    }

    /// Signed in and not waiting for the person's sign-in: a check can
    /// reach the provider.
    pub fn checkable(&self) -> bool {
        matches!(self.status, Status::Active | Status::Degraded)
    }
}

const CONNECTION_COLUMNS: &str = "id, integration, provider, status, label, subject, email, \
    display_name, requested_scopes, granted_scopes, missing_scopes, redirect_mode, profile, \
    last_error_code, last_error_message, last_checked_at, last_check_ok, created_at, updated_at, \
    refresh_failures, retry_after, last_refreshed_at, grant_id, note";

/// One account's grant to one OAuth client: one refresh token (the keyring
/// entry `connection:<id>`), shared by the integrations enabled on it.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct Grant {
    pub id: String,
    pub provider: String,
    /// Empty for a grant made before clients were recorded.
    pub client_id: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Grant {
    /// A grant made now.
    pub fn new(
        id: &str,
        provider: &str,
        client_id: &str,
        subject: &str,
        email: Option<&str>,
    ) -> Grant {
        let now = now_ms();
        Grant {
            id: id.to_string(),
            provider: provider.to_string(),
            client_id: client_id.to_string(),
            subject: subject.to_string(),
            email: email.map(String::from),
            created_at: now,
            updated_at: now,
        }
    }
}

const GRANT_COLUMNS: &str = "id, provider, client_id, subject, email, created_at, updated_at";

impl Grant {
    fn from_row(row: &Row) -> rusqlite::Result<Grant> {
        Ok(Grant {
            id: row.get(0)?,
            provider: row.get(1)?,
            client_id: row.get(2)?,
            subject: row.get(3)?,
            email: row.get(4)?,
            created_at: row.get(5)?,
            updated_at: row.get(6)?,
        })
    }
}

/// The rows that share `?1`'s grant (and `?1` itself), in SQL.
const SAME_GRANT: &str = "(id = ?1 OR grant_id = (SELECT grant_id FROM connections WHERE id = ?1))";

fn json_list(row: &Row, idx: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| corrupt(format!("column {idx}: {e}")))
}

impl Connection {
    fn from_row(row: &Row) -> rusqlite::Result<Connection> {
        let profile: Option<String> = row.get(12)?;
        Ok(Connection {
            id: row.get(0)?,
            integration: row.get(1)?,
            provider: row.get(2)?,
            status: row.get(3)?,
            label: row.get(4)?,
            subject: row.get(5)?,
            email: row.get(6)?,
            display_name: row.get(7)?,
            requested_scopes: json_list(row, 8)?,
            granted_scopes: json_list(row, 9)?,
            missing_scopes: json_list(row, 10)?,
            redirect_mode: row.get(11)?,
            profile: profile.and_then(|p| serde_json::from_str(&p).ok()),
            last_error_code: row.get(13)?,
            last_error_message: row.get(14)?,
            last_checked_at: row.get(15)?,
            last_check_ok: row.get(16)?,
            created_at: row.get(17)?,
            updated_at: row.get(18)?,
            refresh_failures: row.get(19)?,
            retry_after: row.get(20)?,
            last_refreshed_at: row.get(21)?,
            grant_id: row.get(22)?,
            note: row.get(23)?,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowPurpose {
    Connect,
    Reconnect,
    Grant,
}

impl FlowPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowPurpose::Connect => "connect",
            FlowPurpose::Reconnect => "reconnect",
            FlowPurpose::Grant => "grant",
        }
    }
    fn parse_column(s: &str) -> std::result::Result<FlowPurpose, String> {
        Ok(match s {
            "connect" => FlowPurpose::Connect,
            "reconnect" => FlowPurpose::Reconnect,
            "grant" => FlowPurpose::Grant,
            other => return Err(format!("unknown purpose {other:?}")),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    Pending,
    /// The code is being redeemed; tokens may be in the keyring already.
    Exchanging,
    Completed,
    Failed,
}

impl FlowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::Pending => "pending",
            FlowStatus::Exchanging => "exchanging",
            FlowStatus::Completed => "completed",
            FlowStatus::Failed => "failed",
        }
    }
    fn parse_column(s: &str) -> std::result::Result<FlowStatus, String> {
        Ok(match s {
            "pending" => FlowStatus::Pending,
            "exchanging" => FlowStatus::Exchanging,
            "completed" => FlowStatus::Completed,
            "failed" => FlowStatus::Failed,
            other => return Err(format!("unknown flow status {other:?}")),
        })
    }
}

/// An authorization flow in progress (or a tombstone of one that ended).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PendingFlow {
    pub id: String,
    pub connection_id: String,
    pub state_hash: String,
    pub integration: String,
    pub purpose: FlowPurpose,
    pub redirect_mode: RedirectMode,
    pub redirect_uri: String,
    pub requested_scopes: Vec<String>,
    pub status: FlowStatus,
    pub result_connection_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
}

const FLOW_COLUMNS: &str = "id, connection_id, state_hash, integration, purpose, redirect_mode, \
    redirect_uri, requested_scopes, status, result_connection_id, error_code, error_message, \
    created_at, expires_at, finished_at";

impl PendingFlow {
    fn from_row(row: &Row) -> rusqlite::Result<PendingFlow> {
        Ok(PendingFlow {
            id: row.get(0)?,
            connection_id: row.get(1)?,
            state_hash: row.get(2)?,
            integration: row.get(3)?,
            purpose: row.get(4)?,
            redirect_mode: row.get(5)?,
            redirect_uri: row.get(6)?,
            requested_scopes: json_list(row, 7)?,
            status: row.get(8)?,
            result_connection_id: row.get(9)?,
            error_code: row.get(10)?,
            error_message: row.get(11)?,
            created_at: row.get(12)?,
            expires_at: row.get(13)?,
            finished_at: row.get(14)?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct OAuthClient {
    pub provider: String,
    pub client_id: String,
    pub has_secret: bool,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[ts(rename = "ConnectionEvent")]
pub struct Event {
    pub id: i64,
    pub connection_id: Option<String>,
    pub integration: Option<String>,
    pub at: i64,
    pub kind: String,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl Event {
    fn from_row(r: &Row) -> rusqlite::Result<Event> {
        Ok(Event {
            id: r.get(0)?,
            connection_id: r.get(1)?,
            integration: r.get(2)?,
            at: r.get(3)?,
            kind: r.get(4)?,
            code: r.get(5)?,
            message: r.get(6)?,
        })
    }
}

/// Uses kept per connection (a mail client polling every minute fills it
/// in a few hours; older ones go first).
pub const USAGE_KEPT: usize = 2000;

/// One token handed to a local program (`keyport log`, "Used by …").
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct Usage {
    pub connection_id: String,
    pub at: i64,
    /// `token` (with its format: `token`, `xoauth2`, `oauthbearer`, `json`).
    pub kind: String,
    /// The requesting program's executable name, when the OS tells it.
    pub program: Option<String>,
    pub program_path: Option<String>,
}

/// What a successful flow writes to its connection row.
#[derive(Clone, Debug, Default)]
pub struct Activation {
    pub subject: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub requested_scopes: Vec<String>,
    pub granted_scopes: Vec<String>,
    pub missing_scopes: Vec<String>,
    pub profile: Option<serde_json::Value>,
    pub redirect_mode: RedirectMode,
    pub grant_id: String,
}

/// The database. Cheap to clone; one SQLite connection behind a mutex.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Sqlite>>,
}

fn to_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            crate::paths::create_private_dir(dir)?;
        }
        let fresh = !path.exists();
        let db = Sqlite::open(path)?;
        if fresh {
            restrict_file(path)?;
        }
        Store::setup(db)
    }

    /// An in-memory database (unit tests).
    pub fn open_in_memory() -> Result<Store> {
        Store::setup(Sqlite::open_in_memory()?)
    }

    fn setup(mut db: Sqlite) -> Result<Store> {
        db.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode answers with a row; a damaged file fails here or below.
        let _mode: String = db.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        db.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
        migrations().to_latest(&mut db).map_err(|e| match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => Error::from(err),
            other => Error::Store(other.to_string()),
        })?;
        Ok(Store {
            conn: Arc::new(Mutex::new(db)),
        })
    }

    /// Runs `f` on the database; each statement commits on its own (a
    /// method that writes several runs them in one transaction itself).
    pub fn with<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&Db { conn: &conn })
    }

    /// Runs `f` in one IMMEDIATE transaction (all or nothing).
    pub fn transaction<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&Db { conn: &tx })?;
        tx.commit()?;
        Ok(out)
    }
}

/// The queries, over a connection ([`Store::with`]) or a transaction
/// ([`Store::transaction`]): the one place Keyport's SQL lives.
pub struct Db<'a> {
    conn: &'a Sqlite,
}

impl Db<'_> {
    /// Runs `f` atomically: inside the caller's transaction when there is
    /// one, else in a transaction of its own.
    fn atomic<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        if !self.conn.is_autocommit() {
            return f(self);
        }
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    // ---- connections ----

    pub fn insert_connection(
        &self,
        id: &str,
        integration: &str,
        provider: &str,
        redirect: RedirectMode,
        requested_scopes: &[String],
    ) -> Result<()> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO connections (id, integration, provider, status, redirect_mode, \
             requested_scopes, created_at, updated_at) VALUES (?1, ?2, ?3, 'initiated', ?4, ?5, ?6, ?6)",
            params![id, integration, provider, redirect, to_json(requested_scopes), now],
        )?;
        Ok(())
    }

    /// Records a connection's last error without changing its status.
    pub fn set_last_error(&self, id: &str, error: &Error) -> Result<()> {
        self.conn.execute(
            "UPDATE connections SET last_error_code = ?2, last_error_message = ?3 WHERE id = ?1",
            params![id, error.code(), error.to_string()],
        )?;
        Ok(())
    }

    /// Removes a connection whose first sign-in never finished: nothing is
    /// left in the list for an account that never signed in.
    pub fn forget_initiated_connection(&self, id: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM connections WHERE id = ?1 AND status = 'initiated'",
            [id],
        )?;
        Ok(())
    }

    pub fn connection(&self, id: &str) -> Result<Option<Connection>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?1"),
                [id],
                Connection::from_row,
            )
            .optional()?)
    }

    /// Connections by id, or by account email (any that match).
    pub fn find_connections(&self, id_or_email: &str) -> Result<Vec<Connection>> {
        let db = self.conn;
        let mut stmt = db.prepare_cached(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?1 OR lower(email) = lower(?1) \
             ORDER BY (id = ?1) DESC, updated_at DESC"
        ))?;
        let rows = stmt.query_map([id_or_email], Connection::from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn connection_by_account(
        &self,
        integration: &str,
        subject: &str,
    ) -> Result<Option<Connection>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {CONNECTION_COLUMNS} FROM connections WHERE integration = ?1 AND subject = ?2"
                ),
                [integration, subject],
                Connection::from_row,
            )
            .optional()?)
    }

    pub fn list_connections(&self) -> Result<Vec<Connection>> {
        let db = self.conn;
        let mut stmt = db.prepare_cached(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([], Connection::from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn activate(&self, id: &str, a: &Activation) -> Result<()> {
        let changed = self.conn.execute(
            "UPDATE connections SET status = 'active', subject = ?2, email = ?3, display_name = ?4, \
             requested_scopes = ?5, granted_scopes = ?6, missing_scopes = ?7, profile = ?8, \
             last_error_code = NULL, last_error_message = NULL, last_checked_at = ?9, \
             last_check_ok = 1, redirect_mode = ?10, refresh_failures = 0, retry_after = NULL, \
             last_refreshed_at = ?9, updated_at = ?9, grant_id = ?11 WHERE id = ?1",
            params![
                id,
                a.subject,
                a.email,
                a.display_name,
                to_json(&a.requested_scopes),
                to_json(&a.granted_scopes),
                to_json(&a.missing_scopes),
                a.profile.as_ref().map(|p| p.to_string()),
                now_ms(),
                a.redirect_mode,
                a.grant_id
            ],
        )?;
        if changed == 0 {
            return Err(Error::ConnectionNotFound(id.to_string()));
        }
        Ok(())
    }

    /// Sets (or clears, with `None`) a connection's label.
    pub fn rename(&self, id: &str, label: Option<&str>) -> Result<()> {
        self.set_person_text(id, "label", label)
    }

    /// Sets (or clears, with `None`) a connection's note.
    pub fn set_note(&self, id: &str, note: Option<&str>) -> Result<()> {
        self.set_person_text(id, "note", note)
    }

    /// Sets one of the texts the person keeps on a connection.
    fn set_person_text(&self, id: &str, column: &'static str, text: Option<&str>) -> Result<()> {
        let changed = self.conn.execute(
            &format!("UPDATE connections SET {column} = ?2, updated_at = ?3 WHERE id = ?1"),
            params![id, text, now_ms()],
        )?;
        if changed == 0 {
            return Err(Error::ConnectionNotFound(id.to_string()));
        }
        Ok(())
    }

    pub fn delete_connection(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM connections WHERE id = ?1", [id])?;
        Ok(())
    }

    /// SQLite's `data_version`: it changes when another connection (another
    /// process) commits to the database, and costs no read of any table.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    // ---- account grants ----

    pub fn insert_grant(&self, g: &Grant) -> Result<()> {
        self.conn.execute(
            &format!("INSERT INTO grants ({GRANT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![
                g.id,
                g.provider,
                g.client_id,
                g.subject,
                g.email,
                g.created_at,
                g.updated_at
            ],
        )?;
        Ok(())
    }

    pub fn grant(&self, id: &str) -> Result<Option<Grant>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?1"),
                [id],
                Grant::from_row,
            )
            .optional()?)
    }

    pub fn list_grants(&self) -> Result<Vec<Grant>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([], Grant::from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The grant an account has with `client_id` (or one made before
    /// clients were recorded), the most recently used first.
    pub fn grant_for_account(
        &self,
        provider: &str,
        client_id: &str,
        subject: &str,
    ) -> Result<Option<Grant>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {GRANT_COLUMNS} FROM grants WHERE provider = ?1 AND subject = ?3 \
                     AND client_id IN (?2, '') ORDER BY client_id = ?2 DESC, updated_at DESC LIMIT 1"
                ),
                [provider, client_id, subject],
                Grant::from_row,
            )
            .optional()?)
    }

    /// How many grants Keyport holds for the account (any client).
    pub fn grants_of_account(&self, provider: &str, subject: &str) -> Result<usize> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM grants WHERE provider = ?1 AND subject = ?2",
            [provider, subject],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }

    /// A sign-in on the grant: it is now known to be with `client_id`.
    /// False when the grant is gone (removed while the sign-in ran).
    pub fn touch_grant(&self, id: &str, client_id: &str, email: Option<&str>) -> Result<bool> {
        let changed = self.conn.execute(
            "UPDATE grants SET client_id = ?2, email = COALESCE(?3, email), updated_at = ?4 WHERE id = ?1",
            params![id, client_id, email, now_ms()],
        )?;
        Ok(changed == 1)
    }

    /// The connections enabled on a grant.
    pub fn connections_on_grant(&self, grant_id: &str) -> Result<Vec<Connection>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE grant_id = ?1 ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([grant_id], Connection::from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn delete_grant(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM grants WHERE id = ?1", [id])?;
        Ok(())
    }

    /// After a sign-in on the grant: each other integration on it gets the
    /// scopes granted now, and turns `active` again unless scopes it needs
    /// are still missing (`missing` holds them per connection id).
    pub fn heal_grant(
        &self,
        grant_id: &str,
        granted_scopes: &[String],
        missing: &[(String, Vec<String>)],
    ) -> Result<()> {
        self.atomic(|db| {
            for (id, missing) in missing {
                let e = Error::ScopesMissing(missing.clone());
                let (status, code, message) = if missing.is_empty() {
                    ("active", None, None)
                } else {
                    ("needs_reauth", Some(e.code()), Some(e.to_string()))
                };
                db.conn.execute(
                    "UPDATE connections SET status = ?3, granted_scopes = ?4, missing_scopes = ?5, \
                     last_error_code = ?6, last_error_message = ?7, refresh_failures = 0, \
                     retry_after = NULL, last_refreshed_at = ?8, updated_at = ?8 \
                     WHERE id = ?1 AND grant_id = ?2",
                    params![id, grant_id, status, to_json(granted_scopes), to_json(missing), code, message, now_ms()],
                )?;
            }
            Ok(())
        })
    }

    // ---- health ----

    /// A refresh worked: back to `active` (from `degraded`), backoff cleared.
    pub fn record_refresh_ok(&self, id: &str, granted_scopes: &[String]) -> Result<()> {
        self.conn.execute(
            &format!("UPDATE connections SET status = CASE WHEN status = 'degraded' THEN 'active' ELSE status END, \
             granted_scopes = ?2, refresh_failures = 0, retry_after = NULL, last_refreshed_at = ?3, \
             last_error_code = CASE WHEN status = 'degraded' THEN NULL ELSE last_error_code END, \
             last_error_message = CASE WHEN status = 'degraded' THEN NULL ELSE last_error_message END, \
             updated_at = ?3 WHERE {SAME_GRANT}"),
            params![id, to_json(granted_scopes), now_ms()],
        )?;
        Ok(())
    }

    /// A check passed: `degraded` turns `active` and its error clears.
    pub fn record_healthy(&self, id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE connections SET status = 'active', last_error_code = NULL, last_error_message = NULL, \
             updated_at = ?2 WHERE id = ?1 AND status = 'degraded'",
            params![id, now_ms()],
        )?;
        Ok(())
    }

    /// A transient failure: `degraded` with the error, no refresh before
    /// `retry_after`; the event log notes the change from `active`.
    /// With `whole_grant` (a refresh failed) every integration on the
    /// grant; else (its own check call failed) this connection only.
    pub fn record_transient(
        &self,
        id: &str,
        error: &Error,
        retry_after: i64,
        whole_grant: bool,
    ) -> Result<()> {
        self.atomic(|db| {
            let mut before = db.statuses_on_grant(id)?;
            if !whole_grant {
                before.retain(|(row, _)| row == id);
            }
            let rows = if whole_grant { SAME_GRANT } else { "id = ?1" };
            db.conn.execute(
                &format!("UPDATE connections SET status = CASE WHEN status = 'active' THEN 'degraded' ELSE status END, \
                 refresh_failures = refresh_failures + 1, retry_after = ?2, last_error_code = ?3, \
                 last_error_message = ?4, updated_at = ?5 WHERE {rows}"),
                params![id, retry_after, error.code(), error.to_string(), now_ms()],
            )?;
            for (row, _) in before.iter().filter(|(_, s)| s == "active") {
                db.append_event(Some(row), None, "degraded", Some(error.code()), Some(&error.to_string()))?;
            }
            Ok(())
        })
    }

    /// Each connection sharing `id`'s grant (and `id` itself) with its status.
    fn statuses_on_grant(&self, id: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id, status FROM connections WHERE {SAME_GRANT}"
        ))?;
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The provider no longer accepts the grant: every integration on it
    /// needs the person. With `missing_scopes`, only this connection lacks
    /// what it needs (the others on the grant are not affected).
    pub fn mark_needs_reauth(
        &self,
        id: &str,
        error: &Error,
        missing_scopes: Option<&[String]>,
    ) -> Result<()> {
        self.atomic(|db| {
            let rows: Vec<(String, String)> = match missing_scopes {
                Some(_) => db
                    .statuses_on_grant(id)?
                    .into_iter()
                    .filter(|(row, _)| row == id)
                    .collect(),
                None => db.statuses_on_grant(id)?,
            };
            for (row, before) in rows {
                db.conn.execute(
                    "UPDATE connections SET status = 'needs_reauth', last_error_code = ?2, last_error_message = ?3, \
                     missing_scopes = COALESCE(?4, missing_scopes), retry_after = NULL, updated_at = ?5 WHERE id = ?1",
                    params![row, error.code(), error.to_string(), missing_scopes.map(to_json), now_ms()],
                )?;
                if before != "needs_reauth" {
                    db.append_event(Some(&row), None, "needs_reauth", Some(error.code()), Some(&error.to_string()))?;
                }
            }
            Ok(())
        })
    }

    /// The result of a health check.
    pub fn record_check(
        &self,
        id: &str,
        ok: bool,
        profile: Option<&serde_json::Value>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE connections SET last_checked_at = ?2, last_check_ok = ?3, \
             profile = COALESCE(?4, profile) WHERE id = ?1",
            params![id, now_ms(), ok, profile.map(|p| p.to_string())],
        )?;
        Ok(())
    }

    // ---- revocations owed ----

    /// Owes the revocation of grant `holder`'s tokens (last used by `c`).
    pub fn queue_revocation(&self, holder: &str, c: &Connection) -> Result<()> {
        let now = now_ms();
        self.conn.execute(
            "INSERT OR REPLACE INTO revocations (connection_id, integration, provider, email, attempts, \
             next_attempt, created_at, subject) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5, ?6)",
            params![holder, c.integration, c.provider, c.email, now, c.subject],
        )?;
        Ok(())
    }

    /// Whether Keyport holds a grant of the account an owed revocation is
    /// for (then revoking would end it at the provider too).
    pub fn revocation_account_held(&self, holder: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM revocations r JOIN grants g \
             ON g.provider = r.provider AND g.subject = r.subject WHERE r.connection_id = ?1)",
            [holder],
            |r| r.get(0),
        )?)
    }

    /// Revocations due now: (connection id, integration, attempts).
    pub fn due_revocations(&self) -> Result<Vec<(String, String, i64)>> {
        let db = self.conn;
        let mut stmt = db.prepare_cached(
            "SELECT connection_id, integration, attempts FROM revocations WHERE next_attempt <= ?1",
        )?;
        let rows = stmt.query_map([now_ms()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Every owed revocation, due or not.
    pub fn due_revocations_all(&self) -> Result<Vec<(String, String, i64)>> {
        let db = self.conn;
        let mut stmt =
            db.prepare_cached("SELECT connection_id, integration, attempts FROM revocations")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn pending_revocations(&self) -> Result<usize> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM revocations", [], |r| {
                r.get::<_, i64>(0)
            })? as usize)
    }

    pub fn revocation_failed(
        &self,
        connection_id: &str,
        error: &Error,
        next_attempt: i64,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE revocations SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3 WHERE connection_id = ?1",
            params![connection_id, next_attempt, error.code()],
        )?;
        Ok(())
    }

    pub fn revocation_done(&self, connection_id: &str, kind: &str, message: &str) -> Result<()> {
        self.atomic(|db| {
            let integration: Option<String> = db
                .conn
                .query_row(
                    "SELECT integration FROM revocations WHERE connection_id = ?1",
                    [connection_id],
                    |r| r.get(0),
                )
                .optional()?;
            db.conn.execute(
                "DELETE FROM revocations WHERE connection_id = ?1",
                [connection_id],
            )?;
            db.append_event(
                Some(connection_id),
                integration.as_deref(),
                kind,
                None,
                Some(message),
            )
        })
    }

    // ---- pending flows ----

    pub fn insert_flow(&self, f: &PendingFlow) -> Result<()> {
        self.conn.execute(
            &format!("INSERT INTO pending_flows ({FLOW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
            params![
                f.id,
                f.connection_id,
                f.state_hash,
                f.integration,
                f.purpose,
                f.redirect_mode,
                f.redirect_uri,
                to_json(&f.requested_scopes),
                f.status,
                f.result_connection_id,
                f.error_code,
                f.error_message,
                f.created_at,
                f.expires_at,
                f.finished_at
            ],
        )?;
        Ok(())
    }

    /// Records which connection a claimed flow writes tokens for, before
    /// the keyring write (recovery reads it).
    pub fn set_flow_target(&self, flow_id: &str, connection_id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE pending_flows SET result_connection_id = ?2 WHERE id = ?1",
            params![flow_id, connection_id],
        )?;
        Ok(())
    }

    pub fn flow_by_state_hash(&self, state_hash: &str) -> Result<Option<PendingFlow>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {FLOW_COLUMNS} FROM pending_flows WHERE state_hash = ?1"),
                [state_hash],
                PendingFlow::from_row,
            )
            .optional()?)
    }

    pub fn flow(&self, id: &str) -> Result<Option<PendingFlow>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {FLOW_COLUMNS} FROM pending_flows WHERE id = ?1"),
                [id],
                PendingFlow::from_row,
            )
            .optional()?)
    }

    pub fn flows(&self) -> Result<Vec<PendingFlow>> {
        let db = self.conn;
        let mut stmt = db.prepare_cached(&format!("SELECT {FLOW_COLUMNS} FROM pending_flows"))?;
        let rows = stmt.query_map([], PendingFlow::from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Moves a flow from `from` to `to`; false if it was not in `from`
    /// (another process took it first).
    pub fn transition_flow(&self, id: &str, from: FlowStatus, to: FlowStatus) -> Result<bool> {
        let finished = matches!(to, FlowStatus::Completed | FlowStatus::Failed).then(now_ms);
        Ok(self.conn.execute(
            "UPDATE pending_flows SET status = ?3, finished_at = COALESCE(?4, finished_at) \
             WHERE id = ?1 AND status = ?2",
            params![id, from, to, finished],
        )? == 1)
    }

    pub fn finish_flow(
        &self,
        id: &str,
        status: FlowStatus,
        result_connection_id: Option<&str>,
        error: Option<&Error>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE pending_flows SET status = ?2, result_connection_id = ?3, error_code = ?4, \
             error_message = ?5, finished_at = ?6 WHERE id = ?1",
            params![
                id,
                status,
                result_connection_id,
                error.map(|e| e.code()),
                error.map(|e| e.to_string()),
                now_ms()
            ],
        )?;
        Ok(())
    }

    /// Whether the flow's verifier is known to be gone from the keyring.
    pub fn flow_secret_cleared(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT secret_cleared FROM pending_flows WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(true))
    }

    pub fn mark_flow_secret_cleared(&self, id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE pending_flows SET secret_cleared = 1 WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    pub fn delete_flow(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM pending_flows WHERE id = ?1", [id])?;
        Ok(())
    }

    // ---- OAuth clients ----

    /// Stores a provider's client, bound to the endpoint `origins` it is
    /// saved for.
    pub fn set_client(
        &self,
        provider: &str,
        client_id: &str,
        has_secret: bool,
        origins: &[String],
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO oauth_clients (provider, client_id, has_secret, updated_at, origins) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (provider) DO UPDATE SET client_id = ?2, \
             has_secret = ?3, updated_at = ?4, origins = ?5",
            params![provider, client_id, has_secret, now_ms(), to_json(origins)],
        )?;
        Ok(())
    }

    /// The origins a provider's stored client is bound to (`None`: no
    /// client; `Some(None)`: saved before origins were recorded).
    pub fn client_origins(&self, provider: &str) -> Result<Option<Option<Vec<String>>>> {
        let row: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT origins FROM oauth_clients WHERE provider = ?1",
                [provider],
                |r| r.get(0),
            )
            .optional()?;
        Ok(row.map(|o| o.and_then(|text| serde_json::from_str(&text).ok())))
    }

    /// Origins the person confirmed for an integration.
    pub fn trusted_origins(&self, integration: &str) -> Result<Vec<String>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT origins FROM endpoint_trust WHERE integration = ?1",
                [integration],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    pub fn trust_origins(&self, integration: &str, origins: &[String]) -> Result<()> {
        self.conn.execute(
            "INSERT INTO endpoint_trust (integration, origins, confirmed_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (integration) DO UPDATE SET origins = ?2, confirmed_at = ?3",
            params![integration, to_json(origins), now_ms()],
        )?;
        Ok(())
    }

    pub fn client(&self, provider: &str) -> Result<Option<OAuthClient>> {
        Ok(self
            .conn
            .query_row(
                "SELECT provider, client_id, has_secret, updated_at FROM oauth_clients WHERE provider = ?1",
                [provider],
                |r| {
                    Ok(OAuthClient {
                        provider: r.get(0)?,
                        client_id: r.get(1)?,
                        has_secret: r.get(2)?,
                        updated_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn clients(&self) -> Result<Vec<OAuthClient>> {
        let db = self.conn;
        let mut stmt = db.prepare_cached(
            "SELECT provider, client_id, has_secret, updated_at FROM oauth_clients ORDER BY provider",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(OAuthClient {
                provider: r.get(0)?,
                client_id: r.get(1)?,
                has_secret: r.get(2)?,
                updated_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn remove_client(&self, provider: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM oauth_clients WHERE provider = ?1", [provider])?
            == 1)
    }

    // ---- settings ----

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets `key`, or removes it with `None`.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, v],
            )?,
            None => self.conn.execute("DELETE FROM settings WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    // ---- events ----

    pub fn append_event(
        &self,
        connection_id: Option<&str>,
        integration: Option<&str>,
        kind: &str,
        code: Option<&str>,
        message: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO events (connection_id, integration, at, kind, code, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![connection_id, integration, now_ms(), kind, code, message],
        )?;
        Ok(())
    }

    /// Records a use; a connection keeps its newest [`USAGE_KEPT`] uses.
    pub fn record_usage(&self, u: &Usage) -> Result<()> {
        self.conn.execute(
            "INSERT INTO usage (connection_id, at, kind, program, program_path) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![u.connection_id, u.at, u.kind, u.program, u.program_path],
        )?;
        self.conn.execute(
            "DELETE FROM usage WHERE connection_id = ?1 AND id <= \
             (SELECT id FROM usage WHERE connection_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![u.connection_id, USAGE_KEPT as i64],
        )?;
        Ok(())
    }

    /// The newest `limit` uses, of one connection or of all, newest first.
    pub fn usage(&self, connection_id: Option<&str>, limit: usize) -> Result<Vec<Usage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT connection_id, at, kind, program, program_path FROM usage \
             WHERE ?1 IS NULL OR connection_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![connection_id, limit as i64], |r| {
            Ok(Usage {
                connection_id: r.get(0)?,
                at: r.get(1)?,
                kind: r.get(2)?,
                program: r.get(3)?,
                program_path: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// One connection's events since `since` (ms), and at least its newest
    /// `at_least`, newest first; no more than `limit`.
    pub fn events_since(
        &self,
        connection_id: &str,
        since: i64,
        at_least: usize,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, connection_id, integration, at, kind, code, message FROM events \
             WHERE connection_id = ?1 AND (at >= ?2 OR id IN (SELECT id FROM events \
             WHERE connection_id = ?1 ORDER BY id DESC LIMIT ?3)) ORDER BY id DESC LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![connection_id, since, at_least as i64, limit as i64],
            Event::from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn events(&self, connection_id: Option<&str>, limit: usize) -> Result<Vec<Event>> {
        let db = self.conn;
        let mut stmt = db.prepare_cached(
            "SELECT id, connection_id, integration, at, kind, code, message FROM events \
             WHERE ?1 IS NULL OR connection_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![connection_id, limit as i64], Event::from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

#[cfg(unix)]
fn restrict_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

#[cfg(not(unix))]
fn restrict_file(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(utc_time(1_795_791_845_123), "2026-11-27 15:04:05Z");
        assert_eq!(utc_time(-1000), "1969-12-31 23:59:59Z");
    }

    #[test]
    fn history_is_the_last_days_and_at_least_the_newest_events() {
        let s = Store::open_in_memory().unwrap();
        let day = 24 * 60 * 60 * 1000;
        s.with(|db| {
            for (id, at) in [("c1", 1), ("c1", 2), ("c1", 40 * day), ("c2", 41 * day)] {
                db.conn.execute(
                    "INSERT INTO events (connection_id, at, kind) VALUES (?1, ?2, 'checked')",
                    params![id, at],
                )?;
            }
            Ok(())
        })
        .unwrap();
        let at = |events: Vec<Event>| events.iter().map(|e| e.at).collect::<Vec<_>>();
        let since = 20 * day;
        let recent = s.with(|db| db.events_since("c1", since, 0, 10)).unwrap();
        assert_eq!(at(recent), [40 * day]);
        let padded = s.with(|db| db.events_since("c1", since, 2, 10)).unwrap();
        assert_eq!(at(padded), [40 * day, 2], "the newest two, one of them old");
        let capped = s.with(|db| db.events_since("c1", 0, 0, 2)).unwrap();
        assert_eq!(at(capped), [40 * day, 2]);
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn who_needs_the_person_and_who_can_be_checked() {
        let s = Store::open_in_memory().unwrap();
        s.with(|db| db.insert_connection("c1", "gmail", "google", RedirectMode::Loopback, &[]))
            .unwrap();
        let base = s.with(|db| db.connection("c1")).unwrap().unwrap();
        let with = |status: Status, missing: &[&str]| Connection {
            status,
            missing_scopes: missing.iter().map(|m| m.to_string()).collect(),
            ..base.clone()
        };
        let send = &["https://www.googleapis.com/auth/gmail.send"];
        for (c, needs, checkable) in [
            (with(Status::NeedsReauth, &[]), true, false),
            (with(Status::NeedsReauth, send), true, false),
            (with(Status::Active, &[]), false, true),
            (with(Status::Active, send), true, true),
            (with(Status::Degraded, &[]), false, true),
            (with(Status::Degraded, send), true, true),
            // Not signed in yet, or never: nothing to grant.
            (with(Status::Initiated, send), false, false),
            (with(Status::Failed, send), false, false),
        ] {
            assert_eq!(
                c.needs_person(),
                needs,
                "{:?} {:?}",
                c.status,
                c.missing_scopes
            );
            assert_eq!(c.checkable(), checkable, "{:?}", c.status);
        }
    }

    #[test]
    fn usage_keeps_the_newest_uses_of_each_connection() {
        let s = Store::open_in_memory().unwrap();
        for id in ["c1", "c2"] {
            s.with(|db| db.insert_connection(id, "gmail", "google", RedirectMode::Loopback, &[]))
                .unwrap();
        }
        let used = |id: &str, at: i64| Usage {
            connection_id: id.into(),
            at,
            kind: "token".into(),
            program: Some("neomutt".into()),
            program_path: None,
        };
        s.with(|db| db.record_usage(&used("c2", 0))).unwrap();
        for at in 1..=(USAGE_KEPT as i64 + 5) {
            s.with(|db| db.record_usage(&used("c1", at))).unwrap();
        }
        let kept = s.with(|db| db.usage(Some("c1"), USAGE_KEPT + 10)).unwrap();
        assert_eq!(kept.len(), USAGE_KEPT);
        assert_eq!(kept[0].at, USAGE_KEPT as i64 + 5);
        assert_eq!(kept.last().unwrap().at, 6);
        // Another connection's history is its own.
        assert_eq!(s.with(|db| db.usage(Some("c2"), 10)).unwrap().len(), 1);
    }

    #[test]
    fn connection_round_trip_and_unique_account() {
        let s = Store::open_in_memory().unwrap();
        s.with(|db| {
            db.insert_connection(
                "c1",
                "gmail",
                "google",
                RedirectMode::Loopback,
                &["a".into()],
            )
        })
        .unwrap();
        let c = s.with(|db| db.connection("c1")).unwrap().unwrap();
        assert_eq!(c.status, Status::Initiated);
        assert_eq!(c.requested_scopes, ["a"]);
        let act = Activation {
            subject: "1001".into(),
            email: Some("ana@firm.example".into()),
            granted_scopes: vec!["a".into()],
            ..Default::default()
        };
        s.transaction(|tx| tx.activate("c1", &act)).unwrap();
        assert_eq!(
            s.with(|db| db.find_connections("ANA@firm.example"))
                .unwrap()
                .len(),
            1
        );
        s.with(|db| db.insert_connection("c2", "gmail", "google", RedirectMode::Loopback, &[]))
            .unwrap();
        let dup = s.transaction(|tx| tx.activate("c2", &act));
        assert!(dup.is_err(), "the same account twice must not be two rows");
    }

    #[test]
    fn file_is_private_and_corrupt_file_is_typed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/keyport.sqlite3");
        Store::open(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "database must be user-only");
        }
        let bad = dir.path().join("bad.sqlite3");
        std::fs::write(&bad, vec![0x42u8; 8192]).unwrap();
        let err = Store::open(&bad).err().expect("garbage must not open");
        assert_eq!(err.code(), "store.corrupt");
    }
}
