//! A sign-in from start to end: start (connect, reconnect, grant more), wait
//! for it ([`Keyport::await_flow`]), complete it from a callback, cancel it.

use std::collections::HashSet;
use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::dto::Loopback;
use super::{crash_point, state_hash, ConnectOptions, Initiated, Keyport, SignIn};
use crate::callback::{self, Callback, Outcome};
use crate::catalog::{Integration, RedirectMode};
use crate::error::{Error, GrantEnd, Result};
use crate::oauth::{self, ClientCredentials, Identity, Tokens};
use crate::secrets::{Secret, SecretKey, TokenSet};
use crate::store::{now_ms, Activation, Connection, FlowPurpose, FlowStatus, Grant, PendingFlow};

/// How a callback reached Keyport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    /// A `dev.keyport:` link (deep-link and relay flows).
    DeepLink,
    /// This process's loopback listener.
    Loopback,
}

impl Channel {
    fn of(mode: RedirectMode) -> Channel {
        match mode {
            RedirectMode::Loopback => Channel::Loopback,
            RedirectMode::DeepLink | RedirectMode::Relay => Channel::DeepLink,
        }
    }
}

/// How long a started sign-in stays valid.
pub const FLOW_LIFETIME: Duration = Duration::from_secs(10 * 60);

impl Keyport {
    /// Starts a connection: creates the row (`initiated`), persists the flow
    /// (verifier in the keyring) and returns the authorization URL.
    pub async fn initiate(&self, integration_id: &str, mut opts: ConnectOptions) -> Result<SignIn> {
        let integration = self.integration(integration_id)?.clone();
        if let Some(account) = opts.account.take() {
            // "Add Calendar" on an account: incremental authorization on
            // its grant, asking for what its integrations have too.
            let on = self.get(&account)?;
            if on.provider != integration.provider {
                return Err(Error::InvalidInput(format!(
                    "{} is not a {} account",
                    on.email.as_deref().unwrap_or(&on.id),
                    integration.name
                )));
            }
            opts.login_hint = opts.login_hint.or(on.email.clone());
            opts.also_scopes.extend(self.scopes_on_grant(&on)?);
        }
        let mode = self.redirect_mode(&integration, opts.redirect)?;
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
    ) -> Result<SignIn> {
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
        // A sign-in on a grant asks for what every integration on it needs,
        // so one sign-in heals them all.
        let mut asked = scopes.clone();
        for s in &opts.also_scopes {
            if !asked.contains(s) {
                asked.push(s.clone());
            }
        }
        let request_scopes = oauth::request_scopes(integration, &asked);
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
        // in another process, so theirs goes to the keyring — after the flow
        // row, so no keyring entry is ever without the row that names it (a
        // row whose verifier never arrived just fails: `verifier_missing`,
        // or expiry, which clears it).
        let loopback = loopback.map(|listener| Loopback {
            listener,
            verifier: Some(req.verifier.clone()),
        });
        let in_keyring = loopback.is_none();
        self.store.transaction(|tx| {
            if new_row {
                tx.insert_connection(
                    &connection_id,
                    &integration.id,
                    &integration.provider,
                    mode,
                    &scopes,
                )?;
            }
            tx.insert_flow(&flow)?;
            if !in_keyring {
                tx.mark_flow_secret_cleared(&flow.id)?;
            }
            tx.append_event(
                Some(&connection_id),
                Some(&integration.id),
                &format!("{}_started", purpose.as_str()),
                None,
                Some(&format!("Sign-in started ({} redirect)", mode.as_str())),
            )
        })?;
        crash_point("initiate.flow_recorded");
        if in_keyring {
            let key = SecretKey::FlowVerifier(flow_id.clone());
            let verifier = req.verifier.clone();
            if let Err(e) = self
                .secrets
                .run(move |s| s.set(&key, verifier.expose()))
                .await
            {
                // Nothing was handed out yet: the rows go again.
                let _ = self.store.transaction(|tx| {
                    tx.delete_flow(&flow_id)?;
                    if new_row {
                        tx.delete_connection(&connection_id)?;
                    }
                    Ok(())
                });
                return Err(e);
            }
            crash_point("initiate.verifier_stored");
        }
        tracing::info!(flow = %flow_id, connection = %connection_id, integration = %integration.id, mode = mode.as_str(), "flow started");
        Ok(SignIn {
            initiated: Initiated {
                connection_id,
                integration: integration.id.clone(),
                flow_id,
                auth_url: req.url.to_string(),
                redirect_mode: mode,
                redirect_uri,
            },
            state: req.state,
            loopback,
        })
    }

