//! The OAuth clients Keyport uses per provider: the person's (id in SQLite,
//! secret in the keyring) or the catalog's.

use super::{IntegrationSummary, Keyport};
use crate::catalog::Integration;
use crate::error::{Error, Result};
use crate::oauth::ClientCredentials;
use crate::secrets::{Secret, SecretKey};
use crate::store::OAuthClient;

impl Keyport {
    pub fn integrations(&self) -> Result<Vec<IntegrationSummary>> {
        let clients = self.store.with(|db| db.clients())?;
        Ok(self
            .catalog
            .all()
            .iter()
            .map(|i| IntegrationSummary {
                id: i.id.clone(),
                name: i.name.clone(),
                provider: i.provider.clone(),
                description: i.description.clone(),
                icon: i.icon.clone(),
                access: i.access_summary(),
                presets: i.presets.clone(),
                redirect: i.redirect,
                redirect_modes: i.redirect_modes.clone(),
                configured: i.client_id.is_some()
                    || clients.iter().any(|c| c.provider == i.provider),
                setup_guide: i.setup_guide.as_ref().map(|u| u.to_string()),
                custom: i.custom,
                overridden: i.overridden,
            })
            .collect())
    }

    /// The stored clients (secrets only as "set").
    pub fn clients(&self) -> Result<Vec<OAuthClient>> {
        self.store.with(|db| db.clients())
    }

    /// Stores a client id (SQLite) and, when given, its secret (keyring) for
    /// `provider`.
    pub async fn set_client(
        &self,
        provider: &str,
        client_id: &str,
        secret: Option<Secret>,
    ) -> Result<()> {
        if provider.is_empty() || client_id.trim().is_empty() {
            return Err(Error::InvalidInput(
                "a provider and a client id are required".into(),
            ));
        }
        self.client_secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        // No secret given: keep the one stored (remove it with `remove_client`).
        let has_secret = match secret {
            Some(v) => {
                let key = SecretKey::ClientSecret(provider.to_string());
                self.secrets.run(move |s| s.set(&key, v.expose())).await?;
                true
            }
            None => self
                .store
                .with(|db| db.client(provider))?
                .is_some_and(|c| c.has_secret),
        };
        self.store
            .with(|db| db.set_client(provider, client_id.trim(), has_secret))
    }

    pub async fn remove_client(&self, provider: &str) -> Result<bool> {
        self.client_secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let key = SecretKey::ClientSecret(provider.to_string());
        self.secrets.run(move |s| s.delete(&key)).await?;
        self.store.with(|db| db.remove_client(provider))
    }

    /// The client for `integration`: the user's (`client set`) or the catalog's.
    pub async fn credentials(&self, integration: &Integration) -> Result<ClientCredentials> {
        let stored = self.store.with(|db| db.client(&integration.provider))?;
        let client_id = match (&stored, &integration.client_id) {
            (Some(c), _) => c.client_id.clone(),
            (None, Some(id)) => id.clone(),
            (None, None) => return Err(not_configured(integration)),
        };
        let client_secret = match &stored {
            Some(c) if c.has_secret => {
                // Cached per client row version: a `client set` elsewhere
                // bumps `updated_at` and so refreshes the cache.
                let version = (c.provider.clone(), c.updated_at);
                let cached = self
                    .client_secrets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&version)
                    .cloned();
                match cached {
                    Some(secret) => Some(secret),
                    None => {
                        let key = SecretKey::ClientSecret(integration.provider.clone());
                        let secret = self.secrets.run(move |s| s.get(&key)).await?;
                        if let Some(v) = &secret {
                            self.client_secrets
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(version, v.clone());
                        }
                        secret
                    }
                }
            }
            _ => None,
        };
        if integration.client_secret_required && client_secret.is_none() {
            return Err(not_configured(integration));
        }
        Ok(ClientCredentials {
            client_id,
            client_secret,
        })
    }
}

fn not_configured(integration: &Integration) -> Error {
    Error::IntegrationNotConfigured {
        name: integration.name.clone(),
        provider: integration.provider.clone(),
        secret_required: integration.client_secret_required,
        guide: integration.setup_guide.as_ref().map(|g| g.to_string()),
    }
}
