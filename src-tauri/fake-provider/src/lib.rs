//! A fake OAuth 2.0 authorization server plus the bits of the Gmail API that
//! Keyport calls, behaving like Google's endpoints closely enough to test the
//! app against: PKCE (S256) and redirect-URI checks, consent approve / deny,
//! partial grants, several accounts, refresh, revocation, optional
//! refresh-token rotation (Microsoft-like) and injectable faults.
//!
//! A dev crate: the integration tests and the benchmark use it as a library,
//! and its `fake-provider` binary serves it for the demo. [`FakeProvider::start`] binds 127.0.0.1 and runs
//! the server on its own thread with its own tokio runtime, so both sync and
//! async tests can use it; dropping the [`FakeProvider`] stops the server.
//!
//! Endpoints (all relative to [`FakeProvider::base_url`]):
//! `GET /authorize`, `POST /token`, `POST|GET /revoke`, `GET /userinfo`,
//! `GET /gmail/v1/users/{me|email}/profile`, `GET /`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Scopes any one of which lets a token list the calendars.
pub const CALENDAR_SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.events",
];

/// Scopes any one of which lets a token read `users/me/profile`.
pub const GMAIL_PROFILE_SCOPES: [&str; 4] = [
    "https://mail.google.com/",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.metadata",
];
const USERINFO_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
const USERINFO_PROFILE: &str = "https://www.googleapis.com/auth/userinfo.profile";
/// Size of the body sent by [`Fault::Huge`].
pub const HUGE_BODY_BYTES: usize = 20 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Public configuration and switches
// ---------------------------------------------------------------------------

/// A provider account the consent page can "sign in" as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub sub: String,
    pub email: String,
    pub name: String,
    pub messages_total: u64,
}

