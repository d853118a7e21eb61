//! The service the GUI, the CLI and the tests call: initiate a flow, complete
//! it from a callback, list and look up connections, manage OAuth clients.
//!
//! Write order keeps the invariants "no keyring entry without its row" and
//! "no active row without its secrets" even if the process dies between steps:
//! a flow is claimed (`exchanging`) and its target recorded in SQLite before
//! tokens go to the keyring, and the row turns `active` only after they are
//! there; [`Keyport::recover`] finishes or rolls back whatever a dead process
//! left behind. An OS file lock per flow tells a dead owner from a live one.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::callback::{self, Callback, Outcome};
use crate::catalog::{Catalog, Integration, RedirectMode};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::oauth::{self, ClientCredentials, Identity, Tokens};
use crate::paths::Paths;
use crate::secrets::{Secret, SecretKey, SecretStore, TokenSet};
use crate::store::{now_ms, Activation, Connection, FlowPurpose, FlowStatus, PendingFlow, Store};

/// How long a started sign-in stays valid.
pub const FLOW_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long finished flows are kept to recognise a replayed state.
const TOMBSTONE_LIFETIME_MS: i64 = 24 * 3600 * 1000;

/// What the caller asks for when connecting.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// A preset id of the integration ("read", "send", …).
    pub preset: Option<String>,
    /// Explicit scopes (override the preset).
    pub scopes: Option<Vec<String>>,
    pub redirect: Option<RedirectMode>,
    pub login_hint: Option<String>,
    /// The loopback port (0 = any free port).
    pub loopback_port: u16,
}

/// A started flow: `{connection_id, auth_url, state}` as the hosted APIs
/// return it, plus what the caller needs to wait for the result.
#[derive(Serialize)]
pub struct Initiated {
    pub connection_id: String,
    pub flow_id: String,
    pub auth_url: String,
    pub state: String,
    pub redirect_mode: RedirectMode,
    pub redirect_uri: String,
    #[serde(skip)]
    pub loopback: Option<crate::loopback::Listener>,
}

impl std::fmt::Debug for Initiated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiated")
            .field("connection_id", &self.connection_id)
            .field("flow_id", &self.flow_id)
            .field("redirect_mode", &self.redirect_mode)
            .finish_non_exhaustive()
    }
}

/// App-wide preferences, set in Settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Settings {
    /// Used when the integration allows it and the caller does not choose.
    pub default_redirect: Option<RedirectMode>,
    /// The relay page for integrations without their own `relay_url`.
    pub relay_url: Option<String>,
}

/// The integration as the UI and `keyport integrations` show it.
#[derive(Clone, Debug, Serialize)]
pub struct IntegrationSummary {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub description: String,
    pub icon: String,
    pub access: String,
    pub presets: Vec<crate::catalog::ScopePreset>,
    pub redirect: RedirectMode,
    pub redirect_modes: Vec<RedirectMode>,
    pub configured: bool,
    pub setup_guide: Option<String>,
    pub custom: bool,
    /// A built-in changed by the user's catalog file.
    pub overridden: bool,
}

