//! Disconnecting: the row goes at once, the tokens are revoked at the
//! provider (RFC 7009), then deleted from the keyring. A provider that is
//! down gets the revocation later: the owed revocation is queued in SQLite
//! and its token stays in the keyring until the provider confirms (so no
//! keyring entry is ever without a row that names it).

use serde::Serialize;

use super::tokens::cooldown;
use super::{crash_point, Keyport};
use crate::catalog::Integration;
use crate::error::{Error, Result};
use crate::oauth::ClientCredentials;
use crate::secrets::{SecretKey, TokenSet};
use crate::store::{now_ms, Connection};

/// Give up on a revocation after this many attempts (about two days).
const MAX_ATTEMPTS: i64 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// The provider confirmed.
    Revoked,
    /// The provider could not be reached; Keyport retries later.
    Queued,
    /// The provider has no revocation endpoint.
    NotSupported,
    /// The provider refused the revocation request.
    Failed,
    /// There was no token to revoke.
    NothingToRevoke,
    /// Not revoked: the account's sign-in is still in use (its other
    /// integrations, or another grant of the account Keyport holds).
    Kept,
}

#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Disconnected {
    pub connection_id: String,
    pub email: Option<String>,
    pub revocation: Revocation,
    pub message: String,
}

/// What disconnecting would do, said before it is done.
#[derive(Clone, Debug, Serialize, ts_rs::TS)]
pub struct DisconnectPlan {
    pub connection_id: String,
    /// The integration's name ("Gmail").
    pub integration: String,
    pub account: Option<String>,
    /// The account's other integrations, which keep working: they share
    /// its sign-in ("Google Calendar").
    pub keeps: Vec<String>,
    /// Whether Keyport's access is revoked at the provider (when nothing
    /// else uses the account's sign-in).
    pub revokes: bool,
    /// One sentence saying what stops working and what does not.
    pub summary: String,
}

impl Keyport {
    /// What [`disconnect`](Self::disconnect) (or, with `account`,
    /// [`remove_account`](Self::remove_account)) would do.
    pub fn disconnect_plan(&self, id_or_email: &str, account: bool) -> Result<DisconnectPlan> {
        let conn = if account {
            self.account_connection(id_or_email)?
        } else {
            self.get(id_or_email)?
        };
        let name = |id: &str| {
            self.integration(id)
                .map(|i| i.name.clone())
                .unwrap_or_else(|_| id.to_string())
        };
        let on_grant = match &conn.grant_id {
            Some(g) => self.store.with(|db| db.connections_on_grant(g))?,
            None => vec![conn.clone()],
        };
        let (going, keeps): (Vec<_>, Vec<_>) =
            on_grant.iter().partition(|c| account || c.id == conn.id);
        let keeps: Vec<String> = keeps.iter().map(|c| name(&c.integration)).collect();
        let mut integration = going
            .iter()
            .map(|c| name(&c.integration))
            .collect::<Vec<_>>()
            .join(" and ");
        if integration.is_empty() {
            integration = name(&conn.integration);
        }
        let account = conn.email.clone();
        let who = account.as_deref().unwrap_or("this account");
        let verb = if going.len() > 1 { "stop" } else { "stops" };
        // Another grant of the same account (made before grants were one
        // per account): revoking would end it at the provider too.
        let other_grant = match &conn.subject {
            Some(sub) => {
                self.store
                    .with(|db| db.grants_of_account(&conn.provider, sub))?
                    > 1
            }
            None => false,
        };
        let revokes = keeps.is_empty() && !other_grant;
        let summary = if revokes {
            format!(
                "{integration} for {who} {verb} working, and Keyport's access to {who} is revoked."
            )
        } else if keeps.is_empty() {
            format!(
                "{integration} for {who} {verb} working. Keyport's access is not revoked: another connection of {who} still uses it."
            )
        } else {
            format!(
                "{integration} for {who} {verb} working. {} keep{} working: they share the account's sign-in, which is not revoked.",
                keeps.join(", "),
                if keeps.len() == 1 { "s" } else { "" }
            )
        };
        Ok(DisconnectPlan {
            connection_id: conn.id,
            integration,
            account,
            revokes,
            keeps,
            summary,
        })
    }