impl Account {
    pub fn new(sub: &str, email: &str, name: &str, messages_total: u64) -> Self {
        Account {
            sub: sub.to_string(),
            email: email.to_string(),
            name: name.to_string(),
            messages_total,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// 0 = pick a free port. The server always binds 127.0.0.1.
    pub port: u16,
    pub client_id: String,
    pub client_secret: String,
    /// Like Google "Desktop app" clients: /token wants the secret.
    pub require_client_secret: bool,
    /// Microsoft-like: every refresh returns a new refresh token and the old
    /// one stops working at once (no grace period).
    pub rotate_refresh_tokens: bool,
    /// When a rotated-out refresh token is presented again, revoke the whole
    /// grant (refresh-token reuse detection). Only matters with rotation.
    pub revoke_family_on_reuse: bool,
    /// Microsoft-like rotation: the refresh token a refresh replaces keeps
    /// working (Microsoft does not revoke it). Only matters with rotation.
    pub rotated_out_stays_valid: bool,
    /// Google-like: the authorization response names its issuer (RFC 9207
    /// `iss`, the base URL). Microsoft sends none. On by default.
    pub authorization_iss: bool,
    /// Google-like: one grant per account and client. Every sign-in of the
    /// account joins it (its scopes add up), revoking any of its tokens
    /// revokes all of them, and it keeps at most [`MAX_REFRESH_TOKENS`]
    /// refresh tokens: the next one silently invalidates the oldest. On by
    /// default; off, each sign-in that yields a refresh token is a grant of
    /// its own.
    pub google_grants: bool,
    /// Google's "Testing" publishing status: refresh tokens stop working 7
    /// days after they were issued (see [`FakeProvider::advance_clock`]).
    pub testing_status: bool,
    /// Access tokens of exactly this many characters (Microsoft's are JWTs
    /// of 1.5–3 KB); 0 = Google-sized.
    pub access_token_chars: usize,
    pub access_token_lifetime_secs: u64,
    pub code_lifetime_secs: u64,
    /// Google-strict: only return a refresh token when /authorize had
    /// `access_type=offline`. Off by default.
    pub require_offline_access: bool,
    /// Google-like: the code exchange returns a refresh token only when the
    /// consent screen was shown — the account's first grant to this client,
    /// or `prompt=consent`. A repeat sign-in without it gets none. Off by
    /// default (every exchange returns one).
    pub refresh_token_only_on_consent: bool,
    /// Microsoft-like: the code exchange returns a refresh token only when
    /// the `offline_access` scope was asked for. Off by default.
    pub refresh_token_needs_offline_access_scope: bool,
    /// The client's registered redirect URIs. When not empty, an https or
    /// `dev.keyport:` redirect_uri must be one of them exactly (loopback
    /// `http://127.0.0.1` / `[::1]` URIs may use any port, RFC 8252 §7.3).
    /// Empty: any https host and any `dev.keyport:` URI are accepted.
    pub redirect_uris: Vec<String>,
    /// Google-like: grant `email`/`profile` as
    /// `https://www.googleapis.com/auth/userinfo.email`/`.profile` (that is
    /// what Google's token response says). Off by default.
    pub expand_scope_aliases: bool,
    pub accounts: Vec<Account>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            // Shaped like a Google Desktop client id, as Keyport checks.
            client_id: "1234567890-keyporttest.apps.googleusercontent.com".to_string(),
            client_secret: format!("fake-secret-{}", hex(&random_bytes(16))),
            require_client_secret: true,
            rotate_refresh_tokens: false,
            revoke_family_on_reuse: true,
            rotated_out_stays_valid: false,
            google_grants: true,
            authorization_iss: true,
            testing_status: false,
            access_token_chars: 0,
            access_token_lifetime_secs: 3600,
            code_lifetime_secs: 60,
            require_offline_access: false,
            refresh_token_only_on_consent: false,
            refresh_token_needs_offline_access_scope: false,
            redirect_uris: Vec::new(),
            expand_scope_aliases: false,
            accounts: vec![
                Account::new("1001", "ana@firm.example", "Ana Example", 1234),
                Account::new("1002", "bo@firm.example", "Bo Example", 42),
            ],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Approve,
    Deny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Authorize,
    Token,
    Revoke,
    Userinfo,
    GmailProfile,
    GmailMessages,
    CalendarList,
    Introspect,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Authorize => "/authorize",
            Endpoint::Token => "/token",
            Endpoint::Revoke => "/revoke",
            Endpoint::Userinfo => "/userinfo",
            Endpoint::GmailProfile => "/gmail/v1/users/me/profile",
            Endpoint::GmailMessages => "/gmail/v1/users/me/messages",
            Endpoint::CalendarList => "/calendar/v3/users/me/calendarList",
            Endpoint::Introspect => "/introspect",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a JSON error body.
    Status(u16),
    /// Sleep, then answer normally.
    Slow(Duration),
    /// 200 with a truncated, non-JSON body: `{"access_token": `.
    Malformed,
    /// 429 with a `Retry-After: <secs>` header.
    RateLimited { retry_after_secs: u64 },
    /// 400 `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`.
    InvalidGrant,
    /// Google's refusal when the organisation's session control wants a
    /// fresh sign-in: 400 `invalid_grant` with `error_subtype: invalid_rapt`.
    InvalidRapt,
    /// Microsoft's refusal with this AADSTS code: 400 `invalid_grant` with
    /// `error_codes: [code]` and a description starting `AADSTS<code>:`.
    Aadsts(u32),
    /// 400 `{"error":"invalid_token"}`: RFC 7009's answer for a token the
    /// provider no longer knows.
    InvalidToken,
    /// 200 with a [`HUGE_BODY_BYTES`] (20 MiB) JSON body.
    Huge,
    /// Answer with this 3xx status and a `Location` pointing at the same
    /// endpoint with `?redirected=1` (which would answer normally: a client
    /// that follows it succeeds). Requests arriving there are counted by
    /// [`FakeProvider::redirected_requests`].
    Redirect(u16),
    /// /token only: the normal reply, padded (a JSON `padding` field) to
    /// exactly this many bytes and sent chunked, without Content-Length.
    Chunked(usize),
    /// Drop the TCP connection without answering. Implemented below the HTTP
    /// layer: the connection's socket is switched to "killed" (SO_LINGER 0),
    /// so hyper's write of the response fails and the socket is closed with
    /// a RST; the client sees a reset / incomplete message.
    Reset,
}

// ---------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------

struct ArmedFault {
    fault: Fault,
    /// None = persistent.
    remaining: Option<usize>,
}

struct CodeRec {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    account: usize,
    scopes: Vec<String>,
    /// Whether the exchange may return a refresh token (see [`Config`]).
    offline: bool,
    expires_at: Instant,
    used: bool,
    /// The grant created when the code was redeemed (revoked on replay).
    grant: Option<usize>,
}

struct GrantRec {
    client_id: String,
    account: usize,
    scopes: Vec<String>,
    revoked: bool,
}

struct RefreshRec {
    grant: usize,
    /// false once rotated out.
    active: bool,
    /// On the provider's clock (see [`FakeProvider::advance_clock`]).
    issued_at: Instant,
}

struct AccessRec {
    grant: usize,
    scopes: Vec<String>,
    expires_at: Instant,
}

struct Inner {
    consent: Consent,
    partial_drop: Option<Vec<String>>,
    current_account: usize,
    faults: HashMap<Endpoint, ArmedFault>,
    codes: HashMap<String, CodeRec>,
    grants: Vec<GrantRec>,
    refresh: HashMap<String, RefreshRec>,
    access: HashMap<String, AccessRec>,
    /// Scopes granted so far per (client_id, account), for
    /// include_granted_scopes.
    prior: HashMap<(String, usize), Vec<String>>,
    issued: Vec<String>,
    /// PKCE verifiers the client sent to /token.
    verifiers_seen: Vec<String>,
    token_counts: HashMap<String, usize>,
    /// /token refresh requests being answered right now, and the most ever.
    refreshes_in_flight: usize,
    max_refreshes_in_flight: usize,
    /// While set, /token refresh requests wait before they are answered.
    hold_refreshes: bool,
    redirected_requests: usize,
    endpoint_counts: HashMap<Endpoint, usize>,
    revocations: Vec<String>,
    authorize_requests: Vec<HashMap<String, String>>,
    /// How far the provider's clock is ahead of the real one.
    clock_ahead: Duration,
    /// The `iss` the authorization response names instead of the base URL.
    iss_instead: Option<String>,
}

struct Shared {
    config: Config,
    base_url: String,
    inner: Mutex<Inner>,
}

/// A running fake provider. Dropping it stops the server.
pub struct FakeProvider {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeProvider {
    /// Binds 127.0.0.1:`config.port` (0 = any free port) and serves on a
    /// background thread with its own tokio runtime. Usable from sync code
    /// and from inside a tokio runtime alike. Panics if it cannot bind.
    pub fn start(config: Config) -> FakeProvider {
        assert!(
            !config.accounts.is_empty(),
            "fake provider needs at least one account"
        );
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", config.port))
            .expect("fake provider: bind 127.0.0.1");
        std_listener
            .set_nonblocking(true)
            .expect("fake provider: set_nonblocking");
        let addr = std_listener
            .local_addr()
            .expect("fake provider: local_addr");
        let base_url = format!("http://{addr}");
        let issued = vec![config.client_secret.clone()];
        let shared = Arc::new(Shared {
            config,
            base_url,
            inner: Mutex::new(Inner {
                consent: Consent::Approve,
                partial_drop: None,
                current_account: 0,
                faults: HashMap::new(),
                codes: HashMap::new(),
                grants: Vec::new(),
                refresh: HashMap::new(),
                access: HashMap::new(),
                prior: HashMap::new(),
                issued,
                verifiers_seen: Vec::new(),
                token_counts: HashMap::new(),
                refreshes_in_flight: 0,
                max_refreshes_in_flight: 0,
                hold_refreshes: false,
                redirected_requests: 0,
                endpoint_counts: HashMap::new(),
                revocations: Vec::new(),
                authorize_requests: Vec::new(),
                clock_ahead: Duration::ZERO,
                iss_instead: None,
            }),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("fake-provider-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake provider: tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(std_listener)
                        .expect("fake provider: tokio listener");
                    let server = axum::serve(
                        KillListener(listener),
                        app.into_make_service_with_connect_info::<ConnCtl>(),
                    );
                    tokio::select! {
                        _ = std::future::IntoFuture::into_future(server) => {}
                        _ = rx => {}
                    }
                });
                // Dropping the runtime cancels connection tasks (slow handlers too).
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("fake provider: spawn thread");
        FakeProvider {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Full URL of an endpoint, e.g. `http://127.0.0.1:PORT/token`.
    pub fn url(&self, endpoint: Endpoint) -> String {
        format!("{}{}", self.shared.base_url, endpoint.path())
    }
    pub fn config(&self) -> &Config {
        &self.shared.config
    }
    pub fn client_id(&self) -> String {
        self.shared.config.client_id.clone()
    }
    pub fn client_secret(&self) -> String {
        self.shared.config.client_secret.clone()
    }

    // -- runtime switches ---------------------------------------------------

    pub fn set_consent(&self, consent: Consent) {
        self.shared.lock().consent = consent;
    }
    /// Scopes to drop from every grant from now on (like unticking Google's
    /// per-scope checkboxes). `None` grants everything requested.
    pub fn set_partial_grant(&self, drop_scopes: Option<Vec<String>>) {
        self.shared.lock().partial_drop = drop_scopes;
    }
    /// The account the consent page signs in as when there is no matching
    /// `login_hint`. Panics on an unknown email.
    pub fn set_account(&self, email: &str) {
        let idx = self.shared.account_index(email);
        self.shared.lock().current_account = idx;
    }
    /// `Some(fault)`: every request to `endpoint` gets it until cleared.
    /// `None`: clear.
    /// Moves the provider's clock forward (refresh-token lifetimes).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.lock().clock_ahead += by;
    }

    /// Makes authorization responses name `iss` as their issuer (a mix-up:
    /// another server answering).
    pub fn send_iss_as(&self, iss: &str) {
        self.shared.lock().iss_instead = Some(iss.to_string());
    }

    pub fn set_fault(&self, endpoint: Endpoint, fault: Option<Fault>) {
        let mut inner = self.shared.lock();
        match fault {
            Some(fault) => {
                inner.faults.insert(
                    endpoint,
                    ArmedFault {
                        fault,
                        remaining: None,
                    },
                );
            }
            None => {
                inner.faults.remove(&endpoint);
            }
        }
    }
    /// The next `times` requests to `endpoint` get `fault`, then it clears.
    pub fn set_fault_times(&self, endpoint: Endpoint, fault: Fault, times: usize) {
        let mut inner = self.shared.lock();
        if times == 0 {
            inner.faults.remove(&endpoint);
        } else {
            inner.faults.insert(
                endpoint,
                ArmedFault {
                    fault,
                    remaining: Some(times),
                },
            );
        }
    }
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// The user removes the app's access at the provider: every grant of the
    /// account is revoked (refresh → invalid_grant, API calls → 401) and
    /// include_granted_scopes starts from nothing again.
    pub fn revoke_all_for(&self, email: &str) {
        let idx = self.shared.account_index(email);
        let mut inner = self.shared.lock();
        for g in inner.grants.iter_mut().filter(|g| g.account == idx) {
            g.revoked = true;
        }
        inner.prior.retain(|(_, a), _| *a != idx);
    }
    /// The user unticks one scope later: refreshes no longer include it and
    /// existing access tokens lose it at once.
    pub fn remove_granted_scope(&self, email: &str, scope: &str) {
        let idx = self.shared.account_index(email);
        let mut inner = self.shared.lock();
        for g in inner.grants.iter_mut().filter(|g| g.account == idx) {
            g.scopes.retain(|s| s != scope);
        }
        for (_, scopes) in inner.prior.iter_mut().filter(|((_, a), _)| *a == idx) {
            scopes.retain(|s| s != scope);
        }
    }
    /// Every access token issued so far counts as expired from now on.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for rec in self.shared.lock().access.values_mut() {
            rec.expires_at = now;
        }
    }

    // -- introspection --------------------------------------------------------

    /// Every access token, refresh token, authorization code and id_token
    /// issued, the client secret, and every PKCE verifier the client sent.
    /// Not cleared by [`Self::reset_counts`].
    pub fn issued_secrets(&self) -> Vec<String> {
        let inner = self.shared.lock();
        let mut all = inner.issued.clone();
        all.extend(inner.verifiers_seen.iter().cloned());
        all
    }
    /// The most /token refresh requests that were being answered at once.
    pub fn max_refreshes_in_flight(&self) -> usize {
        self.shared.lock().max_refreshes_in_flight
    }
    /// /token refresh requests being answered right now.
    pub fn refreshes_in_flight(&self) -> usize {
        self.shared.lock().refreshes_in_flight
    }
    /// From now on /token refresh requests wait (at most a minute) until
    /// [`Self::release_refreshes`]: they stay in flight together.
    pub fn hold_refreshes(&self) {
        self.shared.lock().hold_refreshes = true;
    }
    pub fn release_refreshes(&self) {
        self.shared.lock().hold_refreshes = false;
    }
    /// Requests that arrived at the target of a [`Fault::Redirect`].
    pub fn redirected_requests(&self) -> usize {
        self.shared.lock().redirected_requests
    }
    /// Number of /token requests with this `grant_type` (e.g.
    /// "authorization_code", "refresh_token"), counted before faults and
    /// validation, so failed and faulted attempts count too.
    pub fn token_requests(&self, grant_type: &str) -> usize {
        self.shared
            .lock()
            .token_counts
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }
    /// Number of requests that reached `endpoint` (faulted ones included).
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        self.shared
            .lock()
            .endpoint_counts
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }
    /// Tokens successfully revoked through /revoke, in order.
    pub fn revocations(&self) -> Vec<String> {
        self.shared.lock().revocations.clone()
    }
    /// Query parameters of every /authorize request (last value wins for a
    /// repeated name).
    pub fn authorize_requests(&self) -> Vec<HashMap<String, String>> {
        self.shared.lock().authorize_requests.clone()
    }
    /// Clears request counters (the refreshes-in-flight peak too),
    /// revocations and recorded /authorize requests (not tokens, grants,
    /// faults or issued secrets).
    pub fn reset_counts(&self) {
        let mut inner = self.shared.lock();
        inner.token_counts.clear();
        inner.endpoint_counts.clear();
        inner.revocations.clear();
        inner.authorize_requests.clear();
        inner.max_refreshes_in_flight = inner.refreshes_in_flight;
        inner.redirected_requests = 0;
    }
    /// Grants (one per successful code exchange) of this account that are
    /// not revoked.
    pub fn active_grants(&self, email: &str) -> usize {
        let idx = self.shared.account_index(email);
        self.shared
            .lock()
            .grants
            .iter()
            .filter(|g| g.account == idx && !g.revoked)
            .count()
    }
    /// Live refresh tokens of the account's grants.
    pub fn live_refresh_tokens(&self, email: &str) -> usize {
        let idx = self.shared.account_index(email);
        let inner = self.shared.lock();
        inner
            .refresh
            .values()
            .filter(|r| {
                r.active && inner.grants[r.grant].account == idx && !inner.grants[r.grant].revoked
            })
            .count()
    }

    /// A refresh token the account granted `scopes` with earlier (as one a
    /// database from an earlier Keyport would hold in the keyring).
    pub fn issue_refresh_token(&self, email: &str, scopes: &[&str]) -> String {
        let account = self.shared.account_index(email);
        let client_id = self.shared.config.client_id.clone();
        let mut inner = self.shared.lock();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let live = inner
            .grants
            .iter()
            .rposition(|g| g.account == account && g.client_id == client_id && !g.revoked)
            .filter(|_| self.shared.config.google_grants);
        let grant = match live {
            Some(g) => {
                for s in &scopes {
                    if !inner.grants[g].scopes.contains(s) {
                        inner.grants[g].scopes.push(s.clone());
                    }
                }
                g
            }
            None => {
                inner.grants.push(GrantRec {
                    client_id: client_id.clone(),
                    account,
                    scopes: scopes.clone(),
                    revoked: false,
                });
                inner.grants.len() - 1
            }
        };
        let prior = inner.prior.entry((client_id, account)).or_default();
        for s in &scopes {
            if !prior.contains(s) {
                prior.push(s.clone());
            }
        }
        let (_, body) = self.shared.issue(&mut inner, grant, scopes, true);
        body["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_string()
    }

    /// Whether this access token would be accepted by the APIs right now.
    pub fn access_token_valid(&self, token: &str) -> bool {
        self.shared.lock().check_access(token).is_some()
    }

    /// What a browser would see for this authorization URL, without HTTP:
    /// `Ok(location)` for a redirect (success or an OAuth error sent back to
    /// the client), `Err((status, html))` for an error page. Only the query
    /// of `auth_url` is used. The request is recorded like an HTTP one;
    /// faults are NOT applied.
    pub fn follow_authorize(&self, auth_url: &str) -> Result<String, (u16, String)> {
        let query = auth_url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let query = query.split('#').next().unwrap_or("");
        let pairs = pairs_of(query.as_bytes());
        self.shared.record_authorize(&pairs);
        match self.shared.authorize(&pairs) {
            AuthOutcome::Redirect(loc) => Ok(loc),
            AuthOutcome::Page(status, html) => Err((status, html)),
        }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Protocol logic (sync, under the mutex)
// ---------------------------------------------------------------------------

enum AuthOutcome {
    Redirect(String),
    Page(u16, String),
}

type JsonReply = (StatusCode, Value);

fn oauth_error(status: StatusCode, error: &str, description: &str) -> JsonReply {
    (
        status,
        json!({ "error": error, "error_description": description }),
    )
}

/// Google's limit of refresh tokens per account and client.
pub const MAX_REFRESH_TOKENS: usize = 100;

/// Google's lifetime for refresh tokens of clients in "Testing" status.
pub const TESTING_REFRESH_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The start of Microsoft's wording for the AADSTS codes Keyport tells apart.
fn aadsts_text(code: u32) -> &'static str {
    match code {
        700082 => "The refresh token has expired due to inactivity.",
        70008 => "The provided authorization code or refresh token has expired due to inactivity.",
        50173 => "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
        50076 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access this resource.",
        50079 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access this resource.",
        90094 => "Admin consent is required for the permissions requested by this application.",
        _ => "The request failed.",
    }
}

fn invalid_grant(description: &str) -> JsonReply {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test must not poison the fixture for the server thread.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn account_index(&self, email: &str) -> usize {
        self.config
            .accounts
            .iter()
            .position(|a| a.email.eq_ignore_ascii_case(email))
            .unwrap_or_else(|| panic!("fake provider: no account {email:?}"))
    }

    fn count(&self, endpoint: Endpoint) {
        *self.lock().endpoint_counts.entry(endpoint).or_insert(0) += 1;
    }

    fn take_fault(&self, endpoint: Endpoint) -> Option<Fault> {
        let mut inner = self.lock();
        let armed = inner.faults.get_mut(&endpoint)?;
        let fault = armed.fault.clone();
        if let Some(n) = armed.remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                inner.faults.remove(&endpoint);
            }
        }
        Some(fault)
    }

    fn record_authorize(&self, pairs: &[(String, String)]) {
        let map: HashMap<String, String> = pairs.iter().cloned().collect();
        let mut inner = self.lock();
        inner.authorize_requests.push(map);
        *inner
            .endpoint_counts
            .entry(Endpoint::Authorize)
            .or_insert(0) += 1;
    }

    fn authorize(&self, pairs: &[(String, String)]) -> AuthOutcome {
        let param = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let client_id = param("client_id").unwrap_or("");
        if client_id != self.config.client_id {
            return AuthOutcome::Page(
                400,
                error_page(
                    "Error 400: invalid_client",
                    &format!("The OAuth client was not found. (client_id={client_id:?})"),
                ),
            );
        }
        let Some(redirect_uri) = param("redirect_uri") else {
            return AuthOutcome::Page(
                400,
                error_page(
                    "Error 400: invalid_request",
                    "Missing required parameter: redirect_uri",
                ),
            );
        };
        let Some(redirect) = acceptable_redirect(redirect_uri, &self.config.redirect_uris) else {
            return AuthOutcome::Page(
                400,
                error_page(
                    "Error 400: redirect_uri_mismatch",
                    &format!("The redirect URI {redirect_uri:?} is not allowed for this client."),
                ),
            );
        };
        let state = param("state");
        let iss = self
            .lock()
            .iss_instead
            .clone()
            .unwrap_or_else(|| self.base_url.clone());
        let bounce = |extra: &[(&str, &str)]| {
            let mut url = redirect.clone();
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in extra {
                    q.append_pair(k, v);
                }
                if let Some(s) = state {
                    q.append_pair("state", s);
                }
                if self.config.authorization_iss {
                    q.append_pair("iss", &iss);
                }
            }
            AuthOutcome::Redirect(url.to_string())
        };
        let bounce_err = |error: &str, description: &str| {
            bounce(&[("error", error), ("error_description", description)])
        };
        if param("response_type") != Some("code") {
            return bounce_err(
                "unsupported_response_type",
                "Only response_type=code is supported.",
            );
        }
        let requested = split_scopes(param("scope").unwrap_or(""));
        if requested.is_empty() {
            return bounce_err("invalid_request", "Missing required parameter: scope");
        }
        let Some(challenge) = param("code_challenge") else {
            return bounce_err(
                "invalid_request",
                "Missing required parameter: code_challenge",
            );
        };
        if param("code_challenge_method") != Some("S256") {
            return bounce_err(
                "invalid_request",
                "Invalid code_challenge_method: only S256 is allowed.",
            );
        }
        if challenge.len() != 43 || !challenge.bytes().all(is_b64url_byte) {
            return bounce_err("invalid_request", "Invalid code_challenge.");
        }

        let mut inner = self.lock();
        let account = param("login_hint")
            .and_then(|hint| {
                self.config
                    .accounts
                    .iter()
                    .position(|a| a.email.eq_ignore_ascii_case(hint))
            })
            .unwrap_or(inner.current_account);
        let key = (client_id.to_string(), account);
        if param("prompt") == Some("none") && !inner.prior.contains_key(&key) {
            return bounce_err("consent_required", "The user has not granted access yet.");
        }
        if inner.consent == Consent::Deny {
            return bounce(&[("error", "access_denied")]);
        }
        let mut granted: Vec<String> = requested
            .into_iter()
            .filter(|s| {
                !inner
                    .partial_drop
                    .as_ref()
                    .is_some_and(|drop| drop.contains(s))
            })
            .map(|s| self.alias(s))
            .collect();
        if param("include_granted_scopes") == Some("true") {
            if let Some(prev) = inner.prior.get(&key) {
                for s in prev {
                    if !granted.contains(s) {
                        granted.push(s.clone());
                    }
                }
            }
        }
        dedupe(&mut granted);
        // Whether this consent may yield a refresh token (see Config).
        let first_consent = !inner.prior.contains_key(&key);
        let offline = (param("access_type") == Some("offline")
            || !self.config.require_offline_access)
            && (first_consent
                || param("prompt") == Some("consent")
                || !self.config.refresh_token_only_on_consent)
            && (split_scopes(param("scope").unwrap_or("")).contains(&"offline_access".to_string())
                || !self.config.refresh_token_needs_offline_access_scope);
        let prior = inner.prior.entry(key).or_default();
        for s in &granted {
            if !prior.contains(s) {
                prior.push(s.clone());
            }
        }
        let code = format!("4/0A{}", random_b64(33));
        inner.issued.push(code.clone());
        inner.codes.insert(
            code.clone(),
            CodeRec {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                challenge: challenge.to_string(),
                account,
                scopes: granted.clone(),
                offline,
                expires_at: Instant::now() + Duration::from_secs(self.config.code_lifetime_secs),
                used: false,
                grant: None,
            },
        );
        drop(inner);
        bounce(&[("code", &code), ("scope", &granted.join(" "))])
    }

    fn alias(&self, scope: String) -> String {
        if !self.config.expand_scope_aliases {
            return scope;
        }
        match scope.as_str() {
            "email" => USERINFO_EMAIL.to_string(),
            "profile" => USERINFO_PROFILE.to_string(),
            _ => scope,
        }
    }

    /// Client authentication per RFC 6749 §2.3.1 (Basic or body).
    fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<(), JsonReply> {
        let unauthorized = |d: &str| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", d);
        let basic = match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let value = value.to_str().map_err(|_| unauthorized("Bad header."))?;
                let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(unauthorized("Unsupported authorization scheme."));
                }
                let decoded = STANDARD
                    .decode(rest.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| unauthorized("Malformed Basic credentials."))?;
                let (id, secret) = decoded
                    .split_once(':')
                    .ok_or_else(|| unauthorized("Malformed Basic credentials."))?;
                let id = form_decode(id).ok_or_else(|| unauthorized("Bad encoding."))?;
                let secret = form_decode(secret).ok_or_else(|| unauthorized("Bad encoding."))?;
                Some((id, secret))
            }
        };
        let body_id = form.get("client_id").cloned();
        let body_secret = form.get("client_secret").cloned();
        let (client_id, secret) = match basic {
            Some((id, secret)) => {
                if body_secret.is_some() {
                    return Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "Client credentials sent both in the header and the body.",
                    ));
                }
                if body_id.as_ref().is_some_and(|b| *b != id) {
                    return Err(unauthorized("client_id in the body differs from Basic."));
                }
                (Some(id), Some(secret))
            }
            None => (body_id, body_secret),
        };
        match client_id {
            Some(id) if id == self.config.client_id => {}
            Some(_) => return Err(unauthorized("The OAuth client was not found.")),
            None => {
                return Err(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Could not determine client ID from request.",
                ))
            }
        }
        match secret {
            Some(s) if s == self.config.client_secret => Ok(()),
            Some(_) => Err(unauthorized("Unauthorized")),
            None if self.config.require_client_secret => Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client_secret is missing.",
            )),
            None => Ok(()),
        }
    }

    fn token(
        &self,
        headers: &HeaderMap,
        form: Result<HashMap<String, String>, String>,
    ) -> JsonReply {
        let form = match form {
            Ok(f) => f,
            Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
        };
        if let Err(reply) = self.authenticate_client(headers, &form) {
            return reply;
        }
        match form.get("grant_type").map(String::as_str) {
            None => oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            ),
            Some("authorization_code") => self.exchange_code(&form),
            Some("refresh_token") => self.refresh(&form),
            Some(other) => oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            ),
        }
    }

    fn exchange_code(&self, form: &HashMap<String, String>) -> JsonReply {
        let Some(code) = form.get("code") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: code",
            );
        };
        let mut inner = self.lock();
        if let Some(verifier) = form.get("code_verifier") {
            inner.verifiers_seen.push(verifier.clone());
        }
        let Some(rec) = inner.codes.get_mut(code) else {
            return invalid_grant("Malformed auth code.");
        };
        if rec.used {
            // Like Google: a replayed code also revokes what it produced.
            let grant = rec.grant;
            if let Some(g) = grant {
                inner.grants[g].revoked = true;
            }
            return invalid_grant("Code was already redeemed.");
        }
        // Any redemption attempt consumes the code.
        rec.used = true;
        if Instant::now() >= rec.expires_at {
            return invalid_grant("Code has expired.");
        }
        if rec.client_id != self.config.client_id {
            return invalid_grant("Code was issued to another client.");
        }
        if form.get("redirect_uri") != Some(&rec.redirect_uri) {
            return invalid_grant("redirect_uri does not match the authorization request.");
        }
        let Some(verifier) = form.get("code_verifier") else {
            return invalid_grant("Missing code verifier.");
        };
        let verifier_ok = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == rec.challenge;
        if !verifier_ok {
            return invalid_grant("Invalid code verifier.");
        }
        let account = rec.account;
        let scopes = rec.scopes.clone();
        let offline = rec.offline;
        // Without a new refresh token the consent extends the account's
        // live grant (its refresh token now covers these scopes too), as at
        // Google; otherwise it is a grant of its own.
        let live = inner.grants.iter().rposition(|g| {
            g.account == account && g.client_id == self.config.client_id && !g.revoked
        });
        let grant = match live.filter(|_| !offline || self.config.google_grants) {
            Some(g) => {
                let merged = &mut inner.grants[g].scopes;
                for s in &scopes {
                    if !merged.contains(s) {
                        merged.push(s.clone());
                    }
                }
                g
            }
            None => {
                inner.grants.push(GrantRec {
                    client_id: self.config.client_id.clone(),
                    account,
                    scopes: scopes.clone(),
                    revoked: false,
                });
                inner.grants.len() - 1
            }
        };
        inner.codes.get_mut(code).expect("code").grant = Some(grant);
        self.issue(&mut inner, grant, scopes, offline)
    }

    fn refresh(&self, form: &HashMap<String, String>) -> JsonReply {
        let Some(token) = form.get("refresh_token") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: refresh_token",
            );
        };
        let mut inner = self.lock();
        let Some(rec) = inner.refresh.get(token) else {
            return invalid_grant("Token has been expired or revoked.");
        };
        let (grant, active) = (rec.grant, rec.active);
        if inner.grants[grant].revoked {
            return invalid_grant("Token has been expired or revoked.");
        }
        let now = Instant::now() + inner.clock_ahead;
        if self.config.testing_status && now >= rec.issued_at + TESTING_REFRESH_LIFETIME {
            return invalid_grant("Token has been expired or revoked.");
        }
        if !active {
            if self.config.revoke_family_on_reuse {
                inner.grants[grant].revoked = true;
            }
            return invalid_grant("Token has been expired or revoked.");
        }
        if inner.grants[grant].client_id != self.config.client_id {
            return invalid_grant("Token was issued to another client.");
        }
        let current = inner.grants[grant].scopes.clone();
        let scopes = match form.get("scope") {
            None => current,
            Some(s) => {
                let wanted = split_scopes(s);
                if let Some(bad) = wanted.iter().find(|w| !current.contains(w)) {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        &format!("Scope not granted: {bad}"),
                    );
                }
                wanted
            }
        };
        let rotate = self.config.rotate_refresh_tokens;
        if rotate && !self.config.rotated_out_stays_valid {
            inner.refresh.get_mut(token).expect("refresh").active = false;
        }
        self.issue(&mut inner, grant, scopes, rotate)
    }

    fn issue(
        &self,
        inner: &mut Inner,
        grant: usize,
        scopes: Vec<String>,
        with_refresh: bool,
    ) -> JsonReply {
        let lifetime = self.config.access_token_lifetime_secs;
        let access = match self.config.access_token_chars {
            0 => format!("ya29.a0{}", random_b64(48)),
            n => {
                let mut jwt = format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{}", random_b64(n));
                jwt.truncate(n);
                jwt
            }
        };
        inner.access.insert(
            access.clone(),
            AccessRec {
                grant,
                scopes: scopes.clone(),
                expires_at: Instant::now() + Duration::from_secs(lifetime),
            },
        );
        inner.issued.push(access.clone());
        let mut body = json!({
            "access_token": access,
            "expires_in": lifetime,
            "scope": scopes.join(" "),
            "token_type": "Bearer",
        });
        if with_refresh {
            if self.config.google_grants {
                // The 101st refresh token of a grant evicts the oldest.
                let mut live: Vec<(Instant, String)> = inner
                    .refresh
                    .iter()
                    .filter(|(_, r)| r.grant == grant && r.active)
                    .map(|(t, r)| (r.issued_at, t.clone()))
                    .collect();
                live.sort();
                let excess = (live.len() + 1).saturating_sub(MAX_REFRESH_TOKENS);
                for (_, old) in live.into_iter().take(excess) {
                    // Forgotten, not rotated out: presenting it is a plain
                    // invalid_grant.
                    inner.refresh.remove(&old);
                }
            }
            let refresh = format!("1//0{}", random_b64(48));
            inner.refresh.insert(
                refresh.clone(),
                RefreshRec {
                    grant,
                    active: true,
                    issued_at: Instant::now() + inner.clock_ahead,
                },
            );
            inner.issued.push(refresh.clone());
            body["refresh_token"] = json!(refresh);
        }
        if scopes.iter().any(|s| s == "openid") {
            let account = &self.config.accounts[inner.grants[grant].account];
            let id_token = self.id_token(account, &scopes);
            inner.issued.push(id_token.clone());
            body["id_token"] = json!(id_token);
        }
        (StatusCode::OK, body)
    }

    fn id_token(&self, account: &Account, scopes: &[String]) -> String {
        let now = unix_now();
        let header = json!({ "alg": "RS256", "kid": "fake", "typ": "JWT" });
        let mut claims = json!({
            "iss": self.base_url,
            "aud": self.config.client_id,
            "azp": self.config.client_id,
            "sub": account.sub,
            "iat": now,
            "exp": now + 3600,
        });
        if has_email_scope(scopes) {
            claims["email"] = json!(account.email);
            claims["email_verified"] = json!(true);
        }
        if has_profile_scope(scopes) {
            claims["name"] = json!(account.name);
        }
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(random_bytes(256))
        )
    }

    fn revoke(&self, token: Option<&str>) -> JsonReply {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: token",
            );
        };
        let mut inner = self.lock();
        let grant = inner
            .refresh
            .get(token)
            .filter(|r| r.active)
            .map(|r| r.grant)
            .or_else(|| inner.access.get(token).map(|a| a.grant));
        match grant {
            Some(g) if !inner.grants[g].revoked => {
                // Like Google: revoking either token revokes the whole grant
                // (the refresh token and every access token from it), and
                // the app's access for the account is gone.
                inner.grants[g].revoked = true;
                let key = (inner.grants[g].client_id.clone(), inner.grants[g].account);
                inner.prior.remove(&key);
                inner.revocations.push(token.to_string());
                (StatusCode::OK, json!({}))
            }
            _ => oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "Token expired or revoked",
            ),
        }
    }
}

