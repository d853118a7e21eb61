//! Handing out access tokens: refresh ahead of expiry, one refresh per
//! connection at a time across threads (a per-connection async mutex) and
//! processes (an OS file lock), re-reading the keyring after the wait because
//! another process may have refreshed already. A rotated refresh token is in
//! the keyring before the new access token is handed out.
//!
//! Failures are classed: `invalid_grant` → `needs_reauth` at once, no more
//! attempts; transient (network, 5xx, 429) → a few retries with exponential
//! backoff and jitter, then `degraded` with a growing cooldown, so a broken
//! provider never sees a refresh storm.

use std::fs::File;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::flow::missing_scopes;
use super::ClientSource;
use super::{crash_point, Keyport};
use crate::error::{Error, GrantEnd, Result};
use crate::oauth;
use crate::process::Program;
use crate::secrets::{Secret, TokenSet};
use crate::store::{now_ms, Connection, Status, Usage};

/// A grant's locks, released when dropped.
pub(super) struct GrantLock {
    _file: File,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

/// Refresh when the access token expires within this margin.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Attempts per refresh before giving up for a cooldown.
const ATTEMPTS: u32 = 3;
/// A provider's Retry-After longer than this ends the attempts at once.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(10);
const LOCK_WAIT: Duration = Duration::from_secs(60);
/// How long a freshly rotated token set is offered to a keyring that went
/// away (its daemon restarting) before the refresh fails: the provider has
/// already retired the old refresh token, so this write must not be lost.
const ROTATED_WRITE_PATIENCE: Duration = Duration::from_secs(20);

/// The time refreshes and cooldowns are measured by: the system clock, or
/// (tests) a clock that moves only when told, so a cooldown can end without
/// waiting for it.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// A clock that starts at the system time and moves only by
    /// [`advance`](Self::advance).
    pub fn manual() -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(now_ms()))))
    }

    /// Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(t) => t.load(Ordering::SeqCst),
            None => now_ms(),
        }
    }

    fn now_secs(&self) -> i64 {
        self.now_ms() / 1000
    }

    /// Moves a manual clock forward (the system clock cannot be moved).
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.0 {
            t.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        }
    }
}

fn expires_within(clock: &Clock, t: &TokenSet, margin: Duration) -> bool {
    t.expires_at
        .is_some_and(|at| at <= clock.now_secs() + margin.as_secs() as i64)
}

fn still_valid(clock: &Clock, t: &TokenSet) -> bool {
    !expires_within(clock, t, Duration::from_secs(30))
}

fn ensure_usable(c: &Connection) -> Result<()> {
    match c.status {
        Status::Active | Status::Degraded => Ok(()),
        Status::NeedsReauth => Err(Error::NeedsReauth(
            c.last_error_message.clone().unwrap_or_default(),
        )),
        Status::Initiated | Status::Failed => Err(Error::NotConnected(c.id.clone())),
    }
}

/// The cooldown after `failures` transient failures in a row: 1 min doubling
/// to 1 h, ±10 % jitter so many connections don't retry in lockstep.
pub fn cooldown(failures: i64, retry_after: Option<u64>) -> Duration {
    let base = 60u64.saturating_mul(1 << failures.clamp(0, 6)).min(3600);
    let jitter = rand::thread_rng().gen_range(0.9..1.1);
    let d = Duration::from_secs_f64(base as f64 * jitter);
    d.max(Duration::from_secs(retry_after.unwrap_or(0)))
}

/// An access token handed to a local program, with its account, expiry
/// (Unix seconds) and scopes. The token is a [`Secret`]: it is written out
/// only where the program asked for it.
#[derive(Debug)]
pub struct IssuedToken {
    pub connection: String,
    pub integration: String,
    pub account: Option<String>,
    pub access_token: Secret,
    pub token_type: String,
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
}

impl Keyport {
    /// Records that `requester` was handed the connection's token.
    pub(super) fn record_use(
        &self,
        connection_id: &str,
        kind: &str,
        requester: Option<Program>,
    ) -> Result<()> {
        let (program, program_path) = match requester {
            Some(p) => (Some(p.name), p.path),
            None => (None, None),
        };
        self.store.with(|db| {
            db.record_usage(&Usage {
                connection_id: connection_id.to_string(),
                at: self.clock.now_ms(),
                kind: kind.to_string(),
                program,
                program_path,
            })
        })
    }

    /// Who was handed tokens: of one connection (id or email) or of all,
    /// newest first.
    pub fn usage(&self, id_or_email: Option<&str>, limit: usize) -> Result<Vec<Usage>> {
        let id = id_or_email.map(|c| self.get(c)).transpose()?.map(|c| c.id);
        self.store.with(|db| db.usage(id.as_deref(), limit))
    }

