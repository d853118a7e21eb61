// The list at scale, for a bookkeeper with a mailbox per client: forgiving
// search, sort orders, labels, and each connection's last 30 days as a
// timeline. Pure functions; ConnectionsView and ConnectionDetail render them.
import type { Connection, ConnectionEvent } from './api';
import { accountName, eventTone, providerName, sortConnections } from './connections';

/** Lower-case, accent-free text ("Müller" → "muller"). */
export function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{Diacritic}/gu, '').toLowerCase();
}

/** The words of a text for matching: "bo@client-co.example" → bo, client, co, example. */
function words(text: string): string[] {
  return fold(text)
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/**
 * Edit distance with adjacent swaps counting once (optimal string alignment):
 * "gmial" is one edit from "gmail". Stops early past `limit`.
 */
export function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
      best = Math.min(best, d);
    }
    if (best > limit) return limit + 1;
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * How many typos a query word may have: none in short words or in numbers
 * ("2013" is not "2014"), one from 4 letters, two from 8.
 */
function typosAllowed(word: string): number {
  if (/\p{N}/u.test(word)) return 0;
  return word.length >= 8 ? 2 : word.length >= 4 ? 1 : 0;
}

/** A query word found in a text's words: inside one, or as its start with a typo or two. */
function found(query: string, haystack: readonly string[], whole: string): boolean {
  if (whole.includes(query)) return true;
  const limit = typosAllowed(query);
  if (limit === 0) return false;
  return haystack.some(
    (word) =>
      editDistance(query, word.slice(0, query.length), limit) <= limit ||
      editDistance(query, word, limit) <= limit,
  );
}

interface Indexed {
  whole: string;
  words: string[];
}

const index = new WeakMap<Connection, Indexed>();

/** What search looks in: account, name, label, note, integration, provider. */
function indexed(connection: Connection, integrationName: (id: string) => string): Indexed {
  let entry = index.get(connection);
  if (!entry) {
    const text = [
      connection.email,
      connection.display_name,
      connection.label,
      connection.note,
      integrationName(connection.integration),
      providerName(connection.provider),
    ]
      .filter(Boolean)
      .join('\n');
    entry = { whole: fold(text), words: words(text) };
    index.set(connection, entry);
  }
  return entry;
}

/**
 * Connections matching every word of `query` in their account, name, label,
 * note or integration; forgiving of case, accents and a typo ("mueler"
 * finds "Müller"). A blank query keeps them all, in order.
 */
export function searchConnections(
  connections: readonly Connection[],
  query: string,
  integrationName: (id: string) => string,
): Connection[] {
  const wanted = words(query);
  if (wanted.length === 0) return [...connections];
  return connections.filter((c) => {
    const { whole, words: haystack } = indexed(c, integrationName);
    return wanted.every((w) => found(w, haystack, whole));
  });
}

export type SortKey = 'attention' | 'name' | 'checked';

export const SORTS: { id: SortKey; label: string }[] = [
  { id: 'attention', label: 'Needs you first' },
  { id: 'name', label: 'Name' },
  { id: 'checked', label: 'Last check' },
];

const byName = (a: Connection, b: Connection) =>
  accountName(a).localeCompare(accountName(b), undefined, { sensitivity: 'base' }) ||
  (a.label ?? '').localeCompare(b.label ?? '') ||
  a.created_at - b.created_at;

/**
 * The list in the chosen order. "Needs you first" ranks by health; "Name"
 * goes by account A–Z; "Last check" puts the longest unchecked first (never
 * checked before all), so the forgotten ones show.
 */
export function sortBy(connections: readonly Connection[], key: SortKey): Connection[] {
  switch (key) {
    case 'attention':
      return sortConnections(connections);
    case 'name':
      return [...connections].sort(byName);
    case 'checked':
      return [...connections].sort(
        (a, b) => (a.last_checked_at ?? -1) - (b.last_checked_at ?? -1) || byName(a, b),
      );
  }
}

/** Every label in use, A–Z, each once ("Müller GmbH", "Schmidt KG"). */
export function labelsOf(connections: readonly Connection[]): string[] {
  const labels = new Set(connections.map((c) => c.label?.trim()).filter((l): l is string => Boolean(l)));
  return [...labels].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
}

/** `''` shows all; NO_LABEL the unlabelled ones; else that label's. Labels are trimmed, so none starts with a space. */
export const NO_LABEL = ' none';

export function withLabel(connections: readonly Connection[], label: string): Connection[] {
  if (label === '') return [...connections];
  if (label === NO_LABEL) return connections.filter((c) => !c.label?.trim());
  return connections.filter((c) => c.label?.trim() === label);
}

/**
 * Those a "Reconnect those needing me" run takes, in list order: signed in
 * once, now refused; one per account, since one sign-in heals every
 * integration on it.
 */
export function needingReconnect(connections: readonly Connection[]): Connection[] {
  const accounts = new Set<string>();
  return connections.filter((c) => {
    if (c.status !== 'needs_reauth' || c.subject === null) return false;
    const account = c.grant_id ?? c.id;
    if (accounts.has(account)) return false;
    accounts.add(account);
    return true;
  });
}

/** How a day went, from its worst event. */
export type DayTone = 'bad' | 'warn' | 'ok' | 'none';

export interface Day {
  /** Local midnight, ms. */
  start: number;
  tone: DayTone;
  checks: number;
  renewals: number;
  problems: number;
  events: ConnectionEvent[];
}

function midnight(at: number): number {
  const d = new Date(at);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

const TONE_RANK: Record<DayTone, number> = { none: 0, ok: 1, warn: 2, bad: 3 };

/**
 * The last `days` days (oldest first, today last) with each day's events and
 * how it went: red with a failure, amber with trouble, green with checks or
 * renewals that worked, empty without events.
 */
export function timeline(events: readonly ConnectionEvent[], now: number, days = 30): Day[] {
  const today = midnight(now);
  const out: Day[] = [];
  const byStart = new Map<number, Day>();
  for (let i = days - 1; i >= 0; i--) {
    // Local midnights, so a day is a calendar day also across a DST change.
    const d = new Date(today);
    d.setDate(d.getDate() - i);
    const day: Day = { start: d.getTime(), tone: 'none', checks: 0, renewals: 0, problems: 0, events: [] };
    out.push(day);
    byStart.set(day.start, day);
  }
  for (const event of events) {
    const day = byStart.get(midnight(event.at));
    if (!day) continue;
    day.events.push(event);
    const tone = eventTone(event);
    const dayTone: DayTone = tone === 'neutral' ? 'none' : tone;
    if (TONE_RANK[dayTone] > TONE_RANK[day.tone]) day.tone = dayTone;
    if (tone === 'bad' || tone === 'warn') day.problems += 1;
    else if (event.kind === 'checked') day.checks += 1;
    else if (event.kind === 'refreshed') day.renewals += 1;
  }
  return out;
}

/** "27 Nov: 2 checks, 24 renewals, 1 problem" — a day of the timeline in words. */
export function dayInWords(day: Day): string {
  const date = new Date(day.start).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
  const parts: string[] = [];
  const count = (n: number, one: string, many: string) => n > 0 && parts.push(`${n} ${n === 1 ? one : many}`);
  count(day.checks, 'check', 'checks');
  count(day.renewals, 'renewal', 'renewals');
  count(day.problems, 'problem', 'problems');
  const other = day.events.length - day.checks - day.renewals - day.problems;
  count(other, 'other event', 'other events');
  return `${date}: ${parts.length === 0 ? 'nothing happened' : parts.join(', ')}`;
}