impl Inner {
    /// (account index, effective scopes) of a live access token.
    fn check_access(&self, token: &str) -> Option<(usize, Vec<String>)> {
        let rec = self.access.get(token)?;
        let grant = &self.grants[rec.grant];
        if grant.revoked || Instant::now() >= rec.expires_at {
            return None;
        }
        let scopes = rec
            .scopes
            .iter()
            .filter(|s| grant.scopes.contains(s))
            .cloned()
            .collect();
        Some((grant.account, scopes))
    }
}

// ---------------------------------------------------------------------------
// HTTP layer
// ---------------------------------------------------------------------------

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/authorize", get(authorize_handler))
        .route("/token", axum::routing::post(token_handler))
        .route("/revoke", get(revoke_handler).post(revoke_handler))
        .route("/userinfo", get(userinfo_handler).post(userinfo_handler))
        .route("/introspect", axum::routing::post(introspect_handler))
        .route("/gmail/v1/users/{user}/profile", get(gmail_profile_handler))
        .route(
            "/calendar/v3/users/{user}/calendarList",
            get(calendar_list_handler),
        )
        .route(
            "/gmail/v1/users/{user}/messages",
            get(gmail_messages_handler),
        )
        .fallback(not_found)
        .with_state(shared)
}

type S = State<Arc<Shared>>;
type Conn = ConnectInfo<ConnCtl>;