    /// Signs in again on an existing connection (same id); the provider must
    /// answer with the same account.
    pub async fn reconnect(&self, id_or_email: &str, opts: ConnectOptions) -> Result<SignIn> {
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
    ) -> Result<SignIn> {
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
    ) -> Result<SignIn> {
        if conn.subject.is_none() {
            return Err(Error::NotConnected(conn.id.clone()));
        }
        let integration = self.integration(&conn.integration)?.clone();
        let mode = self.redirect_mode(&integration, opts.redirect)?;
        if opts.login_hint.is_none() {
            opts.login_hint = conn.email.clone();
        }
        let creds = self.credentials(&integration).await?;
        opts.also_scopes.extend(self.scopes_on_grant(conn)?);
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

    /// The redirect a sign-in uses: the caller's choice, else the default in
    /// Settings, else the integration's; always one the integration allows.
    fn redirect_mode(
        &self,
        integration: &Integration,
        asked: Option<RedirectMode>,
    ) -> Result<RedirectMode> {
        let policy = self.policy()?;
        if !policy.offers(&integration.id, integration.custom) {
            return Err(Error::PolicyForbids {
                what: format!("{} on this computer", integration.name),
            });
        }
        let usable = |m: &RedirectMode| integration.allows(*m) && policy.allows_redirect(*m);
        let preferred = self.settings()?.default_redirect.filter(usable);
        let fallback = Some(integration.redirect)
            .filter(usable)
            .or_else(|| integration.redirect_modes.iter().copied().find(usable))
            .unwrap_or(integration.redirect);
        let mode = asked.or(preferred).unwrap_or(fallback);
        if !policy.allows_redirect(mode) {
            return Err(Error::PolicyForbids {
                what: format!("the {} redirect", mode.as_str()),
            });
        }
        if !integration.allows(mode) {
            return Err(Error::InvalidInput(format!(
                "{} does not allow the {} redirect",
                integration.name,
                mode.as_str()
            )));
        }
        if !integration.pkce {
            tracing::warn!(integration = %integration.id, "PKCE is turned off for this integration: its sign-ins rely on the state alone");
        }
        Ok(mode)
    }

    /// The flow a callback's state belongs to, if any.
    pub fn flow_for_state(&self, state: &str) -> Option<String> {
        self.store
            .with(|db| db.flow_by_state_hash(&state_hash(state)))
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
    ///
    /// This is the deep-link channel (a `dev.keyport:` link, or the relay
    /// page forwarding to one): it completes deep-link and relay flows only.
    pub async fn complete(&self, cb: Callback) -> Result<Connection> {
        self.complete_on(cb, Channel::DeepLink, None).await
    }

    /// Completes a flow from its callback on `channel`. A callback on
    /// another channel than its flow's redirect mode is refused before the
    /// flow is claimed, so knowing a state cannot end someone's sign-in.
    /// The PKCE verifier comes with a loopback callback (its listener holds
    /// it); for the other modes it is in the keyring.
    async fn complete_on(
        &self,
        cb: Callback,
        channel: Channel,
        verifier: Option<Secret>,
    ) -> Result<Connection> {
        let hash = state_hash(&cb.state);
        let Some(flow) = self.store.with(|db| db.flow_by_state_hash(&hash))? else {
            tracing::warn!(
                state = callback::state_prefix(&cb.state),
                code = "oauth.state_mismatch",
                "callback for an unknown flow rejected"
            );
            return Err(Error::StateMismatch);
        };
        if Channel::of(flow.redirect_mode) != channel {
            tracing::warn!(flow = %flow.id, code = "oauth.wrong_channel", "callback on another channel refused");
            return Err(Error::WrongChannel {
                expected: flow.redirect_mode,
            });
        }
        if flow.status != FlowStatus::Pending {
            tracing::warn!(flow = %flow.id, code = "oauth.state_reused", "callback replayed");
            return Err(Error::StateReused);
        }
        let lock = self.flow_lock(&flow.id)?;
        lock.try_lock().map_err(|_| Error::StateReused)?;
        let claimed = self.store.transaction(|tx| {
            tx.transition_flow(&flow.id, FlowStatus::Pending, FlowStatus::Exchanging)
        })?;
        if !claimed {
            return Err(Error::StateReused);
        }
        crash_point("connect.claimed");
        if now_ms() > flow.expires_at {
            self.fail_flow(flow, Error::FlowExpired).await;
            return Err(Error::FlowExpired);
        }
        let result = self
            .finish(flow.clone(), cb.outcome, cb.issuer, verifier)
            .await;
        if let Err(e) = &result {
            self.fail_flow(flow, e.clone()).await;
        }
        drop(lock);
        result
    }

    async fn finish(
        &self,
        flow: PendingFlow,
        outcome: Outcome,
        issuer: Option<String>,
        verifier: Option<Secret>,
    ) -> Result<Connection> {
        let integration = self.integration(&flow.integration)?.clone();
        // RFC 9207: a response that names its issuer must name this
        // integration's, or it may come from another server the person was
        // sent to (a mix-up): nothing in it is used, no code is redeemed.
        if let (Some(got), Some(expected)) = (&issuer, &integration.issuer) {
            if !issuer_matches(expected, got) {
                tracing::warn!(flow = %flow.id, code = "oauth.issuer_mismatch", "callback from another issuer refused");
                return Err(Error::IssuerMismatch {
                    integration: integration.name.clone(),
                    expected: expected.clone(),
                    got: got.clone(),
                });
            }
        }
        let code = match outcome {
            Outcome::Code(code) => code,
            Outcome::Error { error, description } => {
                // Microsoft names an administrator's approval or a
                // multi-factor step by AADSTS code in the description.
                let why = oauth::grant_end(None, description.as_deref(), &[]);
                return Err(match error.as_str() {
                    _ if why != GrantEnd::Refused => Error::InvalidGrant { why, description },
                    "access_denied" => Error::AccessDenied { description },
                    "" => Error::MissingCode,
                    _ => Error::AuthorizationFailed { error, description },
                });
            }
        };
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
            return Err(Error::VerifierMissing);
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

        // The account's grant with this client, if Keyport holds one: a
        // sign-in for another integration of the account lands on it
        // (Google keeps one grant per account and client).
        let grant = self.store.with(|db| {
            db.grant_for_account(&integration.provider, &creds.client_id, &identity.subject)
        })?;
        // Which row the account lands in: the integration's row for the
        // account if there is one (on whatever grant it is: two grants of
        // one account made before grants were shared stay apart), else a
        // new row on the account's grant.
        let existing = self
            .store
            .with(|db| db.connection_by_account(&integration.id, &identity.subject))?;
        let (target, grant_id) = match flow.purpose {
            FlowPurpose::Connect => match &existing {
                Some(c) => (c.id.clone(), c.holder().to_string()),
                None => {
                    let target = flow.connection_id.clone();
                    let grant_id = grant.as_ref().map_or(target.clone(), |g| g.id.clone());
                    (target, grant_id)
                }
            },
            FlowPurpose::Reconnect | FlowPurpose::Grant => {
                let own = self
                    .store
                    .with(|db| db.connection(&flow.connection_id))?
                    .ok_or_else(|| Error::ConnectionNotFound(flow.connection_id.clone()))?;
                if own.subject.as_deref() != Some(identity.subject.as_str()) {
                    // Tokens for the wrong account are not kept anywhere, and
                    // revoked only when Keyport holds no grant of that
                    // account: revoking one token revokes the account's
                    // whole grant, and with it a working connection.
                    let held = self.store.with(|db| {
                        db.grants_of_account(&integration.provider, &identity.subject)
                    })?;
                    if held == 0 {
                        let stray = token_set(tokens, vec![], None);
                        let _ = self.revoke(&integration, &creds, &stray).await;
                    }
                    return Err(Error::WrongAccount {
                        got: identity.email.clone().unwrap_or(identity.subject.clone()),
                        expected: own.email.clone().unwrap_or_else(|| own.id.clone()),
                    });
                }
                let grant_id = own.holder().to_string();
                (own.id, grant_id)
            }
        };
        // The grant's lock until the sign-in is committed: no refresh writes
        // an older token over the new one, no disconnect removes the grant
        // under it.
        let _grant_lock = self.grant_lock(&grant_id).await?;
        let new_grant = self.store.with(|db| db.grant(&grant_id))?.is_none();
        let previous = if new_grant {
            None
        } else {
            // A keyring that fails here fails the sign-in: a guess would lose
            // the refresh token every integration on the grant shares.
            let g = grant_id.clone();
            self.secrets.run(move |s| s.get_tokens(&g)).await?
        };
        // Intent before the keyring write, so recovery knows what to undo.
        self.store.transaction(|tx| {
            tx.set_flow_target(&flow.id, &target)?;
            Ok(())
        })?;
        crash_point("connect.intent_recorded");
        let set = token_set(tokens, granted.clone(), previous.as_ref());
        let g = grant_id.clone();
        self.secrets.run(move |s| s.set_tokens(&g, &set)).await?;
        crash_point("connect.tokens_stored");

        let activation = Activation {
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            display_name: identity.name.clone(),
            requested_scopes: flow.requested_scopes.clone(),
            granted_scopes: granted.clone(),
            missing_scopes: missing.clone(),
            profile,
            redirect_mode: flow.redirect_mode,
            grant_id: grant_id.clone(),
        };
        // The other integrations on the grant share the new tokens: each
        // with its own missing scopes.
        let others = self.others_on_grant(&grant_id, &target, &granted)?;
        let committed = self.store.transaction(|tx| {
            if new_grant {
                tx.insert_grant(&grant_of(&grant_id, &integration, &creds, &identity))?;
            } else {
                if !tx.touch_grant(&grant_id, &creds.client_id, identity.email.as_deref())? {
                    return Err(Error::Interrupted);
                }
                tx.heal_grant(&grant_id, &granted, &others)?;
            }
            if target != flow.connection_id {
                tx.delete_connection(&flow.connection_id)?;
            }
            tx.activate(&target, &activation)?;
            if !missing.is_empty() {
                let e = Error::ScopesMissing(missing.clone());
                tx.set_last_error(&target, &e)?;
            }
            tx.finish_flow(&flow.id, FlowStatus::Completed, Some(&target), None)?;
            let kind = match (flow.purpose, existing.is_some()) {
                (FlowPurpose::Connect, false) => "connected",
                (FlowPurpose::Connect, true) => "reconnected",
                (FlowPurpose::Reconnect, _) => "reconnected",
                (FlowPurpose::Grant, _) => "scopes_granted",
            };
            tx.append_event(
                Some(&target),
                Some(&integration.id),
                kind,
                (!missing.is_empty()).then_some("oauth.scopes_missing"),
                Some(&describe_identity(&identity, &integration)),
            )
        });
        if let Err(e) = committed {
            // Tokens for a grant that never came to be must not linger.
            if new_grant {
                let g = grant_id.clone();
                let _ = self
                    .secrets
                    .run(move |s| s.delete(&SecretKey::Connection(g)))
                    .await;
            }
            return Err(e);
        }
        crash_point("connect.activated");
        self.clear_flow_secret(&flow.id).await;
        crash_point("connect.verifier_cleared");
        tracing::info!(flow = %flow.id, connection = %target, integration = %integration.id, "connection active");
        self.store
            .with(|db| db.connection(&target))?
            .ok_or(Error::ConnectionNotFound(target))
    }

    /// What every integration on `conn`'s grant asks for: a sign-in on the
    /// grant asks for all of it (begin_flow drops the repeats).
    fn scopes_on_grant(&self, conn: &Connection) -> Result<Vec<String>> {
        let Some(grant) = &conn.grant_id else {
            return Ok(Vec::new());
        };
        Ok(self
            .store
            .with(|db| db.connections_on_grant(grant))?
            .into_iter()
            .flat_map(|c| c.requested_scopes)
            .collect())
    }

    /// The grant's other integrations (all but `except`), each with what it
    /// lacks of `granted`: what [`Db::heal_grant`](crate::store::Db::heal_grant)
    /// takes after a sign-in.
    pub(super) fn others_on_grant(
        &self,
        grant_id: &str,
        except: &str,
        granted: &[String],
    ) -> Result<Vec<(String, Vec<String>)>> {
        Ok(self
            .store
            .with(|db| db.connections_on_grant(grant_id))?
            .into_iter()
            .filter(|c| c.id != except)
            .map(|c| {
                let missing = self
                    .integration(&c.integration)
                    .map(|i| missing_scopes(i, &c.requested_scopes, granted))
                    .unwrap_or_default();
                (c.id, missing)
            })
            .collect())
    }

    /// Records a failed flow: the flow turns `failed`, with its error for
    /// whoever waits on it; a first sign-in's row goes (no account, nothing
    /// to show).
    pub(super) async fn fail_flow(&self, flow: PendingFlow, e: Error) {
        tracing::warn!(flow = %flow.id, connection = %flow.connection_id, code = e.code(), "sign-in failed: {e}");
        let res = self.store.transaction(|tx| {
            tx.finish_flow(&flow.id, FlowStatus::Failed, None, Some(&e))?;
            if flow.purpose == FlowPurpose::Connect {
                tx.forget_initiated_connection(&flow.connection_id)?;
            }
            tx.append_event(
                Some(&flow.connection_id),
                Some(&flow.integration),
                "failed",
                Some(e.code()),
                Some(&e.to_string()),
            )
        });
        if let Err(db) = res {
            tracing::error!(flow = %flow.id, "could not record the failure: {db}");
        }
        self.clear_flow_secret(&flow.id).await;
    }

    /// Deletes a flow's verifier from the keyring (once); true when it is gone.
    pub(super) async fn clear_flow_secret(&self, flow_id: &str) -> bool {
        if self
            .store
            .with(|db| db.flow_secret_cleared(flow_id))
            .unwrap_or(false)
        {
            return true;
        }
        let key = SecretKey::FlowVerifier(flow_id.to_string());
        self.secrets.run(move |s| s.delete(&key)).await.is_ok()
            && self
                .store
                .with(|db| db.mark_flow_secret_cleared(flow_id))
                .is_ok()
    }

    pub(super) fn flow_lock(&self, flow_id: &str) -> Result<File> {
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
        let flow = self
            .store
            .with(|db| db.flow(flow_id))?
            .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))?;
        let took = self.store.transaction(|tx| {
            tx.transition_flow(flow_id, FlowStatus::Pending, FlowStatus::Exchanging)
        })?;
        if took {
            self.fail_flow(flow, Error::Cancelled).await;
        }
        Ok(())
    }

