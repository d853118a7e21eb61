// The connect flow's plain logic: what to ask the backend for, and what to say
// when a sign-in ends. Pure; the dialog renders it.
import type { Connection, ConnectOptions, IntegrationSummary, KeyportErrorPayload, RedirectMode } from './api';
import { problemInWords } from './problems';

/** How long the window waits for the browser before it calls the sign-in expired (as the backend does). */
export const FLOW_TIMEOUT_MS = 10 * 60_000;

export const REDIRECT_LABEL: Record<RedirectMode, string> = {
  loopback: 'Local address on this computer (loopback)',
  'deep-link': 'Keyport link (deep link)',
  relay: 'Relay web page (https)',
};

/** The preset to preselect: the one marked default, else the first. */
export function defaultPresetId(integration: IntegrationSummary): string | null {
  return (integration.presets.find((p) => p.default) ?? integration.presets[0])?.id ?? null;
}

/** "a, b  c,,d" → ["a", "b", "c", "d"], without repeats. */
export function parseScopes(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

/** The start_connect options for what the user chose. Custom scopes override the preset. */
export function connectOptions(
  integration: IntegrationSummary,
  choice: { preset: string | null; redirect: RedirectMode; customScopes: string },
): Required<Omit<ConnectOptions, 'account'>> {
  const scopes = parseScopes(choice.customScopes);
  return {
    preset: scopes.length > 0 ? null : choice.preset,
    scopes: scopes.length > 0 ? scopes : null,
    // Only an override is sent; otherwise the backend keeps the integration's own default.
    redirect: choice.redirect === integration.redirect ? null : choice.redirect,
  };
}

/** What a sign-in is for: a new connection, signing in again, or more access on one. */
export type FlowPurpose = 'connect' | 'reconnect' | 'grant';

/** A sign-in on an existing connection (no choice to make: it starts at once). */
export interface FlowTarget {
  purpose: 'reconnect' | 'grant';
  connection: Connection;
}

export interface FlowProblem {
  title: string;
  text: string;
}

/** The headline of a sign-in that did not work, by what it was for. */
export function failedTitle(purpose: FlowPurpose, integrationName: string): string {
  switch (purpose) {
    case 'reconnect':
      return `Couldn’t reconnect ${integrationName}`;
    case 'grant':
      return 'Access wasn’t granted';
    default:
      return `Couldn’t connect ${integrationName}`;
  }
}

/**
 * What to tell the user about a sign-in that ended with `error`; null means
 * say nothing (they cancelled it themselves).
 */
export function flowProblem(
  error: Pick<KeyportErrorPayload, 'code' | 'message'>,
  integrationName: string,
  purpose: FlowPurpose = 'connect',
  providerName = 'The provider',
): FlowProblem | null {
  switch (error.code) {
    case 'oauth.cancelled':
      return null;
    case 'oauth.access_denied':
      return {
        title: purpose === 'connect' ? 'Not connected' : 'Nothing changed',
        text:
          purpose === 'connect'
            ? `You declined access, so nothing was connected. If that was a mistake, start again and allow access for ${integrationName}.`
            : `You declined access, so the connection stays as it was. If that was a mistake, try again and allow access for ${integrationName}.`,
      };
    case 'oauth.flow_expired':
    case 'oauth.timeout':
      return {
        title: 'The sign-in expired',
        text: 'The sign-in took too long and its link has expired. Start again to get a fresh one.',
      };
    case 'oauth.admin_approval_required':
      return { title: 'Your organisation must approve Keyport', text: error.message };
    case 'oauth.mfa_required':
      return { title: 'Your organisation wants a second step', text: error.message };
    case 'oauth.issuer_mismatch':
      // A possible mix-up attack: the backend names the server that answered.
      return { title: 'The answer came from another server', text: error.message };
    case 'connection.wrong_account':
      // The backend names both accounts ("You signed in as b@x.com; this connection is a@x.com. …").
      return { title: 'That was a different account', text: error.message };
    default:
      return { title: failedTitle(purpose, integrationName), text: problemInWords(error, providerName).text };
  }
}

/** Shown when the browser never answered within FLOW_TIMEOUT_MS. */
export const TIMED_OUT: FlowProblem = {
  title: 'The sign-in expired',
  text: 'Nothing came back from your browser in 10 minutes, so this sign-in has expired. Start again when you’re ready.',
};