    /// Disconnects one integration. While other integrations of the account
    /// use its grant, only this row goes; the last one also revokes the
    /// grant at the provider (or queues that) and deletes its tokens.
    pub async fn disconnect(&self, id_or_email: &str) -> Result<Disconnected> {
        let conn = self.get(id_or_email)?;
        let plan = self.disconnect_plan(&conn.id, false)?;
        self.remove_connections(std::slice::from_ref(&conn))
            .await
            .map(|mut d| {
                if d.revocation == Revocation::Kept {
                    d.message = format!("Disconnected. {}", plan.summary);
                }
                d
            })
    }

    /// Removes the account: every integration on the connection's grant,
    /// with one revocation.
    pub async fn remove_account(&self, id_or_email: &str) -> Result<Disconnected> {
        let conn = self.account_connection(id_or_email)?;
        let all = match &conn.grant_id {
            Some(g) => self.store.with(|db| db.connections_on_grant(g))?,
            None => vec![conn.clone()],
        };
        self.remove_connections(&all).await
    }

    /// A connection of the account `id_or_email` names: by connection id,
    /// or by email when every connection with it is on one grant.
    fn account_connection(&self, id_or_email: &str) -> Result<Connection> {
        let found = self.store.with(|db| db.find_connections(id_or_email))?;
        let Some(first) = found.first() else {
            return Err(Error::ConnectionNotFound(id_or_email.to_string()));
        };
        if first.id == id_or_email || found.iter().all(|c| c.grant_id == first.grant_id) {
            return Ok(first.clone());
        }
        Err(Error::InvalidInput(format!(
            "{id_or_email} has several accounts in Keyport; give a connection id instead (see `keyport list`)"
        )))
    }

    /// Deletes the rows of `conns` (one grant's). When no row is left on the
    /// grant — decided in the same transaction, under the grant's lock, so a
    /// sign-in or another disconnect cannot slip in between — the grant goes
    /// too: revoked at the provider, unless Keyport holds another grant of
    /// the account (see [`settle_revocation`](Self::settle_revocation)).
    async fn remove_connections(&self, conns: &[Connection]) -> Result<Disconnected> {
        let conn = conns[0].clone();
        let holder = conn.holder().to_string();
        let lock = self.grant_lock(&holder).await?;
        let last = self.store.transaction(|tx| {
            for c in conns {
                tx.delete_connection(&c.id)?;
                let who = c.email.as_deref().unwrap_or(&c.id);
                tx.append_event(
                    Some(&c.id),
                    Some(&c.integration),
                    "disconnected",
                    None,
                    Some(&format!("Disconnected {who}")),
                )?;
            }
            let left = match &conn.grant_id {
                Some(g) => tx.connections_on_grant(g)?.len(),
                None => 0,
            };
            if left == 0 {
                tx.delete_grant(&holder)?;
                tx.queue_revocation(&holder, &conn)?;
            }
            Ok(left == 0)
        })?;
        crash_point("disconnect.row_deleted");
        let revocation = if last {
            self.settle_revocation(&holder, &conn.integration, 0)
                .await?
        } else {
            Revocation::Kept
        };
        drop(lock);
        let name = self
            .integration(&conn.integration)
            .map(|i| i.name.clone())
            .unwrap_or_else(|_| conn.integration.clone());
        let message = match revocation {
            Revocation::Revoked => format!("Disconnected. {name} revoked Keyport's access."),
            Revocation::Queued => format!(
                "Disconnected. {name} could not be reached to revoke Keyport's access; Keyport will retry."
            ),
            Revocation::NotSupported => format!(
                "Disconnected. {name} has no way for apps to revoke access; remove Keyport in your account's security settings."
            ),
            Revocation::Failed => format!(
                "Disconnected, but {name} refused to revoke Keyport's access; remove it in your account's security settings."
            ),
            Revocation::Kept => "Disconnected. Keyport's access was not revoked: another connection of this account still uses it.".to_string(),
            Revocation::NothingToRevoke => "Disconnected.".to_string(),
        };
        tracing::info!(connection = %conn.id, grant = %holder, revocation = ?revocation, "disconnected");
        Ok(Disconnected {
            connection_id: conn.id,
            email: conn.email,
            revocation,
            message,
        })
    }

