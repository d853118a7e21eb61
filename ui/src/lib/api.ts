// The one place the UI talks to the Rust backend. Every command and event the
// UI uses is a typed function here; components never call `invoke` or `listen`.
//
// Argument keys are camelCase: Tauri maps them to the Rust parameter names
// (`flowId` → `flow_id`). Replies keep the backend's snake_case field names.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

export type RedirectMode = 'deep-link' | 'loopback' | 'relay';

export interface ScopePreset {
  id: string;
  label: string;
  description: string;
  scopes: string[];
  default: boolean;
}

export interface IntegrationSummary {
  id: string;
  name: string;
  provider: string;
  description: string;
  /** Icon key: "gmail" | "google-calendar" | "google-drive" | "outlook"; others get a generic mark. */
  icon: string;
  /** Plain words for what the default preset can access, e.g. "Read your mail". */
  access: string;
  presets: ScopePreset[];
  redirect: RedirectMode;
  redirect_modes: RedirectMode[];
  /** An OAuth client is set for this integration's provider. */
  configured: boolean;
  setup_guide: string | null;
  /** Comes from the user's catalog file. */
  custom: boolean;
  /** A built-in changed by the user's catalog file. */
  overridden?: boolean;
}

export interface AppInfo {
  version: string;
  data_dir: string;
  config_dir: string;
}

export type ConnectionStatus = 'initiated' | 'active' | 'degraded' | 'needs_reauth' | 'failed';

/** A connection row as the backend keeps it (no tokens: those stay in the keyring). */
export interface Connection {
  id: string;
  integration: string;
  provider: string;
  status: ConnectionStatus;
  /** The user's own name for it, e.g. "Shared inbox". */
  label: string | null;
  subject: string | null;
  email: string | null;
  display_name: string | null;
  requested_scopes: string[];
  granted_scopes: string[];
  missing_scopes: string[];
  redirect_mode: RedirectMode;
  /** What the provider's check call said, e.g. `{ emailAddress, messagesTotal }` for Gmail. */
  profile: Record<string, unknown> | null;
  last_error_code: string | null;
  last_error_message: string | null;
  /** Milliseconds since the epoch. */
  last_checked_at: number | null;
  last_check_ok: boolean | null;
  created_at: number;
  updated_at: number;
}

/** How revoking a disconnected connection's access at the provider went. */
export type Revocation = 'revoked' | 'queued' | 'not_supported' | 'failed' | 'nothing_to_revoke';

/** What `disconnect_connection` resolves with: the connection is gone either way. */
export interface Disconnected {
  connection_id: string;
  email: string | null;
  revocation: Revocation;
  /** A sentence for the user, e.g. "Disconnected. Google revoked Keyport's access." */
  message: string;
}

/** One entry of a connection's history, newest first from `connection_events`. */
export interface ConnectionEvent {
  id: number;
  connection_id: string | null;
  integration: string | null;
  at: number;
  /** e.g. "connect_started", "connected", "scopes_granted", "failed". */
  kind: string;
  code: string | null;
  message: string | null;
}

/** An OAuth client the user set for a provider. The secret itself never leaves the backend. */
export interface OAuthClient {
  provider: string;
  client_id: string;
  has_secret: boolean;
  updated_at: number;
}

export interface ConnectOptions {
  /** A preset id of the integration; `null` lets the backend use the default one. */
  preset?: string | null;
  /** Exact scopes to ask for; they override the preset. */
  scopes?: string[] | null;
  /** `null` uses the integration's default mode. */
  redirect?: RedirectMode | null;
}

/** What `start_connect` resolves with (the connection row exists before the browser opens). */
export interface ConnectStarted {
  connection_id: string;
  flow_id: string;
  auth_url: string;
  redirect_mode: RedirectMode;
  /** False when the backend could not open the browser: the user has to copy the link. */
  browser_opened: boolean;
}

/**
 * A sign-in ended, pushed on `keyport://flow`. `flow_id` says which flow it
 * ended (deep-link results carry it too); null only when the backend could not tell.
 */
export interface FlowEvent {
  flow_id: string | null;
  connection: Connection | null;
  error: KeyportErrorPayload | null;
}