    /// Waits until the sign-in ends and returns its connection: in loopback
    /// mode by serving the redirect (the verifier never leaves this process),
    /// otherwise by following the flow in the database, where any process
    /// may complete it. `timeout` or `cancel` cancels the flow.
    pub async fn await_flow(
        &self,
        sign_in: SignIn,
        timeout: Duration,
        cancel: Arc<Notify>,
    ) -> Result<Connection> {
        let SignIn {
            initiated,
            state,
            loopback,
        } = sign_in;
        let flow_id = initiated.flow_id;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let stopped = match loopback {
            Some(Loopback { listener, verifier }) => {
                // Only the wait races the deadline: a completion once begun
                // runs to its end.
                tokio::select! {
                    (cb, reply) = listener.next_callback(state.expose()) => {
                        let result = self.complete_on(cb, Channel::Loopback, verifier).await;
                        reply.send(&result).await;
                        return result;
                    }
                    _ = &mut deadline => Error::Timeout,
                    _ = cancel.notified() => Error::Cancelled,
                }
            }
            None => tokio::select! {
                r = self.flow_result(&flow_id) => return r,
                _ = &mut deadline => Error::Timeout,
                _ = cancel.notified() => Error::Cancelled,
            },
        };
        self.cancel(&flow_id).await.ok();
        Err(stopped)
    }