    /// The connection whose token `id_or_email` asks for. An account's
    /// integrations share one grant and so one token: its email names them
    /// all (the first connected answers), so a mail client set up with the
    /// address keeps working when Calendar is added to the account.
    fn token_holder(&self, id_or_email: &str) -> Result<Connection> {
        match self.get(id_or_email) {
            Err(Error::InvalidInput(why)) => {
                let found = self.store.with(|db| db.find_connections(id_or_email))?;
                let one_grant = found
                    .iter()
                    .all(|c| c.grant_id.is_some() && c.grant_id == found[0].grant_id);
                match found.into_iter().min_by_key(|c| c.created_at) {
                    Some(first) if one_grant => Ok(first),
                    _ => Err(Error::InvalidInput(why)),
                }
            }
            other => other,
        }
    }

    /// A valid access token for the connection (by id or email), refreshed
    /// when it expires within [`REFRESH_MARGIN`].
    pub async fn access_token(&self, id_or_email: &str) -> Result<Secret> {
        let conn = self.get(id_or_email)?;
        Ok(self.token_for(&conn, None).await?.access_token)
    }

    /// As [`access_token`](Self::access_token), for a local program: with
    /// the account, expiry and granted scopes, and recorded in the usage
    /// history (`kind`: how it was handed out; the program, never the token).
    pub async fn issue_token(
        &self,
        id_or_email: &str,
        kind: &str,
        requester: Option<Program>,
    ) -> Result<IssuedToken> {
        let conn = self.token_holder(id_or_email)?;
        let tokens = self.token_for(&conn, None).await?;
        self.record_use(&conn.id, kind, requester)?;
        Ok(IssuedToken {
            connection: conn.id,
            integration: conn.integration,
            account: conn.email,
            access_token: tokens.access_token,
            token_type: tokens.token_type,
            expires_at: tokens.expires_at,
            scopes: tokens.scopes,
        })
    }