export const FLOW_EVENT = 'keyport://flow';
export const CONNECTIONS_CHANGED_EVENT = 'keyport://connections-changed';

/** The serialised error every command rejects with. */
export interface KeyportErrorPayload {
  code: string;
  message: string;
  detail?: unknown;
}

/** A backend (or IPC) failure with a stable dotted `code` and a human `message`. */
export class KeyportError extends Error {
  readonly code: string;
  readonly detail?: unknown;

  constructor(code: string, message: string, detail?: unknown) {
    super(message);
    this.name = 'KeyportError';
    this.code = code;
    if (detail !== undefined) this.detail = detail;
  }
}

/** Code for failures that did not come as a typed backend error (unknown command, IPC down). */
export const IPC_ERROR = 'ipc.failed';
/** Code for a reply whose shape is not what the contract says. */
export const BAD_REPLY = 'ipc.bad_reply';

const FALLBACK_MESSAGE = 'Keyport’s backend did not answer as expected.';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

/** Turn whatever a rejected `invoke` produced into a `KeyportError`. */
export function toKeyportError(raw: unknown): KeyportError {
  if (raw instanceof KeyportError) return raw;
  if (isRecord(raw) && nonEmptyString(raw.code)) {
    const message = nonEmptyString(raw.message) ? raw.message : FALLBACK_MESSAGE;
    return new KeyportError(raw.code, message, raw.detail);
  }
  // Tauri itself rejects with a plain string, e.g. "command start_connect not found".
  if (nonEmptyString(raw)) return new KeyportError(IPC_ERROR, raw);
  if (raw instanceof Error && nonEmptyString(raw.message)) {
    return new KeyportError(IPC_ERROR, raw.message);
  }
  return new KeyportError(IPC_ERROR, FALLBACK_MESSAGE, raw);
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (raw) {
    throw toKeyportError(raw);
  }
}

/** A command that answers with an array; anything else is a bad reply. */
async function callList<T>(command: string, what: string, args?: Record<string, unknown>): Promise<T[]> {
  const reply = await call<unknown>(command, args);
  if (!Array.isArray(reply)) {
    throw new KeyportError(BAD_REPLY, `The list of ${what} came back in an unexpected shape.`);
  }
  return reply as T[];
}

export function listIntegrations(): Promise<IntegrationSummary[]> {
  return callList<IntegrationSummary>('list_integrations', 'integrations');
}

export function appInfo(): Promise<AppInfo> {
  return call<AppInfo>('app_info');
}

/**
 * Begin connecting `integration`. The backend opens the consent page in the
 * browser itself; the end of the flow arrives on `onFlow`.
 */
export function startConnect(integration: string, options: ConnectOptions = {}): Promise<ConnectStarted> {
  return call<ConnectStarted>('start_connect', {
    integration,
    preset: options.preset ?? null,
    scopes: options.scopes ?? null,
    redirect: options.redirect ?? null,
  });
}

/** Stop waiting for a sign-in (closes its loopback listener, forgets its state). */
export async function cancelConnect(flowId: string): Promise<void> {
  await call<null>('cancel_connect', { flowId });
}

/** Open a started flow's sign-in page in the browser again; false if no browser could be opened. */
export async function openAuthUrl(flowId: string): Promise<boolean> {
  return (await call<boolean>('open_auth_url', { flowId })) === true;
}

/** Open an https link in the system browser (the backend refuses anything else). */
export async function openExternal(url: string): Promise<void> {
  await call<null>('open_external', { url });
}

export function listConnections(): Promise<Connection[]> {
  return callList<Connection>('list_connections', 'connections');
}

/** History of one connection, newest first. */
export function connectionEvents(connectionId: string): Promise<ConnectionEvent[]> {
  return callList<ConnectionEvent>('connection_events', 'events', { connectionId });
}

/** Give a connection a label of the user's choosing; `null` (or blank) clears it. */
export function renameConnection(connectionId: string, label: string | null): Promise<Connection> {
  const trimmed = label?.trim() ?? '';
  return call<Connection>('rename_connection', { connectionId, label: trimmed === '' ? null : trimmed });
}