async fn index(State(s): S) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Keyport fake provider</title></head>\
         <body><h1>Keyport fake OAuth provider</h1>\
         <p>This is a <strong>test provider</strong> that imitates Google's OAuth 2.0 and Gmail \
         endpoints for Keyport's tests and demos. It is not Google.</p>\
         <ul><li>GET {b}/authorize</li><li>POST {b}/token</li><li>POST {b}/revoke</li>\
         <li>GET {b}/userinfo</li><li>GET {b}/gmail/v1/users/me/profile</li></ul>\
         <p>client_id: <code>{c}</code></p></body></html>",
        b = html_escape(&s.base_url),
        c = html_escape(&s.config.client_id),
    );
    html_response(StatusCode::OK, html)
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"error": "not_found", "error_description": "No such endpoint on the fake provider."}),
    )
}

async fn authorize_handler(
    State(s): S,
    ConnectInfo(conn): Conn,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = pairs_of(q.unwrap_or_default().as_bytes());
    s.record_authorize(&pairs);
    if let Some(r) = apply_fault(&s, Endpoint::Authorize, &conn).await {
        return r;
    }
    match s.authorize(&pairs) {
        AuthOutcome::Redirect(location) => {
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        AuthOutcome::Page(status, html) => html_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            html,
        ),
    }
}

