// The one place the UI talks to the Rust backend. Every command and event the
// UI uses is a typed function here; components never call `invoke` or `listen`.
//
// Argument keys are written as the Rust parameter names (snake_case) so the
// mapping is obvious; Tauri would also accept camelCase for single words.
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
}

export interface AppInfo {
  version: string;
  data_dir: string;
  config_dir: string;
}

/** What `start_connect` resolves with (the connection row exists before the browser opens). */
export interface ConnectStarted {
  connection_id: string;
  auth_url: string;
}

/** Progress of a connect flow, pushed by the backend on the `connect-flow` event. */
export type ConnectFlowUpdate =
  | { integration: string; connection_id: string; state: 'active'; account: string }
  | { integration: string; connection_id: string; state: 'failed'; error: KeyportErrorPayload };

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

export async function listIntegrations(): Promise<IntegrationSummary[]> {
  const reply = await call<unknown>('list_integrations');
  if (!Array.isArray(reply)) {
    throw new KeyportError(BAD_REPLY, 'The list of integrations came back in an unexpected shape.');
  }
  return reply as IntegrationSummary[];
}

export function appInfo(): Promise<AppInfo> {
  return call<AppInfo>('app_info');
}

/** Begin connecting `integrationId`; the backend opens the consent page in the browser. */
export function startConnect(integrationId: string): Promise<ConnectStarted> {
  return call<ConnectStarted>('start_connect', { integration: integrationId });
}

/** Follow connect flows to the end (success or failure). Returns an unsubscribe function. */
export function onConnectFlow(handler: (update: ConnectFlowUpdate) => void): Promise<UnlistenFn> {
  return listen<ConnectFlowUpdate>('connect-flow', (event) => handler(event.payload));
}
