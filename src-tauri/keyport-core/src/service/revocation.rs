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
use crate::store::now_ms;

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
}

#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Disconnected {
    pub connection_id: String,
    pub email: Option<String>,
    pub revocation: Revocation,
    pub message: String,
}

impl Keyport {
    /// Disconnects: removes the connection, revokes its tokens at the
    /// provider (or queues that), and deletes them from the keyring.
    pub async fn disconnect(&self, id_or_email: &str) -> Result<Disconnected> {
        let conn = self.get(id_or_email)?;
        self.store.transaction(|tx| {
            tx.queue_revocation(&conn)?;
            tx.delete_connection(&conn.id)?;
            let who = conn.email.as_deref().unwrap_or(&conn.id);
            tx.append_event(
                Some(&conn.id),
                Some(&conn.integration),
                "disconnected",
                None,
                Some(&format!("Disconnected {who}")),
            )
        })?;
        crash_point("disconnect.row_deleted");
        let revocation = self
            .settle_revocation(&conn.id, &conn.integration, 0)
            .await?;
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
            Revocation::NothingToRevoke => "Disconnected.".to_string(),
        };
        tracing::info!(connection = %conn.id, revocation = ?revocation, "disconnected");
        Ok(Disconnected {
            connection_id: conn.id,
            email: conn.email,
            revocation,
            message,
        })
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
