// "Copy diagnostics" (Settings): a plain-text summary someone can paste into a
// support request. Built here from what the UI already has (app_info,
// list_connections, list_clients, list_integrations) merged with what the
// backend's `diagnostics` command says about itself (OS, keyring, queued revocations).
//
// Only fields named below are read, so a field added to a DTO later (or a secret
// that should never have been there) cannot leak into it. Error *codes* only: a
// provider's message can quote account details.
import type { AppInfo, BackendDiagnostics, Connection, IntegrationSummary, OAuthClient } from './api';

/** `diagnostics()` could not be asked (it rejected): the rest is built anyway. */
export const BACKEND_UNAVAILABLE = 'unavailable';

export interface DiagnosticsInput {
  app: AppInfo | undefined;
  connections: readonly Connection[] | undefined;
  clients: readonly OAuthClient[] | undefined;
  integrations: readonly IntegrationSummary[] | undefined;
  /** The backend's own diagnostics; `undefined` while loading, `"unavailable"` if the command failed. */
  backend?: BackendDiagnostics | typeof BACKEND_UNAVAILABLE | undefined;
  /** navigator.userAgent */
  platform: string;
  /** Replace every email address with its first letter + "***@domain". */
  maskEmails: boolean;
  now: number;
}

/** "ana@firm.example" → "a***@firm.example"; anything else unchanged. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return email;
  return `${email[0]}***${email.slice(at)}`;
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;

/** Mask every email address in `text` (also ones inside other fields). */
export function maskEmailsIn(text: string): string {
  return text.replace(EMAIL, maskEmail);
}

/** Client ids are not secret, but only their start is needed to tell them apart. */
export function maskClientId(id: string): string {
  const trimmed = id.trim();
  return trimmed.length <= 6 ? trimmed : `${trimmed.slice(0, 6)}…`;
}

/** A home folder in a path ("/home/ana/…", "C:\Users\ana\…") says who the user is: "~" instead. */
function maskHome(path: string): string {
  return path
    .replace(/^\/(home|Users)\/[^/]+/, '~')
    .replace(/^([A-Za-z]:\\Users\\)[^\\]+/, '~');
}

function iso(at: number | null): string {
  if (at === null || !Number.isFinite(at)) return 'never';
  try {
    return new Date(at).toISOString();
  } catch {
    return 'unknown';
  }
}

/** A backend string on one line (a keyring sentence could carry a newline). */
function oneLine(value: unknown): string {
  const text = typeof value === 'string' ? value.replace(/\s+/g, ' ').trim() : '';
  return text === '' ? 'unknown' : text;
}

function missing(what: string): string {
  return `  (${what} not loaded)`;
}

/**
 * The web engine the window runs on, from its user agent, in words:
 * "WebKitGTK (WebKit 605.1.15)", "Microsoft Edge WebView2 131", "Chromium 141".
 * The whole user agent string says no more that support can use.
 */
export function engineOf(userAgent: string): string {
  const edge = /\bEdg\/(\d+)/.exec(userAgent);
  if (edge) return `Microsoft Edge WebView2 ${edge[1]}`;
  const chrome = /Chrom(?:e|ium)\/(\d+)/.exec(userAgent);
  if (chrome) return `Chromium ${chrome[1]}`;
  const webkit = /\bAppleWebKit\/([\d.]+)/.exec(userAgent);
  if (webkit) {
    const port = /Mac OS X|Macintosh/.test(userAgent) ? 'WKWebView' : /Linux|X11|BSD/.test(userAgent) ? 'WebKitGTK' : 'WebKit';
    return `${port} (WebKit ${webkit[1]})`;
  }
  return userAgent.trim() === '' ? 'unknown' : 'unknown engine';
}

/** The diagnostics text. Pure: the same input gives the same text. */
export function buildDiagnostics(input: DiagnosticsInput): string {
  const { app, connections, clients, integrations, maskEmails } = input;
  const backend = input.backend === BACKEND_UNAVAILABLE ? undefined : input.backend;
  const email = (value: string | null) => (value === null ? '—' : maskEmails ? maskEmail(value) : value);
  const path = (value: string) => (maskEmails ? maskHome(value) : value);
  const lines: string[] = [];

  lines.push('Keyport diagnostics');
  lines.push(`Generated: ${iso(input.now)}`);
  lines.push(`Version: ${app?.version ?? (backend ? oneLine(backend.version) : 'unknown')}`);
  lines.push(`Window engine: ${engineOf(input.platform)}`);
  if (backend) lines.push(`OS: ${oneLine(backend.os)} (${oneLine(backend.arch)})`);
  if (app) {
    lines.push(`Data folder: ${path(app.data_dir)}`);
    lines.push(`Settings folder: ${path(app.config_dir)}`);
  }
  if (backend) {
    lines.push(`Keyring: ${oneLine(backend.keyring)}`);
    lines.push(`Keyring service: ${oneLine(backend.keyring_service)}`);
    const pending = backend.pending_revocations;
    lines.push(`Pending revocations: ${typeof pending === 'number' && Number.isFinite(pending) ? pending : 'unknown'}`);
  } else if (input.backend === BACKEND_UNAVAILABLE) {
    lines.push('Keyring: unknown (backend diagnostics unavailable)');
  } else {
    lines.push('Keyring: unknown (backend diagnostics not loaded)');
  }

  lines.push('');
  if (!connections) {
    lines.push('Connections:', missing('connections'));
  } else {
    const byStatus = new Map<string, number>();
    for (const c of connections) byStatus.set(c.status, (byStatus.get(c.status) ?? 0) + 1);
    const counts = [...byStatus].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s} ${n}`);
    lines.push(`Connections: ${connections.length}${counts.length ? ` (${counts.join(', ')})` : ''}`);
    for (const c of connections) {
      const parts = [
        c.id,
        c.integration,
        email(c.email),
        c.status,
        `redirect ${c.redirect_mode}`,
        `last check ${c.last_checked_at === null ? 'never' : `${c.last_check_ok === false ? 'failed' : 'ok'} ${iso(c.last_checked_at)}`}`,
        `last error ${c.last_error_code ?? '—'}`,
      ];
      if (c.missing_scopes.length > 0) parts.push(`missing scopes ${c.missing_scopes.length}`);
      lines.push(`  - ${parts.join(' | ')}`);
    }
  }

  lines.push('');
  lines.push('OAuth clients:');
  if (!clients) lines.push(missing('OAuth clients'));
  else if (clients.length === 0) lines.push('  (none set)');
  else {
    for (const c of clients) {
      lines.push(`  - ${c.provider}: client id ${maskClientId(c.client_id)}, secret ${c.has_secret ? 'set' : 'not set'}`);
    }
  }

  lines.push('');
  lines.push('Integrations:');
  if (!integrations) lines.push(missing('integrations'));
  else {
    for (const i of integrations) {
      const flags = [i.provider, `redirect ${i.redirect}`, i.configured ? 'client set' : 'no client'];
      if (i.custom) flags.push('custom');
      lines.push(`  - ${i.id} (${flags.join(', ')})`);
    }
  }

  const text = `${lines.join('\n')}\n`;
  // Belt and braces: an address that came in through another field (a label, a path).
  return maskEmails ? maskEmailsIn(text) : text;
}
