//! Creating a connection from an existing refresh token.

use super::flow::{describe_identity, grant_of, missing_scopes, token_set};
use super::{state_hash, Keyport};
use crate::error::{Error, Result};
use crate::oauth;
use crate::secrets::Secret;
use crate::store::{now_ms, Activation, Connection, FlowPurpose, FlowStatus, PendingFlow};

impl Keyport {
    /// Creates a connection from an existing refresh token (as Airbyte's
    /// Gmail connector takes credentials): one refresh proves it works and
    /// tells the granted scopes, the identity is fetched, then it is stored.
    pub async fn import(&self, integration_id: &str, refresh_token: Secret) -> Result<Connection> {
        let integration = self.integration(integration_id)?.clone();
        let creds = self.credentials(&integration).await?;
        let mut tokens = oauth::refresh(&self.http, &integration, &creds, &refresh_token).await?;
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token);
        }
        let identity = oauth::identity(&self.http, &integration, &creds, &tokens).await?;
        let granted = tokens.scopes.clone().unwrap_or_default();
        let requested: Vec<String> = if granted.is_empty() {
            integration.default_scopes()
        } else {
            granted
                .iter()
                .filter(|s| !integration.identity_scopes.contains(s))
                .cloned()
                .collect()
        };
        let missing = missing_scopes(&integration, &integration.default_scopes(), &granted);
        let profile = oauth::check_call(&self.http, &integration, &tokens.access_token)
            .await
            .ok()
            .flatten();
        let existing = self
            .store
            .with(|db| db.connection_by_account(&integration.id, &identity.subject))?;
        let target = existing
            .as_ref()
            .map(|c| c.id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        // A flow record marks the write in progress, as for a sign-in, so
        // recovery undoes a half-done import.
        let flow_id = uuid::Uuid::new_v4().to_string();
        let lock = self.flow_lock(&flow_id)?;
        lock.try_lock().map_err(|_| Error::StoreBusy)?;
        let now = now_ms();
        self.store.transaction(|tx| {
            if existing.is_none() {
                tx.insert_connection(
                    &target,
                    &integration.id,
                    &integration.provider,
                    integration.redirect,
                    &requested,
                )?;
            }
            tx.insert_flow(&PendingFlow {
                id: flow_id.clone(),
                connection_id: target.clone(),
                state_hash: state_hash(&uuid::Uuid::new_v4().to_string()),
                integration: integration.id.clone(),
                purpose: if existing.is_some() {
                    FlowPurpose::Reconnect
                } else {
                    FlowPurpose::Connect
                },
                redirect_mode: integration.redirect,
                redirect_uri: String::new(),
                requested_scopes: requested.clone(),
                status: FlowStatus::Exchanging,
                result_connection_id: Some(target.clone()),
                error_code: None,
                error_message: None,
                created_at: now,
                expires_at: now,
                finished_at: None,
            })?;
            tx.mark_flow_secret_cleared(&flow_id)?;
            Ok(())
        })?;
        let mut set = token_set(tokens, granted.clone(), None);
        // When the imported refresh token was signed in for is not known.
        set.signed_in_at = None;
        // The connection's grant, else the account's, else a grant of its
        // own; its tokens are the account's newest.
        let grant_id = match &existing {
            Some(c) => c.holder().to_string(),
            None => self
                .store
                .with(|db| {
                    db.grant_for_account(&integration.provider, &creds.client_id, &identity.subject)
                })?
                .map_or(target.clone(), |g| g.id),
        };
        let _grant_lock = self.grant_lock(&grant_id).await?;
        let t = grant_id.clone();
        self.secrets.run(move |s| s.set_tokens(&t, &set)).await?;
        let others = self.others_on_grant(&grant_id, &target, &granted)?;
        let activation = Activation {
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            display_name: identity.name.clone(),
            requested_scopes: requested,
            granted_scopes: granted,
            missing_scopes: missing,
            profile,
            redirect_mode: integration.redirect,
            grant_id: grant_id.clone(),
        };
        self.store.transaction(|tx| {
            if tx.grant(&grant_id)?.is_none() {
                tx.insert_grant(&grant_of(&grant_id, &integration, &creds, &identity))?;
            }
            tx.heal_grant(&grant_id, &activation.granted_scopes, &others)?;
            tx.activate(&target, &activation)?;
            tx.finish_flow(&flow_id, FlowStatus::Completed, Some(&target), None)?;
            tx.append_event(
                Some(&target),
                Some(&integration.id),
                "imported",
                None,
                Some(&describe_identity(&identity, &integration)),
            )
        })?;
        drop(lock);
        self.get(&target)
    }
}