    /// As [`access_token`](Self::access_token); with `rejected`, the provider
    /// refused that access token, so refresh unless it was replaced already.
    pub(crate) async fn token_for(
        &self,
        conn: &Connection,
        rejected: Option<&Secret>,
    ) -> Result<TokenSet> {
        ensure_usable(conn)?;
        let clock = &self.clock;
        let needs_refresh = |t: &TokenSet| match rejected {
            Some(bad) => &t.access_token == bad,
            None => expires_within(clock, t, REFRESH_MARGIN),
        };
        // The grant's tokens; one refresh per grant at a time, whichever of
        // its integrations asks.
        let holder = conn.holder().to_string();
        let tokens = self.read_tokens(&holder).await?;
        if !needs_refresh(&tokens) {
            return Ok(tokens);
        }
        tracing::debug!(connection = %conn.id, grant = %holder, "access token due for a refresh; waiting for the refresh lock");
        let local = self.refresh_lock(&holder);
        let _in_process = local.lock().await;
        let _across_processes = self.connection_lock(&holder).await?;
        // Another thread or process may have refreshed while we waited.
        let tokens = self.read_tokens(&holder).await?;
        if !needs_refresh(&tokens) {
            return Ok(tokens);
        }
        let conn = self
            .store
            .with(|db| db.connection(&conn.id))?
            .ok_or_else(|| Error::ConnectionNotFound(conn.id.clone()))?;
        ensure_usable(&conn)?;
        if let Some(until) = conn.retry_after.filter(|u| *u > clock.now_ms()) {
            if rejected.is_none() && still_valid(clock, &tokens) {
                return Ok(tokens);
            }
            return Err(Error::CoolingDown {
                secs: ((until - clock.now_ms()) / 1000).max(1) as u64,
                last: conn.last_error_message.clone().unwrap_or_default(),
            });
        }
        match self.refresh_with_retries(&conn, &tokens).await {
            Ok(fresh) => Ok(fresh),
            Err(e) if e.is_transient() => {
                let retry_after = match &e {
                    Error::RateLimited { retry_after_secs } => *retry_after_secs,
                    _ => None,
                };
                let until = clock.now_ms()
                    + cooldown(conn.refresh_failures, retry_after).as_millis() as i64;
                self.store
                    .with(|db| db.record_transient(&conn.id, &e, until, true))?;
                tracing::warn!(connection = %conn.id, code = e.code(), "refresh failed; cooling down");
                // The old token still works for a while: keep serving it.
                if rejected.is_none() && still_valid(clock, &tokens) {
                    return Ok(tokens);
                }
                Err(e)
            }
            Err(e @ (Error::InvalidGrant { .. } | Error::NeedsReauth(_))) => {
                let e = self.classify_refusal(&conn, &tokens, e);
                // The connection keeps the case (its own code and sentence).
                self.store
                    .with(|db| db.mark_needs_reauth(&conn.id, &e, None))?;
                tracing::warn!(connection = %conn.id, code = e.code(), "refresh token refused: needs reauth");
                Err(match e {
                    Error::NeedsReauth(_) => e,
                    other => Error::NeedsReauth(other.to_string()),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Google gives no sign that a refresh token died because its OAuth
    /// client is in "Testing" status: the token just ends 7 days after the
    /// sign-in. A plain refusal for a Google integration signed in through a
    /// client other than Keyport's own, 7 days or more after the sign-in,
    /// with no refresh having worked since that point, is taken as that.
    fn classify_refusal(&self, conn: &Connection, tokens: &TokenSet, e: Error) -> Error {
        const TESTING_LIFETIME: i64 = 7 * 24 * 3600 - 3600;
        let Error::InvalidGrant {
            why: GrantEnd::Refused,
            description,
        } = &e
        else {
            return e;
        };
        let custom = self.integration(&conn.integration).is_ok_and(|i| {
            i.provider == "google"
                && self
                    .client_source(i)
                    .is_some_and(|s| s != ClientSource::BuiltIn)
        });
        let testing = tokens.signed_in_at.is_some_and(|at| {
            self.clock.now_secs() >= at + TESTING_LIFETIME
                && tokens.obtained_at < at + TESTING_LIFETIME
        });
        if custom && testing {
            Error::InvalidGrant {
                why: GrantEnd::TestingClient,
                description: description.clone(),
            }
        } else {
            e
        }
    }

    /// After a refresh that named the scopes: every integration on the
    /// grant that lost scopes it needs (unticked at the provider) needs the
    /// person; the others go on.
    fn mark_scopes_lost(&self, conn: &Connection, granted: &[String]) -> Result<()> {
        let on_grant = match &conn.grant_id {
            Some(g) => self.store.with(|db| db.connections_on_grant(g))?,
            None => vec![conn.clone()],
        };
        for c in on_grant {
            let Ok(integration) = self.integration(&c.integration) else {
                continue;
            };
            let missing = missing_scopes(integration, &c.requested_scopes, granted);
            if !missing.is_empty() {
                let e = Error::ScopesMissing(missing.clone());
                self.store
                    .with(|db| db.mark_needs_reauth(&c.id, &e, Some(&missing)))?;
            }
        }
        Ok(())
    }

    async fn refresh_with_retries(&self, conn: &Connection, tokens: &TokenSet) -> Result<TokenSet> {
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(Error::NeedsReauth(
                "the provider gave no refresh token".into(),
            ));
        };
        let integration = self.integration(&conn.integration)?.clone();
        let creds = self.credentials(&integration).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match oauth::refresh(&self.http, &integration, &creds, &refresh_token).await {
                Ok(reply) => {
                    let granted = reply
                        .scopes
                        .clone()
                        .unwrap_or_else(|| tokens.scopes.clone());
                    let fresh = TokenSet {
                        access_token: reply.access_token,
                        // No refresh token in the reply: keep ours.
                        refresh_token: reply.refresh_token.or(Some(refresh_token)),
                        expires_at: reply
                            .expires_in
                            .map(|d| self.clock.now_secs() + d.as_secs() as i64),
                        scopes: granted.clone(),
                        token_type: "Bearer".into(),
                        obtained_at: self.clock.now_secs(),
                        signed_in_at: tokens.signed_in_at,
                    };
                    // Persist (a rotated refresh token!) before anyone uses it.
                    self.store_refreshed(conn.holder(), &fresh).await?;
                    crash_point("refresh.tokens_stored");
                    self.store
                        .with(|db| db.record_refresh_ok(&conn.id, &granted))?;
                    crash_point("refresh.recorded");
                    if reply.scopes.is_some() {
                        self.mark_scopes_lost(conn, &granted)?;
                    }
                    let missing = missing_scopes(&integration, &conn.requested_scopes, &granted);
                    if reply.scopes.is_some() && !missing.is_empty() {
                        return Err(Error::ScopesMissing(missing));
                    }
                    tracing::info!(connection = %conn.id, "access token refreshed");
                    return Ok(fresh);
                }
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    let wait = match &e {
                        Error::RateLimited {
                            retry_after_secs: Some(s),
                        } => Duration::from_secs(*s),
                        _ => {
                            let base = 200u64 << (attempt - 1);
                            Duration::from_millis(base + rand::thread_rng().gen_range(0..base))
                        }
                    };
                    if wait > MAX_INLINE_WAIT {
                        return Err(e);
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes a refreshed token set, waiting out a keyring that is briefly
    /// gone (up to [`ROTATED_WRITE_PATIENCE`], the grant's locks held, so
    /// nobody refreshes with the retired token meanwhile). Dropping it would
    /// leave the keyring with a refresh token the provider has retired, and
    /// presenting that one again ends the whole grant at providers that
    /// detect reuse.
    async fn store_refreshed(&self, holder: &str, fresh: &TokenSet) -> Result<()> {
        let deadline = tokio::time::Instant::now() + ROTATED_WRITE_PATIENCE;
        let mut pause = Duration::from_millis(250);
        loop {
            let (id, set) = (holder.to_string(), fresh.clone());
            match self.secrets.run(move |s| s.set_tokens(&id, &set)).await {
                Ok(()) => return Ok(()),
                Err(e @ Error::KeyringUnavailable(_))
                    if tokio::time::Instant::now() + pause < deadline =>
                {
                    tracing::warn!(grant = %holder, code = e.code(), "the keyring did not take the refreshed tokens; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(4));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) async fn read_tokens(&self, id: &str) -> Result<TokenSet> {
        let key = id.to_string();
        self.secrets
            .run(move |s| s.get_tokens(&key))
            .await?
            .ok_or(Error::SecretMissing)
    }

    /// Holds the grant's locks (in this process, then across processes):
    /// no refresh, sign-in or disconnect writes its tokens meanwhile.
    pub(super) async fn grant_lock(&self, grant_id: &str) -> Result<GrantLock> {
        let local = self.refresh_lock(grant_id).lock_owned().await;
        let file = self.connection_lock(grant_id).await?;
        Ok(GrantLock {
            _file: file,
            _local: local,
        })
    }

    fn refresh_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.refresh_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(id.to_string()).or_default().clone()
    }

    /// The per-connection OS file lock (held until the returned file drops).
    async fn connection_lock(&self, id: &str) -> Result<File> {
        let dir = self.paths.locks_dir();
        crate::paths::create_private_dir(&dir)?;
        let path = dir.join(format!("connection-{id}.lock"));
        tokio::task::spawn_blocking(move || -> Result<File> {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            if no_refresh_lock() {
                return Ok(file);
            }
            let deadline = std::time::Instant::now() + LOCK_WAIT;
            loop {
                match file.try_lock() {
                    Ok(()) => return Ok(file),
                    Err(std::fs::TryLockError::WouldBlock)
                        if std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(std::fs::TryLockError::WouldBlock) => return Err(Error::StoreBusy),
                    Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
                }
            }
        })
        .await
        .map_err(|e| Error::Io(e.to_string()))?
    }
}

/// For the tests that prove the lock matters: in debug builds,
/// `KEYPORT_DEBUG_NO_REFRESH_LOCK=1` skips the cross-process file lock (the
/// in-process mutex stays). Release builds have no such switch.
fn no_refresh_lock() -> bool {
    #[cfg(debug_assertions)]
    if std::env::var("KEYPORT_DEBUG_NO_REFRESH_LOCK").is_ok_and(|v| v == "1") {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_grows_and_is_capped() {
        let first = cooldown(0, None).as_secs_f64();
        assert!((54.0..=66.0).contains(&first), "{first}");
        assert!(cooldown(3, None) > cooldown(1, None));
        assert!(cooldown(40, None) <= Duration::from_secs(3960));
        assert!(cooldown(0, Some(600)) >= Duration::from_secs(600));
    }

    /// The jitter scales the base (±10 %), spread over the whole range.
    #[test]
    fn cooldown_jitter_is_ten_percent_of_the_base() {
        let draws: Vec<f64> = (0..200).map(|_| cooldown(6, None).as_secs_f64()).collect();
        let (lo, hi) = draws
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), d| (lo.min(*d), hi.max(*d)));
        assert!(lo >= 3240.0 && hi <= 3960.0, "{lo}..{hi}");
        assert!(hi - lo > 360.0, "the draws span {lo}..{hi}");
    }

    fn expiring_in(clock: &Clock, secs: i64) -> TokenSet {
        TokenSet {
            access_token: Secret::new("a"),
            refresh_token: None,
            expires_at: Some(clock.now_secs() + secs),
            scopes: vec![],
            token_type: "Bearer".into(),
            obtained_at: 0,
            signed_in_at: None,
        }
    }

    #[test]
    fn due_and_still_valid_follow_the_margins() {
        let clock = Clock::manual();
        // Due: within the 5-minute refresh margin.
        assert!(expires_within(
            &clock,
            &expiring_in(&clock, 120),
            REFRESH_MARGIN
        ));
        assert!(expires_within(
            &clock,
            &expiring_in(&clock, 300),
            REFRESH_MARGIN
        ));
        assert!(!expires_within(
            &clock,
            &expiring_in(&clock, 301),
            REFRESH_MARGIN
        ));
        // Still usable while a refresh cools down: more than 30 s left.
        assert!(still_valid(&clock, &expiring_in(&clock, 600)));
        assert!(still_valid(&clock, &expiring_in(&clock, 31)));
        assert!(!still_valid(&clock, &expiring_in(&clock, 30)));
    }
}
