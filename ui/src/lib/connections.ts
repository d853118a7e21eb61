// How connections read to a person: health groups, order, plain-word access,
// relative times. Pure functions; the views only render what these return.
import type { Connection, ConnectionEvent, IntegrationSummary, Usage } from './api';
import { problemInWords, type Problem } from './problems';

/**
 * What the user has to know at a glance; several backend states share one.
 * - attention: someone has to act (sign in again, or grant access that is missing);
 *   these are what the Connections tab counts.
 * - trouble: "degraded": still working, but the last refresh or check failed for a
 *   reason that usually passes (network, provider hiccup). Keyport retries by itself,
 *   so it is shown (amber, outlined) but not counted as needing the user.
 */
export type Health = 'attention' | 'trouble' | 'active' | 'connecting' | 'failed';

export const HEALTH_LABEL: Record<Health, string> = {
  attention: 'Needs attention',
  trouble: 'Having trouble',
  active: 'Active',
  connecting: 'Connecting',
  failed: 'Failed',
};

/** Needs-attention first: those are the rows someone has to act on. */
const HEALTH_ORDER: Health[] = ['attention', 'trouble', 'active', 'connecting', 'failed'];

export function healthOf(connection: Connection): Health {
  switch (connection.status) {
    case 'needs_reauth':
      return 'attention';
    case 'initiated':
      return 'connecting';
    case 'failed':
      return 'failed';
    case 'degraded':
      return connection.missing_scopes.length > 0 ? 'attention' : 'trouble';
    case 'active':
      return connection.missing_scopes.length > 0 ? 'attention' : 'active';
    default:
      // A state this UI does not know yet: show it where someone will look.
      return 'attention';
  }
}

/** The connection was signed in once (it has an account): check, reconnect and grant make sense. */
export function wasConnected(connection: Connection): boolean {
  return connection.subject !== null && connection.status !== 'initiated' && connection.status !== 'failed';
}

/** The one thing to do about a row, if any: what its quick button offers. */
export function primaryAction(connection: Connection): 'reconnect' | 'grant' | null {
  if (!wasConnected(connection)) return null;
  if (connection.status === 'needs_reauth') return 'reconnect';
  if (connection.missing_scopes.length > 0) return 'grant';
  return null;
}

/** The account as a person recognises it. */
export function accountName(connection: Connection): string {
  return connection.email?.trim() || connection.display_name?.trim() || 'Unknown account';
}

/** Needs attention first, then active, connecting, failed; by account within a group. */
export function sortConnections(connections: readonly Connection[]): Connection[] {
  const rank = (c: Connection) => HEALTH_ORDER.indexOf(healthOf(c));
  return [...connections].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      accountName(a).localeCompare(accountName(b), undefined, { sensitivity: 'base' }) ||
      (a.label ?? '').localeCompare(b.label ?? '') ||
      a.created_at - b.created_at,
  );
}

/** One account's sign-in (its grant) with the integrations enabled on it. */
export interface AccountGroup {
  /** The grant id (a connection's own id before its first sign-in finished). */
  key: string;
  account: string;
  provider: string;
  connections: Connection[];
}

/**
 * Connections grouped by account, the way GNOME Online Accounts shows Mail and
 * Calendar under one Google account: groups keep the order of their first row
 * in `sorted`, rows keep theirs within a group.
 */
export function groupByAccount(sorted: readonly Connection[]): AccountGroup[] {
  const groups = new Map<string, AccountGroup>();
  for (const c of sorted) {
    const key = c.grant_id ?? c.id;
    let group = groups.get(key);
    if (!group) {
      group = { key, account: accountName(c), provider: c.provider, connections: [] };
      groups.set(key, group);
    }
    group.connections.push(c);
  }
  return [...groups.values()];
}

/** Integrations of the group's provider the account does not have yet ("Add Calendar"). */
export function addableTo<T extends { id: string; provider: string; configured: boolean }>(
  group: AccountGroup,
  integrations: readonly T[],
): T[] {
  if (group.connections.every((c) => c.subject === null)) return [];
  const have = new Set(group.connections.map((c) => c.integration));
  return integrations.filter((i) => i.provider === group.provider && i.configured && !have.has(i.id));
}