/**
 * Ask the provider whether a connection still works (Gmail: the profile call).
 * Resolves with the updated row; rejects with why the check failed (the stored
 * row then carries that error too, so refetch the list either way).
 */
export function checkConnection(connectionId: string): Promise<Connection> {
  return call<Connection>('check_connection', { connectionId });
}

/** Sign in again on an existing connection; it must come back as the same account. */
export function reconnectConnection(connectionId: string, redirect: RedirectMode | null = null): Promise<ConnectStarted> {
  return call<ConnectStarted>('reconnect_connection', { connectionId, redirect });
}

/** Ask for more access on an existing connection; `null` scopes = the ones it is missing. */
export function grantAccess(
  connectionId: string,
  scopes: string[] | null = null,
  redirect: RedirectMode | null = null,
): Promise<ConnectStarted> {
  return call<ConnectStarted>('grant_access', { connectionId, scopes, redirect });
}

/** Revoke a connection's access at the provider (or queue that), delete its tokens and its row. */
export function disconnectConnection(connectionId: string): Promise<Disconnected> {
  return call<Disconnected>('disconnect_connection', { connectionId });
}

export function listClients(): Promise<OAuthClient[]> {
  return callList<OAuthClient>('list_clients', 'OAuth clients');
}

/**
 * Save the OAuth client of `provider`. A secret goes to the keyring; `null`
 * keeps the secret saved before, if any (`removeClient` removes it).
 */
export async function setClient(provider: string, clientId: string, clientSecret: string | null): Promise<void> {
  await call<null>('set_client', { provider, clientId: clientId.trim(), clientSecret });
}

/** Forget the OAuth client of `provider`; resolves false if there was none. */
export function removeClient(provider: string): Promise<boolean> {
  return call<boolean>('remove_client', { provider });
}

/** Keyport-wide preferences (`get_settings` / `set_settings`). */
export interface Settings {
  /** How sign-ins come back to Keyport when an integration allows it; `null` = each integration's default. */
  default_redirect: RedirectMode | null;
  /** The https page relay sign-ins go through; `null` = none set. */
  relay_url: string | null;
}

/** What the backend says about itself, for "Copy diagnostics". No secrets. */
export interface BackendDiagnostics {
  version: string;
  os: string;
  arch: string;
  /** "available", or a sentence saying why the system keyring can't be used. */
  keyring: string;
  keyring_service: string;
  /** Revocations still queued to be sent to providers. */
  pending_revocations: number;
}

export function getSettings(): Promise<Settings> {
  return call<Settings>('get_settings');
}

/** Save the preferences; resolves with what was saved. Rejects with `input.invalid` (e.g. a non-https relay URL). */
export function setSettings(settings: Settings): Promise<Settings> {
  const relay = settings.relay_url?.trim() ?? '';
  return call<Settings>('set_settings', {
    settings: { default_redirect: settings.default_redirect, relay_url: relay === '' ? null : relay },
  });
}

/** Open the data folder in the system's file manager. */
export async function openDataFolder(): Promise<void> {
  await call<null>('open_data_folder');
}

export function diagnostics(): Promise<BackendDiagnostics> {
  return call<BackendDiagnostics>('diagnostics');
}

function follow<T>(event: string, handler: (payload: T) => void): Promise<UnlistenFn> {
  return listen<T>(event, (e) => handler(e.payload));
}

/** Sign-ins that ended (success or failure). Returns an unsubscribe function. */
export function onFlow(handler: (event: FlowEvent) => void): Promise<UnlistenFn> {
  return follow<FlowEvent>(FLOW_EVENT, handler);
}

/** The set of connections (or one of them) changed: time to refetch the list. */
export function onConnectionsChanged(handler: () => void): Promise<UnlistenFn> {
  return follow<unknown>(CONNECTIONS_CHANGED_EVENT, () => handler());
}

/**
 * Tells the backend the first frame was painted (it logs the time since the
 * process started, for the start-up benchmark). Best effort.
 */
export function reportFirstPaint(): void {
  call<void>('first_paint').catch(() => undefined);
}
