//! Health checks: a token refresh when due plus the integration's check call
//! (Gmail: `users/me/profile`), results stored on the connection; and the
//! scheduler the GUI runs so every connection is checked — and its refresh
//! token used at least daily (Google drops refresh tokens unused for six
//! months) — with bounded concurrency and spread out over time.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::Keyport;
use crate::catalog::Integration;
use crate::error::{Error, Result};
use crate::oauth;
use crate::secrets::Secret;
use crate::store::{now_ms, Connection};

/// Called after each check with the connection id and the outcome.
pub type OnChecked = Arc<dyn Fn(&str, &Result<Connection>) + Send + Sync>;

/// Checks run this often per connection while the app runs.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// Refresh tokens are used at least this often.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(20 * 3600);
/// Checks running at once.
pub const DEFAULT_CONCURRENCY: usize = 4;

impl Keyport {
    /// Checks one connection now and returns it as stored afterwards. The
    /// error, if any, is also recorded on the connection.
    pub async fn check(&self, id_or_email: &str) -> Result<Connection> {
        let conn = self.get(id_or_email)?;
        let result = self.check_connection(&conn).await;
        let _ = self.store.with(|db| {
            db.record_check(
                &conn.id,
                result.is_ok(),
                result.as_ref().ok().and_then(|p| p.as_ref()),
            )
        });
        if let Err(e) = &result {
            tracing::info!(connection = %conn.id, code = e.code(), "check failed: {e}");
        }
        let after = self.get(&conn.id)?;
        result.map(|_| after)
    }

    async fn check_connection(&self, conn: &Connection) -> Result<Option<serde_json::Value>> {
        // The access token goes to the check endpoint: only a confirmed one.
        let integration = self.integration(&conn.integration)?.clone();
        self.check_endpoints(&integration)?;
        let touch = conn.last_refreshed_at.unwrap_or(conn.created_at)
            < now_ms() - TOUCH_INTERVAL.as_millis() as i64;
        let mut token = self.token_for(conn, None).await?.access_token;
        if touch {
            token = self.token_for(conn, Some(&token)).await?.access_token;
        }
        let mut outcome = self.probe(conn, &integration, &token).await;
        if matches!(outcome, Err(Error::InvalidGrant { .. })) {
            // The access token was refused: refresh once and try again.
            token = self.token_for(conn, Some(&token)).await?.access_token;
            outcome = self.probe(conn, &integration, &token).await;
        }
        match outcome {
            Ok(profile) => {
                // Not a refresh: last_refreshed_at keeps driving the daily touch.
                self.store.with(|db| db.record_healthy(&conn.id))?;
                Ok(profile)
            }
            Err(Error::InvalidGrant { .. }) => {
                let e = Error::InvalidGrant {
                    why: crate::error::GrantEnd::Refused,
                    description: Some("the provider refuses the access token".into()),
                };
                self.store
                    .with(|db| db.mark_needs_reauth(&conn.id, &e, None))?;
                Err(Error::NeedsReauth(e.to_string()))
            }
            Err(Error::ScopesMissing(_)) => {
                let wanted: Vec<String> = conn
                    .requested_scopes
                    .iter()
                    .filter(|s| !integration.identity_scopes.contains(s))
                    .cloned()
                    .collect();
                let e = Error::ScopesMissing(wanted.clone());
                self.store
                    .with(|db| db.mark_needs_reauth(&conn.id, &e, Some(&wanted)))?;
                Err(e)
            }
            Err(e) if e.is_transient() || matches!(e, Error::ProviderMalformed(_)) => {
                self.store
                    .with(|db| db.record_transient(&conn.id, &e, now_ms(), false))?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Proves the connection with a round trip to the provider: the
    /// integration's check call, else its userinfo endpoint, else a refresh
    /// (a token the provider has stopped accepting never passes as healthy).
    async fn probe(
        &self,
        conn: &Connection,
        integration: &Integration,
        token: &Secret,
    ) -> Result<Option<serde_json::Value>> {
        if integration.check_url.is_some() {
            return oauth::check_call(&self.http, integration, token).await;
        }
        if !oauth::userinfo_call(&self.http, integration, token).await? {
            self.token_for(conn, Some(token)).await?;
        }
        Ok(None)
    }

    /// Checks `ids` with at most `concurrency` at once, starting one every
    /// `spread`; `on_done` sees each connection afterwards.
    pub async fn check_many(
        &self,
        ids: Vec<String>,
        concurrency: usize,
        spread: Duration,
        on_done: OnChecked,
    ) -> usize {
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for id in ids {
            let permit = gate.clone().acquire_owned().await.expect("semaphore open");
            let (kp, on_done) = (self.clone(), on_done.clone());
            tasks.spawn(async move {
                let r = kp.check(&id).await;
                on_done(&id, &r);
                drop(permit);
            });
            if !spread.is_zero() {
                tokio::time::sleep(spread).await;
            }
        }
        let mut n = 0;
        while tasks.join_next().await.is_some() {
            n += 1;
        }
        n
    }

    /// Connections whose check is due.
    pub fn due_for_check(&self) -> Result<Vec<String>> {
        let due = now_ms() - CHECK_INTERVAL.as_millis() as i64;
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| c.checkable())
            .filter(|c| c.last_checked_at.is_none_or(|t| t < due))
            .map(|c| c.id)
            .collect())
    }

    /// The GUI's background loop: every `tick`, check what is due (spread
    /// over the tick, `concurrency` at once) and retry owed revocations.
    pub async fn run_scheduler(self, tick: Duration, concurrency: usize, on_done: OnChecked) {
        loop {
            if let Err(e) = self.retry_revocations().await {
                tracing::warn!(code = e.code(), "revocation retry failed: {e}");
            }
            match self.due_for_check() {
                Ok(ids) if !ids.is_empty() => {
                    let spread = (tick / 2) / ids.len() as u32;
                    let spread = spread.min(Duration::from_secs(5));
                    tracing::info!(count = ids.len(), "running due health checks");
                    self.check_many(ids, concurrency, spread, on_done.clone())
                        .await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(code = e.code(), "cannot list connections: {e}"),
            }
            tokio::time::sleep(tick).await;
        }
    }
}