pub fn state_hash(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Keyport's core service. Cheap to clone.
#[derive(Clone)]
pub struct Keyport {
    pub paths: Paths,
    pub catalog: Catalog,
    pub store: Store,
    pub secrets: SecretStore,
    pub http: Http,
    pub(crate) refresh_locks: RefreshLocks,
    /// Client secrets read from the keyring, by (provider, row version).
    client_secrets: Arc<Mutex<HashMap<(String, i64), Secret>>>,
}

type RefreshLocks = std::sync::Arc<
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
>;

impl Keyport {
    /// Opens the catalog, database and OS keyring for `paths`.
    pub fn open(paths: Paths) -> Result<Keyport> {
        let secrets = SecretStore::native(keyring_service(&paths));
        Keyport::open_with(paths, secrets)
    }

    pub fn open_with(paths: Paths, secrets: SecretStore) -> Result<Keyport> {
        let catalog = Catalog::load(&paths.user_catalog())?;
        let store = Store::open(&paths.database())?;
        Ok(Keyport {
            paths,
            catalog,
            store,
            secrets,
            http: Http::new(Duration::from_secs(15)),
            refresh_locks: Default::default(),
            client_secrets: Default::default(),
        })
    }

    pub fn integration(&self, id: &str) -> Result<&Integration> {
        self.catalog.get(id)
    }

    pub fn integrations(&self) -> Result<Vec<IntegrationSummary>> {
        let clients = self.store.clients()?;
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

    // ---- settings ----

    pub fn settings(&self) -> Result<Settings> {
        Ok(Settings {
            default_redirect: self
                .store
                .setting("default_redirect")?
                .and_then(|m| RedirectMode::parse(&m).ok()),
            relay_url: self.store.setting("relay_url")?,
        })
    }

    pub fn set_settings(&self, settings: &Settings) -> Result<Settings> {
        let relay = settings
            .relay_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        if let Some(u) = relay {
            let url = url::Url::parse(u)
                .map_err(|_| Error::InvalidInput(format!("\"{u}\" is not a URL")))?;
            if url.scheme() != "https" {
                return Err(Error::InvalidInput(
                    "the relay page must be an https URL".into(),
                ));
            }
        }
        self.store.set_setting(
            "default_redirect",
            settings.default_redirect.map(RedirectMode::as_str),
        )?;
        self.store.set_setting("relay_url", relay)?;
        self.settings()
    }

    // ---- OAuth clients ----

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
            None => self.store.client(provider)?.is_some_and(|c| c.has_secret),
        };
        self.store
            .set_client(provider, client_id.trim(), has_secret)
    }

    pub async fn remove_client(&self, provider: &str) -> Result<bool> {
        self.client_secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let key = SecretKey::ClientSecret(provider.to_string());
        self.secrets.run(move |s| s.delete(&key)).await?;
        self.store.remove_client(provider)
    }

    /// The client for `integration`: the user's (`client set`) or the catalog's.
    pub async fn credentials(&self, integration: &Integration) -> Result<ClientCredentials> {
        let stored = self.store.client(&integration.provider)?;
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

    // ---- connect ----

    /// Starts a connection: creates the row (`initiated`), persists the flow
    /// (verifier in the keyring) and returns the authorization URL.
    pub async fn initiate(&self, integration_id: &str, opts: ConnectOptions) -> Result<Initiated> {
        let integration = self.integration(integration_id)?.clone();
        let preferred = self
            .settings()?
            .default_redirect
            .filter(|m| integration.allows(*m));
        let mode = opts.redirect.or(preferred).unwrap_or(integration.redirect);
        if !integration.allows(mode) {
            return Err(Error::InvalidInput(format!(
                "{} does not allow the {} redirect",
                integration.name,
                mode.as_str()
            )));
        }
        let scopes = match (&opts.scopes, &opts.preset) {
            (Some(s), _) if !s.is_empty() => s.clone(),
            (_, Some(p)) => integration.preset(p)?.scopes.clone(),
            _ => integration.default_scopes(),
        };
        let creds = self.credentials(&integration).await?;
        let connection_id = uuid::Uuid::new_v4().to_string();
        self.begin_flow(
            &integration,
            &creds,
            mode,
            scopes,
            FlowPurpose::Connect,
            connection_id,
            true,
            &opts,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn begin_flow(
        &self,
        integration: &Integration,
        creds: &ClientCredentials,
        mode: RedirectMode,
        scopes: Vec<String>,
        purpose: FlowPurpose,
        connection_id: String,
        new_row: bool,
        opts: &ConnectOptions,
    ) -> Result<Initiated> {
        let (redirect_uri, loopback) = match mode {
            RedirectMode::DeepLink => (callback::DEEP_LINK_REDIRECT.to_string(), None),
            RedirectMode::Relay => (
                match &integration.relay_url {
                    Some(u) => u.to_string(),
                    None => self.settings()?.relay_url.ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "{} has no relay page: set one in Settings or `relay_url` in integrations.toml",
                            integration.name
                        ))
                    })?,
                },
                None,
            ),
            RedirectMode::Loopback => {
                let l = crate::loopback::Listener::bind(opts.loopback_port).await?;
                (l.redirect_uri(), Some(l))
            }
        };
        let request_scopes = oauth::request_scopes(integration, &scopes);
        let req = oauth::authorization_request(
            integration,
            creds,
            &redirect_uri,
            &request_scopes,
            opts.login_hint.as_deref(),
        )?;
        let flow_id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let flow = PendingFlow {
            id: flow_id.clone(),
            connection_id: connection_id.clone(),
            state_hash: state_hash(req.state.expose()),
            integration: integration.id.clone(),
            purpose,
            redirect_mode: mode,
            redirect_uri: redirect_uri.clone(),
            requested_scopes: scopes.clone(),
            status: FlowStatus::Pending,
            result_connection_id: None,
            error_code: None,
            error_message: None,
            created_at: now,
            expires_at: now + FLOW_LIFETIME.as_millis() as i64,
            finished_at: None,
        };
        // A loopback flow can only complete through its own listener, in
        // this process: its verifier stays in memory. Other modes may finish
        // in another process, so theirs goes to the keyring — first, so a row
        // never points at a verifier that is not there.
        let mut loopback = loopback;
        let in_keyring = match loopback.as_mut() {
            Some(listener) => {
                listener.verifier = Some(req.verifier.clone());
                false
            }
            None => {
                let key = SecretKey::FlowVerifier(flow_id.clone());
                let verifier = req.verifier.clone();
                self.secrets
                    .run(move |s| s.set(&key, verifier.expose()))
                    .await?;
                true
            }
        };
        let stored = self.store.transaction(|tx| {
            if new_row {
                tx.execute(
                    "INSERT INTO connections (id, integration, provider, status, redirect_mode, \
                     requested_scopes, created_at, updated_at) VALUES (?1, ?2, ?3, 'initiated', ?4, ?5, ?6, ?6)",
                    rusqlite::params![
                        connection_id,
                        integration.id,
                        integration.provider,
                        mode.as_str(),
                        serde_json::to_string(&scopes).unwrap_or_default(),
                        now
                    ],
                )?;
            }
            Store::insert_flow(tx, &flow)?;
            if !in_keyring {
                tx.execute("UPDATE pending_flows SET secret_cleared = 1 WHERE id = ?1", [&flow.id])?;
            }
            Store::append_event(
                tx,
                Some(&connection_id),
                Some(&integration.id),
                &format!("{}_started", purpose.as_str()),
                None,
                Some(&format!("Sign-in started ({} redirect)", mode.as_str())),
            )
        });
        if let Err(e) = stored {
            if in_keyring {
                let key = SecretKey::FlowVerifier(flow_id.clone());
                let _ = self.secrets.run(move |s| s.delete(&key)).await;
            }
            return Err(e);
        }
        tracing::info!(flow = %flow_id, connection = %connection_id, integration = %integration.id, mode = mode.as_str(), "flow started");
        Ok(Initiated {
            connection_id,
            flow_id,
            auth_url: req.url.to_string(),
            state: req.state.expose().to_string(),
            redirect_mode: mode,
            redirect_uri,
            loopback,
        })
    }

    /// Signs in again on an existing connection (same id); the provider must
    /// answer with the same account.
    pub async fn reconnect(&self, id_or_email: &str, opts: ConnectOptions) -> Result<Initiated> {
        let conn = self.get(id_or_email)?;
        let scopes = conn.requested_scopes.clone();
        self.start_on(&conn, scopes, FlowPurpose::Reconnect, opts)
            .await
    }

    /// Asks for more scopes on an existing connection (Google incremental
    /// authorization keeps the earlier ones): `extra`, or what is missing.
    pub async fn grant_more(
        &self,
        id_or_email: &str,
        extra: Option<Vec<String>>,
        opts: ConnectOptions,
    ) -> Result<Initiated> {
        let conn = self.get(id_or_email)?;
        let mut scopes = conn.requested_scopes.clone();
        for s in extra.unwrap_or_else(|| conn.missing_scopes.clone()) {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        self.start_on(&conn, scopes, FlowPurpose::Grant, opts).await
    }

    async fn start_on(
        &self,
        conn: &Connection,
        scopes: Vec<String>,
        purpose: FlowPurpose,
        mut opts: ConnectOptions,
    ) -> Result<Initiated> {
        if conn.subject.is_none() {
            return Err(Error::NotConnected(conn.id.clone()));
        }
        let integration = self.integration(&conn.integration)?.clone();
        let mode = opts.redirect.unwrap_or(integration.redirect);
        if opts.login_hint.is_none() {
            opts.login_hint = conn.email.clone();
        }
        let creds = self.credentials(&integration).await?;
        self.begin_flow(
            &integration,
            &creds,
            mode,
            scopes,
            purpose,
            conn.id.clone(),
            false,
            &opts,
        )
        .await
    }

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
            .connection_by_account(&integration.id, &identity.subject)?;
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
                tx.execute(
                    "INSERT INTO connections (id, integration, provider, status, redirect_mode, requested_scopes, \
                     created_at, updated_at) VALUES (?1, ?2, ?3, 'initiated', ?4, ?5, ?6, ?6)",
                    rusqlite::params![target, integration.id, integration.provider, integration.redirect.as_str(),
                        serde_json::to_string(&requested).unwrap_or_default(), now],
                )?;
            }
            Store::insert_flow(tx, &PendingFlow {
                id: flow_id.clone(),
                connection_id: target.clone(),
                state_hash: state_hash(&uuid::Uuid::new_v4().to_string()),
                integration: integration.id.clone(),
                purpose: if existing.is_some() { FlowPurpose::Reconnect } else { FlowPurpose::Connect },
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
            tx.execute("UPDATE pending_flows SET secret_cleared = 1 WHERE id = ?1", [&flow_id])?;
            Ok(())
        })?;
        let set = token_set(tokens, granted.clone(), None);
        let t = target.clone();
        self.secrets.run(move |s| s.set_tokens(&t, &set)).await?;
        let activation = Activation {
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            display_name: identity.name.clone(),
            requested_scopes: requested,
            granted_scopes: granted,
            missing_scopes: missing,
            profile,
            redirect_mode: integration.redirect,
        };
        self.store.transaction(|tx| {
            Store::activate(tx, &target, &activation)?;
            Store::finish_flow(tx, &flow_id, FlowStatus::Completed, Some(&target), None)?;
            Store::append_event(
                tx,
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

    /// The flow a callback's state belongs to, if any.
    pub fn flow_for_state(&self, state: &str) -> Option<String> {
        self.store
            .flow_by_state_hash(&state_hash(state))
            .ok()
            .flatten()
            .map(|f| f.id)
    }

    /// Completes a flow from a `dev.keyport:` deep link.
    pub async fn handle_deep_link(&self, url: &str) -> Result<Connection> {
        let cb = callback::parse_deep_link(url)?;
        self.complete(cb).await
    }

    /// Completes the flow `cb` belongs to. The one place a callback turns
    /// into a connection (deep link, loopback, relay, `open-url`).
    pub async fn complete(&self, cb: Callback) -> Result<Connection> {
        self.complete_with(cb, None).await
    }

    /// As [`complete`](Self::complete), with the PKCE verifier when the
    /// caller holds it (the loopback listener); else it comes from the keyring.
    pub async fn complete_with(
        &self,
        cb: Callback,
        verifier: Option<Secret>,
    ) -> Result<Connection> {
        let hash = state_hash(&cb.state);
        let Some(flow) = self.store.flow_by_state_hash(&hash)? else {
            tracing::warn!(
                state = callback::state_prefix(&cb.state),
                code = "oauth.state_mismatch",
                "callback for an unknown flow rejected"
            );
            return Err(Error::StateMismatch);
        };
        if flow.status != FlowStatus::Pending {
            tracing::warn!(flow = %flow.id, code = "oauth.state_reused", "callback replayed");
            return Err(Error::StateReused);
        }
        let lock = self.flow_lock(&flow.id)?;
        lock.try_lock().map_err(|_| Error::StateReused)?;
        let claimed = self.store.transaction(|tx| {
            Store::transition_flow(tx, &flow.id, FlowStatus::Pending, FlowStatus::Exchanging)
        })?;
        if !claimed {
            return Err(Error::StateReused);
        }
        crash_point("connect.claimed");
        if now_ms() > flow.expires_at {
            self.fail_flow(flow, Error::FlowExpired).await;
            return Err(Error::FlowExpired);
        }
        let result = self.finish(flow.clone(), cb.outcome, verifier).await;
        if let Err(e) = &result {
            self.fail_flow(flow, e.clone_for_record()).await;
        }
        drop(lock);
        result
    }

    async fn finish(
        &self,
        flow: PendingFlow,
        outcome: Outcome,
        verifier: Option<Secret>,
    ) -> Result<Connection> {
        let code = match outcome {
            Outcome::Code(code) => code,
            Outcome::Error { error, description } => {
                let desc = description.map(|d| format!(" ({d})")).unwrap_or_default();
                return Err(match error.as_str() {
                    "access_denied" => Error::AccessDenied(desc),
                    "" => Error::MissingCode,
                    _ => Error::AuthorizationFailed {
                        error,
                        description: desc,
                    },
                });
            }
        };
        let integration = self.integration(&flow.integration)?.clone();
        let creds = self.credentials(&integration).await?;
        let verifier = match verifier {
            Some(v) => Some(v),
            None if flow.redirect_mode == RedirectMode::Loopback => None,
            None => {
                let key = SecretKey::FlowVerifier(flow.id.clone());
                self.secrets.run(move |s| s.get(&key)).await?
            }
        };
        if integration.pkce && verifier.is_none() {
            return Err(Error::KeyringUnavailable(
                "the sign-in's PKCE verifier is missing".into(),
            ));
        }
        let tokens = oauth::exchange_code(
            &self.http,
            &integration,
            &creds,
            &flow.redirect_uri,
            &code,
            verifier.as_ref(),
        )
        .await?;
        let identity = oauth::identity(&self.http, &integration, &creds, &tokens).await?;
        let granted = tokens
            .scopes
            .clone()
            .unwrap_or_else(|| oauth::request_scopes(&integration, &flow.requested_scopes));
        let missing = missing_scopes(&integration, &flow.requested_scopes, &granted);
        let profile = if missing.is_empty() {
            oauth::check_call(&self.http, &integration, &tokens.access_token)
                .await
                .ok()
                .flatten()
        } else {
            None
        };

        // Which row the account lands in.
        let existing = self
            .store
            .connection_by_account(&integration.id, &identity.subject)?;
        let target = match flow.purpose {
            FlowPurpose::Connect => existing
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_else(|| flow.connection_id.clone()),
            FlowPurpose::Reconnect | FlowPurpose::Grant => {
                let own = self
                    .store
                    .connection(&flow.connection_id)?
                    .ok_or_else(|| Error::ConnectionNotFound(flow.connection_id.clone()))?;
                if own.subject.as_deref() != Some(identity.subject.as_str()) {
                    // Tokens for the wrong account are not kept anywhere.
                    let stray = token_set(tokens, vec![], None);
                    let _ = self.revoke(&integration, &creds, &stray).await;
                    return Err(Error::WrongAccount {
                        got: identity.email.clone().unwrap_or(identity.subject.clone()),
                        expected: own.email.clone().unwrap_or_else(|| own.id.clone()),
                    });
                }
                own.id
            }
        };
        let previous = if target != flow.connection_id || flow.purpose != FlowPurpose::Connect {
            let t = target.clone();
            self.secrets
                .run(move |s| s.get_tokens(&t))
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        // Intent before the keyring write, so recovery knows what to undo.
        self.store.transaction(|tx| {
            tx.execute(
                "UPDATE pending_flows SET result_connection_id = ?2 WHERE id = ?1",
                rusqlite::params![flow.id, target],
            )?;
            Ok(())
        })?;
        crash_point("connect.intent_recorded");
        let set = token_set(tokens, granted.clone(), previous.as_ref());
        let t = target.clone();
        self.secrets.run(move |s| s.set_tokens(&t, &set)).await?;
        crash_point("connect.tokens_stored");

        let activation = Activation {
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            display_name: identity.name.clone(),
            requested_scopes: flow.requested_scopes.clone(),
            granted_scopes: granted,
            missing_scopes: missing.clone(),
            profile,
            redirect_mode: flow.redirect_mode,
        };
        let committed = self.store.transaction(|tx| {
            if target != flow.connection_id {
                Store::delete_connection(tx, &flow.connection_id)?;
            }
            Store::activate(tx, &target, &activation)?;
            if !missing.is_empty() {
                let e = Error::ScopesMissing(missing.clone());
                tx.execute(
                    "UPDATE connections SET last_error_code = ?2, last_error_message = ?3 WHERE id = ?1",
                    rusqlite::params![target, e.code(), e.to_string()],
                )?;
            }
            Store::finish_flow(tx, &flow.id, FlowStatus::Completed, Some(&target), None)?;
            let kind = match (flow.purpose, existing.is_some()) {
                (FlowPurpose::Connect, false) => "connected",
                (FlowPurpose::Connect, true) => "reconnected",
                (FlowPurpose::Reconnect, _) => "reconnected",
                (FlowPurpose::Grant, _) => "scopes_granted",
            };
            Store::append_event(
                tx,
                Some(&target),
                Some(&integration.id),
                kind,
                (!missing.is_empty()).then_some("oauth.scopes_missing"),
                Some(&describe_identity(&identity, &integration)),
            )
        });
        if let Err(e) = committed {
            // Tokens for a row that never became active must not linger.
            if target == flow.connection_id && flow.purpose == FlowPurpose::Connect {
                let t = target.clone();
                let _ = self
                    .secrets
                    .run(move |s| s.delete(&SecretKey::Connection(t)))
                    .await;
            }
            return Err(e);
        }
        crash_point("connect.activated");
        self.clear_flow_secret(&flow.id).await;
        crash_point("connect.verifier_cleared");
        tracing::info!(flow = %flow.id, connection = %target, integration = %integration.id, "connection active");
        self.store
            .connection(&target)?
            .ok_or(Error::ConnectionNotFound(target))
    }

    /// Records a failed flow: the flow and (a new) connection turn `failed`.
    async fn fail_flow(&self, flow: PendingFlow, e: Error) {
        tracing::warn!(flow = %flow.id, connection = %flow.connection_id, code = e.code(), "sign-in failed: {e}");
        let res = self.store.transaction(|tx| {
            Store::finish_flow(tx, &flow.id, FlowStatus::Failed, None, Some(&e))?;
            if flow.purpose == FlowPurpose::Connect {
                tx.execute(
                    "UPDATE connections SET status = 'failed', last_error_code = ?2, last_error_message = ?3, \
                     updated_at = ?4 WHERE id = ?1 AND status = 'initiated'",
                    rusqlite::params![flow.connection_id, e.code(), e.to_string(), now_ms()],
                )?;
            }
            Store::append_event(tx, Some(&flow.connection_id), Some(&flow.integration), "failed", Some(e.code()), Some(&e.to_string()))
        });
        if let Err(db) = res {
            tracing::error!(flow = %flow.id, "could not record the failure: {db}");
        }
        self.clear_flow_secret(&flow.id).await;
    }

    /// Deletes a flow's verifier from the keyring (once); true when it is gone.
    async fn clear_flow_secret(&self, flow_id: &str) -> bool {
        if self.store.flow_secret_cleared(flow_id).unwrap_or(false) {
            return true;
        }
        let key = SecretKey::FlowVerifier(flow_id.to_string());
        self.secrets.run(move |s| s.delete(&key)).await.is_ok()
            && self.store.mark_flow_secret_cleared(flow_id).is_ok()
    }

    fn flow_lock(&self, flow_id: &str) -> Result<File> {
        let dir = self.paths.locks_dir();
        crate::paths::create_private_dir(&dir)?;
        Ok(File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("flow-{flow_id}.lock")))?)
    }

    /// Cancels a pending flow (the user closed the dialog).
    pub async fn cancel(&self, flow_id: &str) -> Result<()> {
        let flow = self.store.flow(flow_id)?.ok_or(Error::StateMismatch)?;
        let took = self.store.transaction(|tx| {
            Store::transition_flow(tx, flow_id, FlowStatus::Pending, FlowStatus::Exchanging)
        })?;
        if took {
            self.fail_flow(flow, Error::Cancelled).await;
        }
        Ok(())
    }

    /// Waits until the flow ends (in any process) or `timeout` passes.
    pub async fn wait_for_flow(&self, flow_id: &str, timeout: Duration) -> Result<Connection> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let flow = self.store.flow(flow_id)?.ok_or(Error::StateMismatch)?;
            match flow.status {
                FlowStatus::Completed => {
                    let id = flow.result_connection_id.unwrap_or(flow.connection_id);
                    return self
                        .store
                        .connection(&id)?
                        .ok_or(Error::ConnectionNotFound(id));
                }
                FlowStatus::Failed => {
                    return Err(error_from_code(
                        flow.error_code.as_deref(),
                        flow.error_message,
                    ));
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                self.cancel(flow_id).await.ok();
                return Err(Error::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // ---- connections ----

    pub fn list(&self) -> Result<Vec<Connection>> {
        self.store.list_connections()
    }

    /// A connection by id or account email.
    pub fn get(&self, id_or_email: &str) -> Result<Connection> {
        let mut found = self.store.find_connections(id_or_email)?;
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
        let c = self.get(id_or_email)?;
        let label = label.map(str::trim).filter(|l| !l.is_empty());
        if label.is_some_and(|l| l.chars().count() > 100) {
            return Err(Error::InvalidInput(
                "a label can be at most 100 characters".into(),
            ));
        }
        self.store.rename(&c.id, label)?;
        self.get(&c.id)
    }

    /// Finishes or rolls back what a process that died left behind, expires
    /// stale flows and drops old tombstones. Safe to run at any time.
    pub async fn recover(&self) -> Result<()> {
        let now = now_ms();
        for flow in self.store.flows()? {
            match flow.status {
                FlowStatus::Pending if now > flow.expires_at => {
                    let took = self.store.transaction(|tx| {
                        Store::transition_flow(
                            tx,
                            &flow.id,
                            FlowStatus::Pending,
                            FlowStatus::Exchanging,
                        )
                    })?;
                    if took {
                        self.fail_flow(flow, Error::FlowExpired).await;
                    }
                }
                FlowStatus::Exchanging => {
                    let lock = self.flow_lock(&flow.id)?;
                    if lock.try_lock().is_err() {
                        continue; // a live process is finishing it
                    }
                    let current = self.store.flow(&flow.id)?;
                    if current.as_ref().map(|f| f.status) != Some(FlowStatus::Exchanging) {
                        continue;
                    }
                    // Tokens may be in the keyring for a row that never went active.
                    if flow.purpose == FlowPurpose::Connect {
                        let target = current.and_then(|f| f.result_connection_id);
                        if target.as_deref() == Some(flow.connection_id.as_str()) {
                            let t = flow.connection_id.clone();
                            self.secrets
                                .run(move |s| s.delete(&SecretKey::Connection(t)))
                                .await?;
                        }
                    }
                    tracing::warn!(flow = %flow.id, "rolled back a sign-in interrupted by a crash");
                    self.fail_flow(flow, Error::Interrupted).await;
                }
                FlowStatus::Completed | FlowStatus::Failed => {
                    let old =
                        flow.finished_at.unwrap_or(flow.created_at) + TOMBSTONE_LIFETIME_MS < now;
                    // A tombstone goes only once its verifier is gone.
                    if self.clear_flow_secret(&flow.id).await && old {
                        self.store.delete_flow(&flow.id)?;
                    }
                }
                FlowStatus::Pending => {}
            }
        }
        Ok(())
    }
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

fn not_configured(integration: &Integration) -> Error {
    Error::IntegrationNotConfigured {
        name: integration.name.clone(),
        provider: integration.provider.clone(),
        secret_hint: if integration.client_secret_required {
            " --client-secret-stdin".into()
        } else {
            String::new()
        },
        guide: integration
            .setup_guide
            .as_ref()
            .map(|g| format!(" Setup guide: {g}"))
            .unwrap_or_default(),
    }
}

fn token_set(tokens: Tokens, granted: Vec<String>, previous: Option<&TokenSet>) -> TokenSet {
    let now = now_ms() / 1000;
    TokenSet {
        access_token: tokens.access_token,
        // A reply without a refresh token keeps the one we had.
        refresh_token: tokens
            .refresh_token
            .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
        expires_at: tokens.expires_in.map(|d| now + d.as_secs() as i64),
        scopes: granted,
        token_type: "Bearer".into(),
        obtained_at: now,
    }
}

/// Requested scopes (without identity ones, which providers rename) that
/// were not granted.
pub fn missing_scopes(
    integration: &Integration,
    requested: &[String],
    granted: &[String],
) -> Vec<String> {
    let granted: HashSet<&str> = granted.iter().map(String::as_str).collect();
    requested
        .iter()
        .filter(|s| !integration.identity_scopes.contains(s) && s.as_str() != "offline_access")
        .filter(|s| !granted.contains(s.as_str()))
        .cloned()
        .collect()
}

fn describe_identity(identity: &Identity, integration: &Integration) -> String {
    format!(
        "Connected {} as {}",
        integration.name,
        identity.email.as_deref().unwrap_or(&identity.subject)
    )
}

/// Rebuilds a typed error from a code stored by another process.
fn error_from_code(code: Option<&str>, message: Option<String>) -> Error {
    let message = message.unwrap_or_default();
    match code {
        Some("oauth.access_denied") => Error::AccessDenied(String::new()),
        Some("oauth.flow_expired") => Error::FlowExpired,
        Some("oauth.cancelled") => Error::Cancelled,
        Some("oauth.interrupted") => Error::Interrupted,
        Some("oauth.missing_code") => Error::MissingCode,
        Some(code) => Error::Remote {
            code: code.to_string(),
            message,
        },
        None => Error::Remote {
            code: "oauth.failed".into(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ignores_identity_scopes_google_renames() {
        let cat = Catalog::builtin();
        let gmail = cat.get("gmail").unwrap();
        let req = vec!["https://www.googleapis.com/auth/gmail.readonly".to_string()];
        let granted = vec![
            "openid".into(),
            "https://www.googleapis.com/auth/userinfo.email".into(),
        ];
        assert_eq!(missing_scopes(gmail, &req, &granted), req);
        let granted_all = vec![req[0].clone()];
        assert!(missing_scopes(gmail, &req, &granted_all).is_empty());
    }

    #[test]
    fn state_hash_is_stable_hex() {
        assert_eq!(state_hash("abc").len(), 64);
        assert_eq!(state_hash("abc"), state_hash("abc"));
        assert_ne!(state_hash("abc"), state_hash("abd"));
    }
}