async fn token_handler(
    State(s): S,
    ConnectInfo(conn): Conn,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    let grant_type = form
        .as_ref()
        .ok()
        .and_then(|f| f.get("grant_type").cloned())
        .unwrap_or_default();
    let redirected = q.as_deref() == Some("redirected=1");
    {
        let mut inner = s.lock();
        *inner.endpoint_counts.entry(Endpoint::Token).or_insert(0) += 1;
        *inner.token_counts.entry(grant_type.clone()).or_insert(0) += 1;
        if redirected {
            inner.redirected_requests += 1;
        }
    }
    let _in_flight = (grant_type == "refresh_token").then(|| RefreshInFlight::enter(&s));
    if _in_flight.is_some() {
        let held_since = Instant::now();
        while s.lock().hold_refreshes && held_since.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // The target of a redirect answers normally.
    let fault = if redirected {
        None
    } else {
        s.take_fault(Endpoint::Token)
    };
    let pad_to = match fault {
        Some(Fault::Chunked(n)) => Some(n),
        Some(fault) => {
            if let Some(r) = answer_fault(&s, Endpoint::Token, &conn, fault).await {
                return r;
            }
            None
        }
        None => None,
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let (status, body) = if is_form {
        s.token(&headers, form)
    } else {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded.",
        )
    };
    let mut r = match pad_to {
        Some(n) => chunked_json_response(status, body, n),
        None => json_response(status, body),
    };
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// Counts a /token refresh request as in flight until it is answered (or
/// its client goes away).
struct RefreshInFlight<'a>(&'a Shared);

impl<'a> RefreshInFlight<'a> {
    fn enter(s: &'a Shared) -> Self {
        let mut inner = s.lock();
        inner.refreshes_in_flight += 1;
        inner.max_refreshes_in_flight =
            inner.max_refreshes_in_flight.max(inner.refreshes_in_flight);
        RefreshInFlight(s)
    }
}

impl Drop for RefreshInFlight<'_> {
    fn drop(&mut self) {
        self.0.lock().refreshes_in_flight -= 1;
    }
}