    /// Polls the database until the flow has ended.
    async fn flow_result(&self, flow_id: &str) -> Result<Connection> {
        loop {
            let flow = self
                .store
                .with(|db| db.flow(flow_id))?
                .ok_or_else(|| Error::FlowNotFound(flow_id.to_string()))?;
            match flow.status {
                FlowStatus::Completed => {
                    let id = flow.result_connection_id.unwrap_or(flow.connection_id);
                    return self
                        .store
                        .with(|db| db.connection(&id))?
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
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub(super) fn token_set(
    tokens: Tokens,
    granted: Vec<String>,
    previous: Option<&TokenSet>,
) -> TokenSet {
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
        signed_in_at: Some(now),
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

/// The grant a first sign-in of `identity` with `creds` makes.
pub(super) fn grant_of(
    id: &str,
    integration: &Integration,
    creds: &ClientCredentials,
    identity: &Identity,
) -> Grant {
    Grant::new(
        id,
        &integration.provider,
        &creds.client_id,
        &identity.subject,
        identity.email.as_deref(),
    )
}

/// Whether `got` is the issuer `expected` names; Microsoft's
/// multi-tenant issuer holds a `{tenantid}` that stands for one tenant id.
fn issuer_matches(expected: &str, got: &str) -> bool {
    match expected.split_once("{tenantid}") {
        None => expected == got,
        Some((before, after)) => got
            .strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .is_some_and(|tenant| {
                !tenant.is_empty()
                    && tenant
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            }),
    }
}

pub(super) fn describe_identity(identity: &Identity, integration: &Integration) -> String {
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
        Some("oauth.access_denied") => Error::AccessDenied { description: None },
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
    use crate::catalog::Catalog;

    #[test]
    fn an_issuer_matches_exactly_or_by_its_tenant() {
        let google = "https://accounts.google.com";
        assert!(issuer_matches(google, google));
        assert!(!issuer_matches(google, "https://accounts.google.com.evil"));
        assert!(!issuer_matches(google, "https://evil.example"));
        let ms = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert!(issuer_matches(
            ms,
            "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
        ));
        assert!(!issuer_matches(
            ms,
            "https://login.microsoftonline.com//v2.0"
        ));
        assert!(!issuer_matches(
            ms,
            "https://login.microsoftonline.com/a/b/v2.0"
        ));
        assert!(!issuer_matches(ms, "https://evil.example/x/v2.0"));
    }

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
}