    /// Settles an owed revocation by deleting the tokens without sending
    /// them to the provider.
    async fn settle_without_revoking(&self, holder: &str) -> Result<Revocation> {
        let key = SecretKey::Connection(holder.to_string());
        self.secrets.run(move |s| s.delete(&key)).await?;
        crash_point("disconnect.secret_deleted");
        self.store.with(|db| {
            db.revocation_done(
                holder,
                "revocation_skipped",
                "Not revoked: another grant of the account is still in use",
            )
        })?;
        Ok(Revocation::Kept)
    }

    /// Retries revocations that are due. Returns how many were settled.
    pub async fn retry_revocations(&self) -> Result<usize> {
        let mut settled = 0;
        for (id, integration, attempts) in self.store.with(|db| db.due_revocations())? {
            if self.settle_revocation(&id, &integration, attempts).await? != Revocation::Queued {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// One attempt at an owed revocation; on anything but a transient
    /// failure the token leaves the keyring and the debt is cleared.
    async fn settle_revocation(
        &self,
        id: &str,
        integration_id: &str,
        attempts: i64,
    ) -> Result<Revocation> {
        // Checked on every attempt: the person may have connected the
        // account again since, and revoking would end that grant too.
        if self.store.with(|db| db.revocation_account_held(id))? {
            return self.settle_without_revoking(id).await;
        }
        let key = id.to_string();
        let tokens = self
            .secrets
            .run(move |s| s.get_tokens(&key))
            .await
            .ok()
            .flatten();
        let outcome = match (&tokens, self.integration(integration_id).ok()) {
            (None, _) => Revocation::NothingToRevoke,
            (Some(_), None) => Revocation::Failed,
            (Some(_), Some(i)) if i.revocation_url.is_none() => Revocation::NotSupported,
            (Some(t), Some(i)) => {
                let i = i.clone();
                let creds = self.credentials(&i).await;
                match creds {
                    Ok(creds) => match self.revoke(&i, &creds, t).await {
                        Ok(()) => Revocation::Revoked,
                        Err(e) if e.is_transient() && attempts + 1 < MAX_ATTEMPTS => {
                            let next = now_ms() + cooldown(attempts, None).as_millis() as i64;
                            self.store.with(|db| db.revocation_failed(id, &e, next))?;
                            tracing::warn!(connection = %id, code = e.code(), "revocation queued");
                            return Ok(Revocation::Queued);
                        }
                        Err(e) => {
                            tracing::warn!(connection = %id, code = e.code(), "revocation refused: {e}");
                            Revocation::Failed
                        }
                    },
                    Err(_) => Revocation::Failed,
                }
            }
        };
        let key = SecretKey::Connection(id.to_string());
        self.secrets.run(move |s| s.delete(&key)).await?;
        crash_point("disconnect.secret_deleted");
        let (kind, message) = match outcome {
            Revocation::Revoked => ("revoked", "The provider revoked the tokens"),
            Revocation::NotSupported => (
                "revocation_unsupported",
                "The provider has no revocation endpoint",
            ),
            Revocation::Failed => (
                "revocation_failed",
                "The provider refused to revoke the tokens",
            ),
            _ => ("revocation_settled", "No tokens were left to revoke"),
        };
        self.store
            .with(|db| db.revocation_done(id, kind, message))?;
        Ok(outcome)
    }

    /// RFC 7009: POST the refresh token (else the access token).
    pub(crate) async fn revoke(
        &self,
        integration: &Integration,
        creds: &ClientCredentials,
        tokens: &TokenSet,
    ) -> Result<()> {
        let Some(url) = &integration.revocation_url else {
            return Ok(());
        };
        let (token, hint) = match &tokens.refresh_token {
            Some(r) => (r.expose(), "refresh_token"),
            None => (tokens.access_token.expose(), "access_token"),
        };
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("token", token)
                .append_pair("token_type_hint", hint)
                .append_pair("client_id", &creds.client_id);
            if let Some(secret) = &creds.client_secret {
                form.append_pair("client_secret", secret.expose());
            }
            form.finish().into_bytes()
        };
        let request = oauth2::http::Request::builder()
            .method(oauth2::http::Method::POST)
            .uri(url.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let reply = self.http.send(request).await.map_err(Error::from)?;
        let status = reply.status().as_u16();
        let body: serde_json::Value = serde_json::from_slice(reply.body()).unwrap_or_default();
        match status {
            200..=299 => Ok(()),
            // Already invalid at the provider: nothing left to revoke.
            400 if body["error"] == "invalid_token" => Ok(()),
            _ => Err(Error::RevocationFailed { status }),
        }
    }
}