/// `body` padded with a `padding` field to exactly `total` bytes (when it
/// is shorter), sent in 64 KiB chunks without Content-Length.
fn chunked_json_response(status: StatusCode, mut body: Value, total: usize) -> Response {
    body["padding"] = json!("");
    let bare = body.to_string().len();
    body["padding"] = json!("a".repeat(total.saturating_sub(bare)));
    let bytes = body.to_string().into_bytes();
    let chunks: Vec<Result<Bytes, std::convert::Infallible>> = bytes
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut r = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

async fn revoke_handler(
    State(s): S,
    ConnectInfo(conn): Conn,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    s.count(Endpoint::Revoke);
    if let Some(r) = apply_fault(&s, Endpoint::Revoke, &conn).await {
        return r;
    }
    let from_body = parse_form(&body).ok().and_then(|f| f.get("token").cloned());
    let from_query = pairs_of(q.unwrap_or_default().as_bytes())
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v);
    let (status, body) = s.revoke(from_body.or(from_query).as_deref());
    json_response(status, body)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

const WWW_AUTH_INVALID: &str =
    "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"";

/// RFC 7662 token introspection, as a mail server (Dovecot's `oauth2`
/// passdb) asks it: `token=<access token>` in a form; `active` with the
/// account's address as `username` and `email`, and its scopes, or only
/// `{"active": false}` for a token that is unknown, expired or revoked.
async fn introspect_handler(State(s): S, ConnectInfo(conn): Conn, body: Bytes) -> Response {
    s.count(Endpoint::Introspect);
    if let Some(r) = apply_fault(&s, Endpoint::Introspect, &conn).await {
        return r;
    }
    let form = parse_form(&body).unwrap_or_default();
    let checked = form.get("token").and_then(|t| s.lock().check_access(t));
    let Some((account, scopes)) = checked else {
        return json_response(StatusCode::OK, json!({"active": false}));
    };
    let email = &s.config.accounts[account].email;
    json_response(
        StatusCode::OK,
        json!({
            "active": true,
            "username": email,
            "email": email,
            "scope": scopes.join(" "),
            "client_id": s.config.client_id,
            "token_type": "Bearer",
        }),
    )
}

async fn userinfo_handler(State(s): S, ConnectInfo(conn): Conn, headers: HeaderMap) -> Response {
    s.count(Endpoint::Userinfo);
    if let Some(r) = apply_fault(&s, Endpoint::Userinfo, &conn).await {
        return r;
    }
    let checked = bearer(&headers).and_then(|t| s.lock().check_access(&t));
    let Some((account, scopes)) = checked else {
        let mut r = json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_request", "error_description": "Invalid Credentials"}),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTH_INVALID),
        );
        return r;
    };
    let account = &s.config.accounts[account];
    // Like Google: email only with an email scope, name only with profile.
    let mut body = json!({ "sub": account.sub });
    if has_email_scope(&scopes) {
        body["email"] = json!(account.email);
        body["email_verified"] = json!(true);
    }
    if has_profile_scope(&scopes) {
        body["name"] = json!(account.name);
    }
    json_response(StatusCode::OK, body)
}

