// Generated from Keyport's Rust types by `make bindings`; do not edit.
// The IPC payloads the UI receives (src-tauri/keyport-app/src/bindings.rs).

export type RedirectMode = "deep-link" | "loopback" | "relay";
export type ScopePreset = { id: string, label: string, description: string, scopes: Array<string>, default: boolean, };
export type IntegrationSummary = { id: string, name: string, provider: string, description: string, icon: string, access: string, presets: Array<ScopePreset>, redirect: RedirectMode, redirect_modes: Array<RedirectMode>, configured: boolean, setup_guide: string | null, custom: boolean, 
/**
 * A built-in changed by the user's catalog file.
 */
overridden: boolean, 
/**
 * False when the catalog turned PKCE off (shown as a warning).
 */
pkce: boolean, 
/**
 * Endpoint origins the person has not confirmed for this integration's
 * client (a catalog entry pointing elsewhere): no sign-in until they do.
 */
unconfirmed_origins: Array<string>, };
export type AppInfo = { version: string, data_dir: string, config_dir: string, };
export type ConnectionStatus = "initiated" | "active" | "degraded" | "needs_reauth" | "failed";
export type Connection = { id: string, integration: string, provider: string, status: ConnectionStatus, label: string | null, subject: string | null, email: string | null, display_name: string | null, requested_scopes: Array<string>, granted_scopes: Array<string>, missing_scopes: Array<string>, redirect_mode: RedirectMode, profile: Record<string, unknown> | null, last_error_code: string | null, last_error_message: string | null, last_checked_at: number | null, last_check_ok: boolean | null, created_at: number, updated_at: number, 
/**
 * Transient refresh failures in a row.
 */
refresh_failures: number, 
/**
 * No refresh before this time (ms) after transient failures.
 */
retry_after: number | null, last_refreshed_at: number | null, 
/**
 * The account grant this integration is enabled on (its tokens, its
 * status); `None` until the first sign-in finishes.
 */
grant_id: string | null, 
/**
 * The person's own note ("Client: Müller GmbH"); shown and exported,
 * never sent anywhere.
 */
note: string | null, };
export type Revocation = "revoked" | "queued" | "not_supported" | "failed" | "nothing_to_revoke" | "kept";
export type Disconnected = { connection_id: string, email: string | null, revocation: Revocation, message: string, };
export type DisconnectPlan = { connection_id: string, 
/**
 * The integration's name ("Gmail").
 */
integration: string, account: string | null, 
/**
 * The account's other integrations, which keep working: they share
 * its sign-in ("Google Calendar").
 */
keeps: Array<string>, 
/**
 * Whether Keyport's access is revoked at the provider (when nothing
 * else uses the account's sign-in).
 */
revokes: boolean, 
/**
 * One sentence saying what stops working and what does not.
 */
summary: string, };
export type ConnectionEvent = { id: number, connection_id: string | null, integration: string | null, at: number, kind: string, code: string | null, message: string | null, };
export type Usage = { connection_id: string, at: number, 
/**
 * `token` (with its format: `token`, `xoauth2`, `oauthbearer`, `json`).
 */
kind: string, 
/**
 * The requesting program's executable name, when the OS tells it.
 */
program: string | null, program_path: string | null, };
export type OAuthClient = { provider: string, client_id: string, has_secret: boolean, updated_at: number, };
export type ClientSource = "organisation" | "personal" | "catalog" | "built_in";
export type ClientSummary = { provider: string, 
/**
 * `None` when the provider has no client at all.
 */
client_id: string | null, source: ClientSource | null, has_secret: boolean, 
/**
 * Set by the organisation and not changeable here.
 */
locked: boolean, };
export type ConnectStarted = { connection_id: string, flow_id: string, auth_url: string, redirect_mode: RedirectMode, 
/**
 * False when the browser could not be opened (offer the link instead).
 */
browser_opened: boolean, };
export type Settings = { 
/**
 * Used when the integration allows it and the caller does not choose.
 */
default_redirect: RedirectMode | null, 
/**
 * The relay page for integrations without their own `relay_url`.
 */
relay_url: string | null, 
/**
 * Closing the window hides it and Keyport keeps running in the
 * background (tray icon, health checks, notifications); off: closing
 * quits. On unless the person turned it off.
 */
close_to_tray: boolean, };
export type BackendDiagnostics = { version: string, os: string, arch: string, keyring: string, keyring_service: string, pending_revocations: number, };
export type ExportSaved = { path: string, count: number, };
/** `{code, message, detail}`: how every error reaches the UI. */
export type KeyportErrorPayload = { code: string, message: string, detail?: unknown, };
export type FlowEvent = { flow_id: string | null, connection: Connection | null, 
/**
 * `{code, message, detail}`.
 */
error: KeyportErrorPayload | null, };
/** Every code the backend's errors carry. */
export type ErrorCode =
  | 'catalog.invalid'
  | 'catalog.unsafe_permissions'
  | 'policy.invalid'
  | 'policy.unsafe'
  | 'policy.locked'
  | 'policy.forbidden'
  | 'client.invalid'
  | 'integration.untrusted_endpoints'
  | 'integration.unknown'
  | 'integration.not_configured'
  | 'input.invalid'
  | 'deeplink.invalid'
  | 'oauth.state_mismatch'
  | 'oauth.state_reused'
  | 'oauth.flow_expired'
  | 'oauth.flow_not_found'
  | 'oauth.wrong_channel'
  | 'oauth.issuer_mismatch'
  | 'oauth.access_denied'
  | 'oauth.authorization_failed'
  | 'oauth.missing_code'
  | 'oauth.cancelled'
  | 'oauth.timeout'
  | 'oauth.invalid_grant'
  | 'oauth.fresh_sign_in_required'
  | 'oauth.testing_client_expired'
  | 'oauth.expired_unused'
  | 'oauth.password_changed'
  | 'oauth.mfa_required'
  | 'oauth.admin_approval_required'
  | 'oauth.invalid_client'
  | 'oauth.token_exchange'
  | 'oauth.interrupted'
  | 'oauth.failed'
  | 'oauth.scopes_missing'
  | 'provider.malformed'
  | 'provider.unreachable'
  | 'provider.error'
  | 'provider.rate_limited'
  | 'provider.cooldown'
  | 'provider.revocation_failed'
  | 'identity.failed'
  | 'connection.wrong_account'
  | 'connection.not_found'
  | 'api.foreign_host'
  | 'api.status'
  | 'connection.needs_reauth'
  | 'connection.not_active'
  | 'keyring.unavailable'
  | 'keyring.secret_missing'
  | 'keyring.verifier_missing'
  | 'store.busy'
  | 'store.corrupt'
  | 'store.failed'
  | 'io.failed'
  | 'app.not_found';
