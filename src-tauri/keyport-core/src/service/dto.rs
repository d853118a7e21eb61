//! The plain data the service hands to the app and the CLI. None of it holds
//! a secret except [`SignIn`], which is not serialisable.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::{RedirectMode, ScopePreset};
use crate::loopback::Listener;
use crate::secrets::Secret;

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
    /// Scopes asked for besides the connection's own: a sign-in on an
    /// account grant also asks for what its other integrations need.
    pub also_scopes: Vec<String>,
    /// Add the integration to this account (a connection id or email on
    /// it): the sign-in is hinted to that account and lands on its grant.
    pub account: Option<String>,
}

/// A started flow as the caller may show it: `{connection_id, auth_url}` as
/// the hosted APIs return it, the flow id and the redirect it waits on.
#[derive(Clone, Debug, Serialize)]
pub struct Initiated {
    pub connection_id: String,
    /// The integration's id.
    pub integration: String,
    pub flow_id: String,
    pub auth_url: String,
    pub redirect_mode: RedirectMode,
    pub redirect_uri: String,
}

/// A started sign-in with what waiting for it needs
/// ([`Keyport::await_flow`](super::Keyport::await_flow)): the flow's state
/// and, in loopback mode, the listening sockets and the PKCE verifier, which
/// never leave this process.
pub struct SignIn {
    pub initiated: Initiated,
    pub(crate) state: Secret,
    pub(crate) loopback: Option<Loopback>,
}

pub(crate) struct Loopback {
    pub listener: Listener,
    pub verifier: Option<Secret>,
}

impl SignIn {
    /// The addresses the loopback listener is bound to (none in other modes).
    pub fn loopback_addrs(&self) -> Vec<SocketAddr> {
        self.loopback
            .as_ref()
            .map(|l| l.listener.local_addrs())
            .unwrap_or_default()
    }

    /// The flow's state, as it appears in the authorization URL.
    pub fn state(&self) -> &Secret {
        &self.state
    }
}

impl std::ops::Deref for SignIn {
    type Target = Initiated;
    fn deref(&self) -> &Initiated {
        &self.initiated
    }
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("initiated", &self.initiated)
            .finish_non_exhaustive()
    }
}

/// App-wide preferences, set in Settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Settings {
    /// Used when the integration allows it and the caller does not choose.
    pub default_redirect: Option<RedirectMode>,
    /// The relay page for integrations without their own `relay_url`.
    pub relay_url: Option<String>,
    /// Closing the window hides it and Keyport keeps running in the
    /// background (tray icon, health checks, notifications); off: closing
    /// quits. On unless the person turned it off.
    pub close_to_tray: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            default_redirect: None,
            relay_url: None,
            close_to_tray: true,
        }
    }
}

/// The integration as the UI and `keyport integrations` show it.
#[derive(Clone, Debug, Serialize, TS)]
pub struct IntegrationSummary {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub description: String,
    pub icon: String,
    pub access: String,
    pub presets: Vec<ScopePreset>,
    pub redirect: RedirectMode,
    pub redirect_modes: Vec<RedirectMode>,
    pub configured: bool,
    pub setup_guide: Option<String>,
    pub custom: bool,
    /// A built-in changed by the user's catalog file.
    pub overridden: bool,
    /// False when the catalog turned PKCE off (shown as a warning).
    pub pkce: bool,
    /// Endpoint origins the person has not confirmed for this integration's
    /// client (a catalog entry pointing elsewhere): no sign-in until they do.
    pub unconfirmed_origins: Vec<String>,
}

/// Where a provider's client comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ClientSource {
    /// The organisation's policy file.
    Organisation,
    /// Set by the person (`keyport client set`, Settings).
    Personal,
    /// The `client_id` of a catalog entry.
    Catalog,
    /// Compiled into this build of Keyport.
    BuiltIn,
}

/// A provider's client as `keyport client list` and Settings show it.
#[derive(Clone, Debug, Serialize, TS)]
pub struct ClientSummary {
    pub provider: String,
    /// `None` when the provider has no client at all.
    pub client_id: Option<String>,
    pub source: Option<ClientSource>,
    pub has_secret: bool,
    /// Set by the organisation and not changeable here.
    pub locked: bool,
}