fn google_api_error(status: StatusCode, message: &str, reason: &str) -> Value {
    json!({
        "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{ "message": message, "domain": "global", "reason": reason }],
            "status": match status.as_u16() {
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                429 => "RESOURCE_EXHAUSTED",
                404 => "NOT_FOUND",
                400 => "INVALID_ARGUMENT",
                _ => "UNAVAILABLE",
            },
        }
    })
}

/// The account a Gmail API call may act for: a valid access token with a
/// Gmail scope, for `me` or the account's own address; else Google's 401
/// or 403 reply.
fn gmail_caller(s: &Shared, headers: &HeaderMap, user: &str) -> Result<usize, Box<Response>> {
    api_caller(s, headers, user, &GMAIL_PROFILE_SCOPES)
}

/// The account behind a Google API call's bearer token, which must carry
/// one of `scopes` and may act only for its own `user` (or `me`).
fn api_caller(
    s: &Shared,
    headers: &HeaderMap,
    user: &str,
    scopes_needed: &[&str],
) -> Result<usize, Box<Response>> {
    let checked = bearer(headers).and_then(|t| s.lock().check_access(&t));
    let Some((account, scopes)) = checked else {
        let mut r = json_response(
            StatusCode::UNAUTHORIZED,
            google_api_error(
                StatusCode::UNAUTHORIZED,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, \
                 login cookie or other valid authentication credential.",
                "authError",
            ),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTH_INVALID),
        );
        return Err(Box::new(r));
    };
    if !scopes.iter().any(|s| scopes_needed.contains(&s.as_str())) {
        return Err(Box::new(json_response(
            StatusCode::FORBIDDEN,
            json!({"error": {
                "code": 403,
                "message": "Request had insufficient authentication scopes.",
                "status": "PERMISSION_DENIED"
            }}),
        )));
    }
    let email = &s.config.accounts[account].email;
    if user != "me" && !user.eq_ignore_ascii_case(email) {
        return Err(Box::new(json_response(
            StatusCode::FORBIDDEN,
            google_api_error(
                StatusCode::FORBIDDEN,
                &format!("Delegation denied for {email}"),
                "forbidden",
            ),
        )));
    }
    Ok(account)
}

async fn gmail_profile_handler(
    State(s): S,
    ConnectInfo(conn): Conn,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    s.count(Endpoint::GmailProfile);
    if let Some(r) = apply_fault(&s, Endpoint::GmailProfile, &conn).await {
        return r;
    }
    let account = match gmail_caller(&s, &headers, &user) {
        Ok(a) => &s.config.accounts[a],
        Err(r) => return *r,
    };
    json_response(
        StatusCode::OK,
        json!({
            "emailAddress": account.email,
            "messagesTotal": account.messages_total,
            "threadsTotal": account.messages_total * 2 / 3,
            "historyId": (100_000 + account.messages_total).to_string(),
        }),
    )
}

/// Google Calendar's `calendarList.list`: the account's primary calendar.
async fn calendar_list_handler(
    State(s): S,
    ConnectInfo(conn): Conn,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Response {
    s.count(Endpoint::CalendarList);
    if let Some(r) = apply_fault(&s, Endpoint::CalendarList, &conn).await {
        return r;
    }
    let account = match api_caller(&s, &headers, &user, &CALENDAR_SCOPES) {
        Ok(a) => &s.config.accounts[a],
        Err(r) => return *r,
    };
    json_response(
        StatusCode::OK,
        json!({
            "kind": "calendar#calendarList",
            "items": [{"id": account.email, "summary": account.name, "primary": true}],
        }),
    )
}

/// How many messages `users.messages.list` lists (the first of the
/// account's `messages_total`): enough to page through.
pub const LISTED_MESSAGES: u64 = 25;

/// Gmail's `users.messages.list`: `maxResults` (default 100) per page, the
/// next page's `pageToken` in `nextPageToken` until the last page.
async fn gmail_messages_handler(
    State(s): S,
    ConnectInfo(conn): Conn,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q: HashMap<String, String> = pairs_of(q.unwrap_or_default().as_bytes())
        .into_iter()
        .collect();
    s.count(Endpoint::GmailMessages);
    if let Some(r) = apply_fault(&s, Endpoint::GmailMessages, &conn).await {
        return r;
    }
    let account = match gmail_caller(&s, &headers, &user) {
        Ok(a) => &s.config.accounts[a],
        Err(r) => return *r,
    };
    let total = account.messages_total.min(LISTED_MESSAGES);
    let per_page: u64 = q
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100)
        .clamp(1, 500);
    let Ok(start) = q.get("pageToken").map_or(Ok(0), |t| t.parse::<u64>()) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            google_api_error(
                StatusCode::BAD_REQUEST,
                "Invalid pageToken",
                "invalidArgument",
            ),
        );
    };
    let end = (start + per_page).min(total);
    let messages: Vec<_> = (start..end)
        .map(|i| json!({"id": format!("m{i:04}"), "threadId": format!("t{:04}", i / 2)}))
        .collect();
    let mut body = json!({"messages": messages, "resultSizeEstimate": total});
    if end < total {
        body["nextPageToken"] = json!(end.to_string());
    }
    // Tests of a client's pagination: a Microsoft-style next link, as given.
    if let Some(link) = q.get("odataNext") {
        body["@odata.nextLink"] = json!(link);
    }
    json_response(StatusCode::OK, body)
}

