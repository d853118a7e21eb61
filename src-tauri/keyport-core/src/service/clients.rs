//! The OAuth clients Keyport uses per provider: the person's (id in SQLite,
//! secret in the keyring) or the catalog's.
//!
//! A stored client is bound to the endpoint origins it was saved for (its
//! provider's built-in endpoints, or for a provider with no built-in
//! integration the catalog's at the time). An integration whose token,
//! userinfo, check or revocation endpoint lies elsewhere — a planted or
//! pasted catalog entry — gets no client and no token until the person
//! confirms those origins (`trust_endpoints`).

use super::{ClientSource, ClientSummary, IntegrationSummary, Keyport};
use crate::catalog::Integration;
use crate::error::{Error, Result};
use crate::oauth::ClientCredentials;
use crate::secrets::{Secret, SecretKey};
use crate::store::OAuthClient;

impl Keyport {
    pub fn integrations(&self) -> Result<Vec<IntegrationSummary>> {
        let policy = self.policy().ok();
        self.catalog
            .all()
            .iter()
            .filter(|i| policy.is_none_or(|p| p.offers(&i.id, i.custom)))
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
                    configured: self.has_usable_client(i),
                    setup_guide: i.setup_guide.as_ref().map(|u| u.to_string()),
                    custom: i.custom,
                    overridden: i.overridden,
                    pkce: i.pkce,
                    unconfirmed_origins: self.unconfirmed_origins(i)?,
                })
            })
            .collect()
    }

    /// Whether Connect would find a client with the secret it needs: what
    /// the card's "set" / "needed" says.
    fn has_usable_client(&self, integration: &Integration) -> bool {
        match self.resolve_client(integration) {
            Ok(Some((_, resolved))) => !integration.client_secret_required || resolved.has_secret(),
            _ => false,
        }
    }

    /// The origins a client may be used with for `integration`: those the
    /// person's stored client is bound to; for an organisation's or a
    /// built-in client, the provider's built-in endpoints; for the catalog
    /// entry's own client id (or none yet), the built-in entry's endpoints
    /// if it overrides one, else its own. Plus those the person confirmed.
    fn allowed_origins(&self, integration: &Integration) -> Result<Vec<String>> {
        let own_entry = || match crate::catalog::Catalog::builtin().get(&integration.id) {
            Ok(builtin) => builtin.endpoint_origins(),
            Err(_) => integration.endpoint_origins(),
        };
        // A broken policy resolves no client (sign-ins are refused anyway).
        let mut allowed = match self.resolve_client(integration).ok().flatten() {
            Some((_, Resolved::Personal { .. })) => self
                .store
                .with(|db| db.client_origins(&integration.provider))?
                .flatten()
                .unwrap_or_else(|| self.provider_origins(&integration.provider)),
            Some((_, Resolved::Organisation(_) | Resolved::BuiltIn(_))) => {
                self.provider_origins(&integration.provider)
            }
            Some((_, Resolved::Catalog)) | None => own_entry(),
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
        let policy = self.policy()?;
        if policy.clients.get(provider).is_some_and(|c| c.locked) {
            return Err(Error::PolicyLocked {
                provider: provider.to_string(),
            });
        }
        if !policy.personal_clients {
            return Err(Error::PolicyForbids {
                what: "your own OAuth clients; it provides them".into(),
            });
        }
        check_client_id(provider, client_id).map_err(|message| Error::ClientInvalid {
            provider: provider.to_string(),
            message,
        })?;
        let secret_required = self
            .catalog
            .all()
            .iter()
            .any(|i| i.provider == provider && i.client_secret_required);
        let secret_stored = self
            .store
            .with(|db| db.client(provider))?
            .is_some_and(|c| c.has_secret);
        if secret_required && secret.is_none() && !secret_stored {
            return Err(Error::ClientInvalid {
                provider: provider.to_string(),
                message: format!(
                    "{provider} needs the client secret too: it is on the same page as the client id \
                     (give it with --client-secret-stdin, or import the downloaded client JSON)"
                ),
            });
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

    /// Sets the person's Google client from the JSON file Google Cloud
    /// console downloads (`client_secret_….json`). Only a Desktop ("installed")
    /// client fits Keyport; a Web client is refused with what to create.
    pub async fn import_client_json(&self, text: &str) -> Result<String> {
        let (client_id, secret) = parse_google_client_json(text)?;
        self.set_client("google", &client_id, Some(secret)).await?;
        Ok(client_id)
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

    /// Where the client that signs in for `integration` comes from.
    pub(super) fn client_source(&self, integration: &Integration) -> Option<ClientSource> {
        self.resolve_client(integration)
            .ok()
            .flatten()
            .map(|(_, r)| r.source())
    }

    /// The client for `integration`: the user's (`client set`) or the catalog's.
    pub async fn credentials(&self, integration: &Integration) -> Result<ClientCredentials> {
        let (client_id, source) = self
            .resolve_client(integration)?
            .ok_or_else(|| not_configured(integration))?;
        // The secret, the code and the verifier go to the token endpoint.
        self.check_endpoints(integration)?;
        let client_secret = match source {
            Resolved::Personal {
                has_secret: true,
                updated_at,
            } => {
                self.personal_secret(&integration.provider, updated_at)
                    .await?
            }
            Resolved::Personal { .. } | Resolved::Catalog => None,
            Resolved::Organisation(secret) | Resolved::BuiltIn(secret) => secret,
        };
        if integration.client_secret_required && client_secret.is_none() {
            return Err(not_configured(integration));
        }
        Ok(ClientCredentials {
            client_id,
            client_secret,
        })
    }

    /// Which client signs in for `integration`, in this order: a locked
    /// organisation client, the person's own, the catalog entry's, the
    /// organisation's default, the one built into this build of Keyport.
    fn resolve_client(&self, integration: &Integration) -> Result<Option<(String, Resolved)>> {
        let policy = self.policy()?;
        let org = policy.clients.get(&integration.provider);
        if let Some(c) = org.filter(|c| c.locked) {
            return Ok(Some((
                c.client_id.clone(),
                Resolved::Organisation(c.client_secret.clone()),
            )));
        }
        if policy.personal_clients {
            if let Some(c) = self.store.with(|db| db.client(&integration.provider))? {
                return Ok(Some((
                    c.client_id,
                    Resolved::Personal {
                        has_secret: c.has_secret,
                        updated_at: c.updated_at,
                    },
                )));
            }
            if let Some(id) = &integration.client_id {
                return Ok(Some((id.clone(), Resolved::Catalog)));
            }
        }
        if let Some(c) = org {
            return Ok(Some((
                c.client_id.clone(),
                Resolved::Organisation(c.client_secret.clone()),
            )));
        }
        Ok(builtin_client(&integration.provider)
            .map(|(id, secret)| (id.to_string(), Resolved::BuiltIn(secret.map(Secret::new)))))
    }

    /// The person's client secret from the keyring, cached per client row
    /// version (a `client set` elsewhere bumps `updated_at`).
    async fn personal_secret(&self, provider: &str, updated_at: i64) -> Result<Option<Secret>> {
        let version = (provider.to_string(), updated_at);
        let cached = self
            .client_secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&version)
            .cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let key = SecretKey::ClientSecret(provider.to_string());
        let secret = self.secrets.run(move |s| s.get(&key)).await?;
        if let Some(v) = &secret {
            self.client_secrets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(version, v.clone());
        }
        Ok(secret)
    }

    /// Each provider's client as the person sees it: where it comes from,
    /// whether it is locked; never a secret.
    pub fn client_sources(&self) -> Result<Vec<ClientSummary>> {
        let mut providers: Vec<String> = self
            .catalog
            .all()
            .iter()
            .map(|i| i.provider.clone())
            .collect();
        providers.sort();
        providers.dedup();
        let mut out = Vec::new();
        for provider in providers {
            let any = self
                .catalog
                .all()
                .iter()
                .find(|i| i.provider == provider)
                .expect("a provider of the catalog");
            let probe = Integration {
                client_id: None,
                ..any.clone()
            };
            let resolved = self.resolve_client(&probe)?;
            let locked = self
                .policy()?
                .clients
                .get(&provider)
                .is_some_and(|c| c.locked);
            out.push(ClientSummary {
                provider,
                client_id: resolved.as_ref().map(|(id, _)| id.clone()),
                source: resolved.as_ref().map(|(_, r)| r.source()),
                has_secret: resolved.as_ref().is_some_and(|(_, r)| r.has_secret()),
                locked,
            });
        }
        Ok(out)
    }
}

/// Where a client came from, with its secret when it comes with one.
enum Resolved {
    Organisation(Option<Secret>),
    Personal { has_secret: bool, updated_at: i64 },
    Catalog,
    BuiltIn(Option<Secret>),
}

impl Resolved {
    fn source(&self) -> ClientSource {
        match self {
            Resolved::Organisation(_) => ClientSource::Organisation,
            Resolved::Personal { .. } => ClientSource::Personal,
            Resolved::Catalog => ClientSource::Catalog,
            Resolved::BuiltIn(_) => ClientSource::BuiltIn,
        }
    }

    fn has_secret(&self) -> bool {
        match self {
            Resolved::Organisation(s) | Resolved::BuiltIn(s) => s.is_some(),
            Resolved::Personal { has_secret, .. } => *has_secret,
            Resolved::Catalog => false,
        }
    }
}

/// The clients compiled into this build (`KEYPORT_GOOGLE_CLIENT_ID`,
/// `KEYPORT_GOOGLE_CLIENT_SECRET`, `KEYPORT_MICROSOFT_CLIENT_ID` at build
/// time, as the release workflow passes them). A plain developer build has
/// none.
pub fn builtin_client(provider: &str) -> Option<(&'static str, Option<&'static str>)> {
    let some = |v: Option<&'static str>| v.filter(|v| !v.trim().is_empty());
    match provider {
        "google" => some(option_env!("KEYPORT_GOOGLE_CLIENT_ID"))
            .map(|id| (id, some(option_env!("KEYPORT_GOOGLE_CLIENT_SECRET")))),
        "microsoft" => some(option_env!("KEYPORT_MICROSOFT_CLIENT_ID")).map(|id| (id, None)),
        _ => None,
    }
}

/// Whether `client_id` has the shape `provider` gives its client ids: a
/// Google id ends in `.apps.googleusercontent.com`, a Microsoft one is a
/// GUID. Checked before anything opens; the error says what to do.
pub fn check_client_id(provider: &str, client_id: &str) -> std::result::Result<(), String> {
    let id = client_id.trim();
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_whitespace) {
        return Err("a client id is one word of at most 256 characters".into());
    }
    match provider {
        "google" if !id.ends_with(".apps.googleusercontent.com") => Err(format!(
            "\"{id}\" is not a Google client id: it ends in .apps.googleusercontent.com \
             (Google Cloud console → APIs & Services → Credentials → your Desktop client)"
        )),
        "microsoft" if !is_guid(id) => Err(format!(
            "\"{id}\" is not a Microsoft application (client) id: it looks like \
             00000000-0000-0000-0000-000000000000 (Entra admin center → App registrations → Overview)"
        )),
        _ => Ok(()),
    }
}

/// The client id and secret of Google's downloaded client JSON.
pub fn parse_google_client_json(text: &str) -> Result<(String, Secret)> {
    let invalid = |message: &str| Error::ClientInvalid {
        provider: "google".into(),
        message: message.to_string(),
    };
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| {
        invalid("this is not the JSON file Google Cloud console downloads for an OAuth client")
    })?;
    let installed =
        match (v.get("installed"), v.get("web")) {
            (Some(i), _) => i,
            (None, Some(_)) => {
                return Err(invalid(
                    "this is a Web application client; Keyport needs a Desktop app client \
                 (Google Cloud console → Credentials → Create credentials → OAuth client ID → \
                 Application type: Desktop app), then download its JSON",
                ))
            }
            (None, None) => return Err(invalid(
                "this JSON has no \"installed\" client; download the JSON of a Desktop app client",
            )),
        };
    let field = |name: &str| {
        installed
            .get(name)
            .and_then(|f| f.as_str())
            .map(str::trim)
            .filter(|f| !f.is_empty())
    };
    let client_id = field("client_id").ok_or_else(|| invalid("the JSON has no client_id"))?;
    check_client_id("google", client_id).map_err(|m| invalid(&m))?;
    let secret = field("client_secret").ok_or_else(|| invalid("the JSON has no client_secret"))?;
    Ok((client_id.to_string(), Secret::new(secret)))
}