export type HealthFilter = 'all' | 'attention' | 'trouble' | 'active' | 'failed';

export const FILTERS: { id: HealthFilter; label: string }[] = [
  { id: 'all', label: 'All' },
  { id: 'attention', label: 'Needs attention' },
  { id: 'trouble', label: 'Having trouble' },
  { id: 'active', label: 'Active' },
  { id: 'failed', label: 'Failed' },
];

export function filterConnections(connections: readonly Connection[], filter: HealthFilter): Connection[] {
  return filter === 'all' ? [...connections] : connections.filter((c) => healthOf(c) === filter);
}

export function countByFilter(connections: readonly Connection[]): Record<HealthFilter, number> {
  const counts: Record<HealthFilter, number> = { all: connections.length, attention: 0, trouble: 0, active: 0, failed: 0 };
  for (const c of connections) {
    const health = healthOf(c);
    if (health !== 'connecting') counts[health] += 1;
  }
  return counts;
}

/** "https://www.googleapis.com/auth/gmail.readonly" → "gmail.readonly"; "Mail.Read" stays. */
export function shortScope(scope: string): string {
  const match = /^https?:\/\/([^/]+)\/(.*)$/.exec(scope);
  if (!match) return scope;
  const path = match[2]!.replace(/\/+$/, '');
  return path === '' ? match[1]! : (path.split('/').at(-1) ?? path);
}

/** Labels of the presets whose scopes are all in `scopes`, leaving out one that another covers. */
function coveredPresets(scopes: readonly string[], integration: IntegrationSummary | undefined) {
  const have = new Set(scopes);
  const covered = (integration?.presets ?? []).filter(
    (preset) => preset.scopes.length > 0 && preset.scopes.every((s) => have.has(s)),
  );
  // "Read & send" with scopes {a, b} makes a covered "Read" with {a} redundant.
  return covered.filter(
    (preset) =>
      !covered.some(
        (other) =>
          other !== preset &&
          other.scopes.length > preset.scopes.length &&
          preset.scopes.every((s) => other.scopes.includes(s)),
      ),
  );
}

/** Scopes that only say who signed in (not what Keyport may do). */
const IDENTITY = /^(openid|email|profile|offline_access|https:\/\/www\.googleapis\.com\/auth\/userinfo\.(email|profile))$/;

/**
 * What a connection can do, in plain words: the labels of the integration's
 * presets that were granted in full, else the permissions themselves
 * (shortened; the first three and how many more).
 */
export function accessInWords(granted: readonly string[], integration: IntegrationSummary | undefined): string {
  const presets = coveredPresets(granted, integration);
  if (presets.length > 0) return presets.map((p) => p.label).join(', ');
  const what = granted.filter((s) => !IDENTITY.test(s)).map(shortScope);
  if (what.length === 0) return granted.length === 0 ? 'No access granted' : 'Only who you are';
  if (what.length <= 3) return what.join(', ');
  return `${what.slice(0, 3).join(', ')} and ${what.length - 3} more`;
}

/** Scopes as a person can read them: whole presets by label, the rest shortened. */
export function scopesInWords(scopes: readonly string[], integration: IntegrationSummary | undefined): string[] {
  const presets = coveredPresets(scopes, integration);
  const named = new Set(presets.flatMap((p) => p.scopes));
  return [...presets.map((p) => p.label), ...scopes.filter((s) => !named.has(s)).map(shortScope)];
}

/** The connection's last error in words a person can act on (problemInWords). */
export function lastProblem(connection: Connection): Problem | null {
  if (!connection.last_error_code && !connection.last_error_message?.trim()) return null;
  return problemInWords(
    { code: connection.last_error_code, message: connection.last_error_message },
    providerName(connection.provider),
  );
}

