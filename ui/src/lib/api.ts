// The one place the UI talks to the Rust backend. Every command and event the
// UI uses is a typed function here; components never call `invoke` or `listen`.
//
// Argument keys are camelCase: Tauri maps them to the Rust parameter names
// (`flowId` → `flow_id`). Replies keep the backend's snake_case field names.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type {
  AppInfo,
  BackendDiagnostics,
  ClientSummary,
  Connection,
  ConnectionEvent,
  ConnectStarted,
  DisconnectPlan,
  Disconnected,
  ErrorCode,
  ExportSaved,
  FlowEvent,
  IntegrationSummary,
  OAuthClient,
  RedirectMode,
  Settings,
  Usage,
} from './bindings';

// The payload types are generated from the Rust types (bindings.ts).
export type * from './bindings';

export interface ConnectOptions {
  /** A preset id of the integration; `null` lets the backend use the default one. */
  preset?: string | null;
  /** Exact scopes to ask for; they override the preset. */
  scopes?: string[] | null;
  /** `null` uses the integration's default mode. */
  redirect?: RedirectMode | null;
  /** Add the integration to this account (a connection id on it): one sign-in, one grant. */
  account?: string | null;
}

export const FLOW_EVENT = 'keyport://flow';
export const CONNECTIONS_CHANGED_EVENT = 'keyport://connections-changed';
/** The person's integrations.toml changed on disk (the window reads it at start). */
export const CATALOG_CHANGED_EVENT = 'keyport://catalog-changed';

/** A backend (or IPC) failure with a stable dotted `code` and a human `message`. */
export class KeyportError extends Error {
  readonly code: AnyErrorCode;
  readonly detail?: unknown;

  constructor(code: AnyErrorCode, message: string, detail?: unknown) {
    super(message);
    this.name = 'KeyportError';
    this.code = code;
    if (detail !== undefined) this.detail = detail;
  }
}

/** Code for failures that did not come as a typed backend error (unknown command, IPC down). */
export const IPC_ERROR = 'ipc.failed' as const;
/** Code for a reply whose shape is not what the contract says. */
export const BAD_REPLY = 'ipc.bad_reply' as const;

/** A backend code (generated from the Rust list) or one of the UI's own. */
export type AnyErrorCode = ErrorCode | typeof IPC_ERROR | typeof BAD_REPLY;

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
    // The backend only sends codes from its list (bindings.ts).
    return new KeyportError(raw.code as ErrorCode, message, raw.detail);
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
    account: options.account ?? null,
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

/** Which programs were handed this connection's tokens, newest first. */
export function connectionUsage(connectionId: string): Promise<Usage[]> {
  return callList<Usage>('connection_usage', 'usage', { connectionId });
}

/** Give a connection a label of the user's choosing; `null` (or blank) clears it. */
export function renameConnection(connectionId: string, label: string | null): Promise<Connection> {
  const trimmed = label?.trim() ?? '';
  return call<Connection>('rename_connection', { connectionId, label: trimmed === '' ? null : trimmed });
}

/** Keep a note on a connection ("Client: Müller GmbH"); `null` (or blank) clears it. */
export function setConnectionNote(connectionId: string, note: string | null): Promise<Connection> {
  const trimmed = note?.trim() ?? '';
  return call<Connection>('set_connection_note', { connectionId, note: trimmed === '' ? null : trimmed });
}

/** Save the connection list (no secrets) in Downloads as CSV or JSON, named with today's local date. */
export function exportConnections(format: 'csv' | 'json', today = new Date()): Promise<ExportSaved> {
  const pad = (n: number) => String(n).padStart(2, '0');
  const date = `${today.getFullYear()}-${pad(today.getMonth() + 1)}-${pad(today.getDate())}`;
  return call<ExportSaved>('export_connections', { format, date });
}

/** Show a saved export in the file manager. */
export async function revealExport(path: string): Promise<void> {
  await call<null>('reveal_export', { path });
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
/** What disconnecting would stop and keep (with `account`: removing the whole account). */
export function disconnectPlan(connectionId: string, account = false): Promise<DisconnectPlan> {
  return call<DisconnectPlan>('disconnect_plan', { connectionId, account });
}

/** Disconnects one integration; with `account`, every integration of the account (revoked once). */
export function disconnectConnection(connectionId: string, account = false): Promise<Disconnected> {
  return call<Disconnected>('disconnect_connection', account ? { connectionId, account } : { connectionId });
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

/** Each provider's client and where it comes from (built-in, organisation, personal). Never a secret. */
export function clientSources(): Promise<ClientSummary[]> {
  return callList<ClientSummary>('client_sources', 'OAuth clients');
}

/** Sets the Google client from the JSON file Google Cloud console downloads; answers the client id. */
export function importClientJson(json: string): Promise<string> {
  return call<string>('import_client_json', { json });
}

/** Lets an integration whose catalog entry points elsewhere use its provider's client. */
export function trustEndpoints(integration: string): Promise<string[]> {
  return callList<string>('trust_endpoints', 'servers', { integration });
}

/** Forget the OAuth client of `provider`; resolves false if there was none. */
export function removeClient(provider: string): Promise<boolean> {
  return call<boolean>('remove_client', { provider });
}

export function getSettings(): Promise<Settings> {
  return call<Settings>('get_settings');
}

/** Save the preferences; resolves with what was saved. Rejects with `input.invalid` (e.g. a non-https relay URL). */
export function setSettings(settings: Settings): Promise<Settings> {
  const relay = settings.relay_url?.trim() ?? '';
  return call<Settings>('set_settings', {
    settings: {
      default_redirect: settings.default_redirect,
      relay_url: relay === '' ? null : relay,
      close_to_tray: settings.close_to_tray,
    },
  });
}

/** Whether Keyport starts when the person logs in, as the system has it (not a stored flag). */
export async function autostartEnabled(): Promise<boolean> {
  return (await call<boolean>('autostart_enabled')) === true;
}

/** Turn starting at login on or off; resolves with the state read back from the system. */
export async function setAutostart(enabled: boolean): Promise<boolean> {
  return (await call<boolean>('set_autostart', { enabled })) === true;
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

/** The integrations file changed: the window needs a restart to use it. */
export function onCatalogChanged(handler: () => void): Promise<UnlistenFn> {
  return follow<unknown>(CATALOG_CHANGED_EVENT, () => handler());
}

/**
 * Tells the backend the first frame was painted (it logs the time since the
 * process started, for the start-up benchmark). Best effort.
 */
export function reportFirstPaint(): void {
  call<void>('first_paint').catch(() => undefined);
}