fn is_guid(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn not_configured(integration: &Integration) -> Error {
    Error::IntegrationNotConfigured {
        name: integration.name.clone(),
        provider: integration.provider.clone(),
        secret_required: integration.client_secret_required,
        guide: integration.setup_guide.as_ref().map(|g| g.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_client_json_desktop_only() {
        let desktop = r#"{"installed":{"client_id":"1-a.apps.googleusercontent.com","project_id":"p","client_secret":"GOCSPX-s","redirect_uris":["http://localhost"]}}"#;
        let (id, secret) = parse_google_client_json(desktop).unwrap();
        assert_eq!(id, "1-a.apps.googleusercontent.com");
        assert_eq!(secret.expose(), "GOCSPX-s");
        let web = r#"{"web":{"client_id":"1-a.apps.googleusercontent.com","client_secret":"x"}}"#;
        let e = parse_google_client_json(web).unwrap_err();
        assert!(e.to_string().contains("Desktop app"), "{e}");
        assert!(
            !e.to_string().contains("GOCSPX"),
            "no secret in the message"
        );
        assert!(parse_google_client_json("not json").is_err());
        assert!(parse_google_client_json(
            r#"{"installed":{"client_id":"1-a.apps.googleusercontent.com"}}"#
        )
        .is_err());
    }

    #[test]
    fn client_ids_are_checked_for_their_providers_shape() {
        assert!(check_client_id("google", "1234-abc.apps.googleusercontent.com").is_ok());
        let e = check_client_id("google", "1234-abc").unwrap_err();
        assert!(e.contains(".apps.googleusercontent.com"), "{e}");
        assert!(check_client_id("microsoft", "3fa85f64-5717-4562-b3fc-2c963f66afa6").is_ok());
        assert!(check_client_id("microsoft", "3fa85f64").is_err());
        assert!(check_client_id("acme", "any-id").is_ok());
        assert!(check_client_id("acme", "two words").is_err());
    }
}
