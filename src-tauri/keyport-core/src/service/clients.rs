//! The OAuth clients Keyport uses per provider: the person's (id in SQLite,
//! secret in the keyring) or the catalog's.
//!
//! A stored client is bound to the endpoint origins it was saved for (its
//! provider's built-in endpoints, or for a provider with no built-in
//! integration the catalog's at the time). An integration whose token,
//! userinfo, check or revocation endpoint lies elsewhere — a planted or
//! pasted catalog entry — gets no client and no token until the person
//! confirms those origins (`trust_endpoints`).

use super::{IntegrationSummary, Keyport};
use crate::catalog::Integration;
use crate::error::{Error, Result};
use crate::oauth::ClientCredentials;
use crate::secrets::{Secret, SecretKey};
use crate::store::OAuthClient;

impl Keyport {
    pub fn integrations(&self) -> Result<Vec<IntegrationSummary>> {
        let clients = self.store.with(|db| db.clients())?;
        self.catalog
            .all()
            .iter()
            .map(|i| {
                Ok(IntegrationSummary {
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
                    pkce: i.pkce,
                    unconfirmed_origins: self.unconfirmed_origins(i)?,
                })
            })
            .collect()
    }

    /// The origins a client may be used with for `integration`: those the
    /// provider's stored client is bound to (else, for a built-in, its
    /// built-in endpoints; else the integration's own, which came with the
    /// catalog's client id), plus those the person confirmed.
    fn allowed_origins(&self, integration: &Integration) -> Result<Vec<String>> {
        let stored = self
            .store
            .with(|db| db.client_origins(&integration.provider))?;
        let mut allowed = match stored {
            Some(Some(bound)) => bound,
            Some(None) => self.provider_origins(&integration.provider),
            None => match crate::catalog::Catalog::builtin().get(&integration.id) {
                Ok(builtin) => builtin.endpoint_origins(),
                Err(_) => integration.endpoint_origins(),
            },
        };
        allowed.extend(self.store.with(|db| db.trusted_origins(&integration.id))?);
        Ok(allowed)
    }

    /// The endpoint origins a client for `provider` is saved for: its
    /// built-in integrations', or (a provider only the catalog file names)
    /// the current catalog's.
    fn provider_origins(&self, provider: &str) -> Vec<String> {
        let builtin = crate::catalog::Catalog::builtin();
        let from = |all: &[Integration]| -> Vec<String> {
            let mut v: Vec<String> = all
                .iter()
                .filter(|i| i.provider == provider)
                .flat_map(Integration::endpoint_origins)
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let origins = from(builtin.all());
        if origins.is_empty() {
            from(self.catalog.all())
        } else {
            origins
        }
    }

    /// The integration's endpoint origins its client is not bound to.
    fn unconfirmed_origins(&self, integration: &Integration) -> Result<Vec<String>> {
        let allowed = self.allowed_origins(integration)?;
        Ok(integration
            .endpoint_origins()
            .into_iter()
            .filter(|o| !allowed.contains(o))
            .collect())
    }

    /// Refuses an integration whose endpoints its client is not bound to.
    pub(super) fn check_endpoints(&self, integration: &Integration) -> Result<()> {
        let origins = self.unconfirmed_origins(integration)?;
        if origins.is_empty() {
            return Ok(());
        }
        tracing::warn!(integration = %integration.id, ?origins, code = "integration.untrusted_endpoints", "endpoints not confirmed");
        Err(Error::UntrustedEndpoints {
            id: integration.id.clone(),
            name: integration.name.clone(),
            provider: integration.provider.clone(),
            origins,
        })
    }

    /// The person confirms an integration's endpoints (they wrote the
    /// catalog entry): its client may be used with them from now on.
    /// Returns the origins confirmed.
    pub fn trust_endpoints(&self, integration_id: &str) -> Result<Vec<String>> {
        let integration = self.integration(integration_id)?;
        let origins = integration.endpoint_origins();
        self.store
            .with(|db| db.trust_origins(&integration.id, &origins))?;
        tracing::info!(integration = %integration.id, ?origins, "endpoints confirmed");
        Ok(origins)
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
        let origins = self.provider_origins(provider);
        self.store
            .with(|db| db.set_client(provider, client_id.trim(), has_secret, &origins))
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
        // The secret, the code and the verifier go to the token endpoint.
        self.check_endpoints(integration)?;
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