/// Applies the armed fault of `endpoint`, if any. `None` = answer normally
/// (no fault, or [`Fault::Slow`] after its sleep).
async fn apply_fault(s: &Shared, endpoint: Endpoint, conn: &ConnCtl) -> Option<Response> {
    let fault = s.take_fault(endpoint)?;
    answer_fault(s, endpoint, conn, fault).await
}

/// The answer `fault` gives at `endpoint`; `None` = answer normally.
async fn answer_fault(
    s: &Shared,
    endpoint: Endpoint,
    conn: &ConnCtl,
    fault: Fault,
) -> Option<Response> {
    let api = matches!(
        endpoint,
        Endpoint::Userinfo | Endpoint::GmailProfile | Endpoint::GmailMessages
    );
    let error_body = |status: StatusCode, error: &str| {
        if api {
            google_api_error(
                status,
                &format!("Injected fault: HTTP {}", status.as_u16()),
                error,
            )
        } else {
            json!({"error": error, "error_description": format!("Injected fault: HTTP {}", status.as_u16())})
        }
    };
    Some(match fault {
        Fault::Slow(d) => {
            tokio::time::sleep(d).await;
            return None;
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let error = match code {
                400 => "invalid_request",
                401 => "invalid_client",
                403 => "access_denied",
                429 => "rate_limit_exceeded",
                503 => "temporarily_unavailable",
                _ => "server_error",
            };
            json_response(status, error_body(status, error))
        }
        Fault::Malformed => {
            let mut r = (StatusCode::OK, "{\"access_token\": ").into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Fault::RateLimited { retry_after_secs } => {
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                error_body(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded"),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            r
        }
        Fault::InvalidGrant => json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        ),
        Fault::InvalidRapt => json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "reauth related error (invalid_rapt)", "error_uri": "https://support.google.com/a/answer/9368756", "error_subtype": "invalid_rapt"}),
        ),
        Fault::Aadsts(code) => json_response(
            StatusCode::BAD_REQUEST,
            json!({
                "error": if code == 50076 || code == 50079 { "interaction_required" } else { "invalid_grant" },
                "error_description": format!("AADSTS{code}: {} Trace ID: 0000 Correlation ID: 0000 Timestamp: 2026-11-27 10:00:00Z", aadsts_text(code)),
                "error_codes": [code],
                "timestamp": "2026-11-27 10:00:00Z",
                "suberror": if code == 50173 { "bad_token" } else { "" },
            }),
        ),
        Fault::InvalidToken => {
            json_response(StatusCode::BAD_REQUEST, json!({"error": "invalid_token"}))
        }
        Fault::Huge => {
            let mut body = Vec::with_capacity(HUGE_BODY_BYTES);
            body.extend_from_slice(b"{\"padding\":\"");
            body.resize(HUGE_BODY_BYTES - 2, b'a');
            body.extend_from_slice(b"\"}");
            let mut r = Response::new(Body::from(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Fault::Reset => {
            conn.kill();
            StatusCode::OK.into_response()
        }
        Fault::Redirect(code) => {
            let mut r = StatusCode::from_u16(code)
                .unwrap_or(StatusCode::TEMPORARY_REDIRECT)
                .into_response();
            let location = format!("{}{}?redirected=1", s.base_url, endpoint.path());
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        // Only /token pads its replies.
        Fault::Chunked(_) => return None,
    })
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn error_page(title: &str, detail: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>Access blocked: authorization error</h1><h2>{t}</h2><p>{d}</p>\
         <p>(Keyport fake provider)</p></body></html>",
        t = html_escape(title),
        d = html_escape(detail)
    )
}

// ---------------------------------------------------------------------------
// Connections that a handler can kill (for Fault::Reset)
// ---------------------------------------------------------------------------

struct KillListener(tokio::net::TcpListener);

impl axum::serve::Listener for KillListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let io = KillableStream {
                        inner: stream,
                        killed: Arc::new(AtomicBool::new(false)),
                    };
                    return (io, addr);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

struct KillableStream {
    inner: tokio::net::TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::SeqCst) {
            // RST on close instead of an orderly FIN.
            let _ = self.inner.set_zero_linger();
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "fake provider: injected reset",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Per-connection handle given to handlers through `ConnectInfo`.
#[derive(Clone)]
struct ConnCtl {
    killed: Arc<AtomicBool>,
}

impl ConnCtl {
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl Connected<axum::serve::IncomingStream<'_, KillListener>> for ConnCtl {
    fn connect_info(stream: axum::serve::IncomingStream<'_, KillListener>) -> Self {
        ConnCtl {
            killed: stream.io().killed.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/// Accepts `http://127.0.0.1[:port]/...` and `http://[::1][:port]/...`
/// (any port, RFC 8252 §7.3); with `registered` empty, any `dev.keyport:`
/// URL and https URLs with a host, else only the registered ones, exactly.
/// Never a fragment. `localhost` is refused (RFC 8252 §8.3 recommends the
/// IP literal).
fn acceptable_redirect(raw: &str, registered: &[String]) -> Option<url::Url> {
    let url = url::Url::parse(raw).ok()?;
    if url.fragment().is_some() {
        return None;
    }
    let listed = registered.is_empty() || registered.iter().any(|r| r == raw);
    let ok = match url.scheme() {
        "http" => matches!(url.host_str(), Some("127.0.0.1") | Some("[::1]")),
        "https" => url.host_str().is_some_and(|h| !h.is_empty()) && listed,
        "dev.keyport" => listed,
        _ => false,
    };
    ok.then_some(url)
}

fn pairs_of(query: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query).into_owned().collect()
}

fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body).into_owned() {
        if map.contains_key(&k) {
            return Err(format!("Duplicate parameter: {k}"));
        }
        map.insert(k, v);
    }
    Ok(map)
}

/// application/x-www-form-urlencoded decoding of one value ('+' = space).
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hexpair = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hexpair, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn split_scopes(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split_whitespace().map(str::to_string).collect();
    dedupe(&mut v);
    v
}

fn dedupe(v: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    v.retain(|s| seen.insert(s.clone()));
}

fn has_email_scope(scopes: &[String]) -> bool {
    scopes.iter().any(|s| s == "email" || s == USERINFO_EMAIL)
}

fn has_profile_scope(scopes: &[String]) -> bool {
    scopes
        .iter()
        .any(|s| s == "profile" || s == USERINFO_PROFILE)
}

fn is_b64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

fn random_b64(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(n))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Ordered view of a query map, handy in assertions' failure messages.
pub fn sorted(map: &HashMap<String, String>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