/** Why a row needs a look, or null when it is fine. */
export function attentionReason(connection: Connection, integration: IntegrationSummary | undefined): string | null {
  const error = lastProblem(connection)?.text;
  switch (connection.status) {
    case 'needs_reauth':
      return error || 'Sign in again to keep this connection working.';
    case 'failed':
      return error || 'The sign-in did not finish.';
    case 'initiated':
      return 'Waiting for the sign-in to finish in the browser.';
  }
  if (connection.missing_scopes.length > 0) {
    return `Missing access: ${scopesInWords(connection.missing_scopes, integration).join(', ')}`;
  }
  if (connection.status === 'degraded') {
    if (error && /by itself/.test(error)) return error;
    return `${error || 'The last check did not succeed.'} Keyport will try again by itself.`;
  }
  return null;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", then a date. */
export function relativeTime(at: number, now: number): string {
  const ago = now - at;
  if (ago < MINUTE) return 'just now';
  if (ago < HOUR) return `${Math.floor(ago / MINUTE)} min ago`;
  if (ago < DAY) return `${Math.floor(ago / HOUR)} h ago`;
  if (ago < 2 * DAY) return 'yesterday';
  if (ago < 7 * DAY) return `${Math.floor(ago / DAY)} days ago`;
  return new Date(at).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function lastCheckedInWords(connection: Connection, now: number): string {
  if (connection.last_checked_at === null) return 'Not checked yet';
  const when = relativeTime(connection.last_checked_at, now);
  return connection.last_check_ok === false ? `Check failed ${when}` : `Checked ${when}`;
}

/**
 * Which programs took this connection's tokens, from its usage history
 * (newest first): "neomutt, 2 min ago", then the other programs by name.
 */
export function usedByInWords(uses: Usage[], now: number): string {
  const [newest] = uses;
  if (newest === undefined) return 'No program yet';
  const name = (u: Usage) => u.program ?? 'an unknown program';
  const latest = `${name(newest)}, ${relativeTime(newest.at, now)}`;
  const others = [...new Set(uses.map(name))].filter((n) => n !== name(newest));
  return others.length === 0 ? latest : `${latest}; also ${others.join(', ')}`;
}

const EVENT_WORDS: Record<string, string> = {
  connect_started: 'Sign-in started',
  reconnect_started: 'Reconnect started',
  grant_started: 'Asked for more access',
  connected: 'Connected',
  reconnected: 'Reconnected',
  scopes_granted: 'More access granted',
  failed: 'Sign-in failed',
  cancelled: 'Sign-in cancelled',
  renamed: 'Renamed',
  checked: 'Checked',
  check_failed: 'Check failed',
  refreshed: 'Access renewed',
  refresh_failed: 'Renewing access failed',
  imported: 'Imported',
  degraded: 'Having trouble',
  needs_reauth: 'Needs a new sign-in',
  disconnected: 'Disconnected',
  revoked: 'Access revoked at the provider',
  revocation_unsupported: 'Provider can’t revoke access',
  revocation_failed: 'Revoking access failed',
  revocation_settled: 'Nothing left to revoke',
};

/** An event kind ("scopes_granted") in words ("More access granted"). */
export function eventInWords(event: Pick<ConnectionEvent, 'kind'>): string {
  const known = EVENT_WORDS[event.kind];
  if (known) return known;
  const words = event.kind.replace(/[_.-]+/g, ' ').trim();
  return words === '' ? 'Event' : words[0]!.toUpperCase() + words.slice(1);
}

/** "messagesTotal" → "Messages total"; "emailAddress" → "Email address". */
export function humanizeKey(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words === '' ? key : words[0]!.toUpperCase() + words.slice(1);
}

const PROVIDER_NAMES: Record<string, string> = { google: 'Google', microsoft: 'Microsoft' };

/** "google" → "Google"; an unknown provider id gets a capital first letter. */
export function providerName(provider: string): string {
  return PROVIDER_NAMES[provider] ?? (provider ? provider[0]!.toUpperCase() + provider.slice(1) : provider);
}

/** The colour of an event's dot in the history: how it went. */
export function eventTone(event: Pick<ConnectionEvent, 'kind' | 'code'>): 'ok' | 'warn' | 'bad' | 'neutral' {
  // "revoked" is Keyport's own revocation on disconnect going through: that went well.
  if (event.kind === 'revoked' || event.kind === 'revocation_settled') return 'ok';
  if (event.kind === 'degraded' || event.kind === 'revocation_unsupported') return 'warn';
  if (/fail|denied|expired|revoked|needs_reauth/.test(event.kind)) return 'bad';
  if (event.kind === 'disconnected') return 'neutral';
  if (event.code) return 'warn';
  if (/started|renamed|cancel/.test(event.kind)) return 'neutral';
  return 'ok';
}
