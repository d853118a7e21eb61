import { describe, expect, it } from 'vitest';
import type { Connection, IntegrationSummary } from './api';
import {
  accessInWords,
  accountName,
  addableTo,
  attentionReason,
  countByFilter,
  eventInWords,
  eventTone,
  filterConnections,
  groupByAccount,
  healthOf,
  humanizeKey,
  lastCheckedInWords,
  primaryAction,
  providerName,
  relativeTime,
  usedByInWords,
  scopesInWords,
  shortScope,
  sortConnections,
} from './connections';
import { connection } from './testing';

const READ = 'https://www.googleapis.com/auth/gmail.readonly';
const MODIFY = 'https://www.googleapis.com/auth/gmail.modify';
const FULL = 'https://mail.google.com/';

const gmail = {
  id: 'gmail',
  presets: [
    { id: 'read', label: 'Read only', description: '', scopes: [READ], default: true },
    { id: 'send', label: 'Read & send', description: '', scopes: [READ, MODIFY], default: false },
    { id: 'full', label: 'Full mailbox (IMAP/SMTP)', description: '', scopes: [FULL], default: false },
  ],
} as unknown as IntegrationSummary;

describe('health', () => {
  it.each([
    ['active', [], 'active'],
    ['active', [MODIFY], 'attention'],
    ['needs_reauth', [], 'attention'],
    ['degraded', [], 'trouble'],
    ['degraded', [MODIFY], 'attention'],
    ['initiated', [], 'connecting'],
    ['failed', [], 'failed'],
    ['failed', [MODIFY], 'failed'],
  ] as const)('%s with missing %j is %s', (status, missing, health) => {
    expect(healthOf(connection({ status, missing_scopes: [...missing] }))).toBe(health);
  });

  it('a state this UI does not know asks for attention', () => {
    expect(healthOf(connection({ status: 'revoked' as Connection['status'] }))).toBe('attention');
  });

  it('offers Reconnect for a lost sign-in, Grant access for missing access, else nothing', () => {
    expect(primaryAction(connection({ status: 'needs_reauth', missing_scopes: [MODIFY] }))).toBe('reconnect');
    expect(primaryAction(connection({ missing_scopes: [MODIFY] }))).toBe('grant');
    expect(primaryAction(connection({ status: 'degraded', missing_scopes: [MODIFY] }))).toBe('grant');
    expect(primaryAction(connection())).toBeNull();
    expect(primaryAction(connection({ status: 'degraded' }))).toBeNull();
    // Never signed in: there is no account to reconnect.
    expect(primaryAction(connection({ status: 'failed', subject: null, missing_scopes: [MODIFY] }))).toBeNull();
    expect(primaryAction(connection({ status: 'initiated', subject: null }))).toBeNull();
  });
});

describe('order and filters', () => {
  const rows = [
    connection({ id: 'ok-b', email: 'bob@firm.example' }),
    connection({ id: 'failed', email: 'x@firm.example', status: 'failed' }),
    connection({ id: 'ok-a', email: 'Ana@firm.example' }),
    connection({ id: 'reauth', email: 'zed@firm.example', status: 'needs_reauth' }),
    connection({ id: 'pending', email: null, display_name: null, status: 'initiated' }),
    connection({ id: 'missing', email: 'carl@firm.example', missing_scopes: [MODIFY] }),
    connection({ id: 'shaky', email: 'dora@firm.example', status: 'degraded' }),
  ];

  it('puts needs-attention first, then having trouble, active, connecting, failed; by account within a group', () => {
    expect(sortConnections(rows).map((c) => c.id)).toEqual(['missing', 'reauth', 'shaky', 'ok-a', 'ok-b', 'pending', 'failed']);
    expect(rows[0]!.id).toBe('ok-b'); // the input is left alone
  });

  it('filters by health and counts each filter', () => {
    expect(filterConnections(rows, 'attention').map((c) => c.id)).toEqual(['reauth', 'missing']);
    expect(filterConnections(rows, 'failed').map((c) => c.id)).toEqual(['failed']);
    expect(filterConnections(rows, 'trouble').map((c) => c.id)).toEqual(['shaky']);
    expect(filterConnections(rows, 'all')).toHaveLength(7);
    expect(countByFilter(rows)).toEqual({ all: 7, attention: 2, trouble: 1, active: 2, failed: 1 });
  });

  it('names the account by email, else display name, else “Unknown account”', () => {
    expect(accountName(connection())).toBe('ana@firm.example');
    expect(accountName(connection({ email: null }))).toBe('Ana');
    expect(accountName(connection({ email: ' ', display_name: null }))).toBe('Unknown account');
  });
});

describe('scopes in plain words', () => {
  it('names the presets granted in full, ignoring identity scopes', () => {
    expect(accessInWords(['openid', 'email', READ], gmail)).toBe('Read only');
    expect(accessInWords([FULL], gmail)).toBe('Full mailbox (IMAP/SMTP)');
  });

  it('leaves out a preset that a larger granted preset covers', () => {
    expect(accessInWords([READ, MODIFY], gmail)).toBe('Read & send');
    expect(accessInWords([READ, MODIFY, FULL], gmail)).toBe('Read & send, Full mailbox (IMAP/SMTP)');
  });

  it('falls back to a count when no preset is granted in full', () => {
    expect(accessInWords([MODIFY, 'openid'], gmail)).toBe('gmail.modify');
    expect(accessInWords(['x'], undefined)).toBe('x');
    expect(accessInWords(['openid', 'https://www.googleapis.com/auth/userinfo.email'], undefined)).toBe(
      'Only who you are',
    );
    expect(accessInWords(['a', 'b', 'c', 'd', 'e', 'openid'], undefined)).toBe('a, b, c and 2 more');
    expect(accessInWords([], gmail)).toBe('No access granted');
  });

  it('lists scopes by preset label, the rest shortened', () => {
    expect(scopesInWords([FULL], gmail)).toEqual(['Full mailbox (IMAP/SMTP)']);
    expect(scopesInWords([MODIFY, 'Mail.Send'], gmail)).toEqual(['gmail.modify', 'Mail.Send']);
  });

  it.each([
    [READ, 'gmail.readonly'],
    [FULL, 'mail.google.com'],
    ['https://graph.microsoft.com/Mail.Read', 'Mail.Read'],
    ['offline_access', 'offline_access'],
  ])('shortScope(%s) is %s', (scope, short) => {
    expect(shortScope(scope)).toBe(short);
  });

  it('says why a row needs attention', () => {
    expect(attentionReason(connection({ missing_scopes: [FULL] }), gmail)).toBe(
      'Missing access: Full mailbox (IMAP/SMTP)',
    );
    expect(attentionReason(connection({ status: 'needs_reauth', last_error_message: 'Access was revoked.' }), gmail)).toBe(
      'Access was revoked.',
    );
    expect(attentionReason(connection({ status: 'needs_reauth' }), gmail)).toMatch(/Sign in again/);
    expect(attentionReason(connection(), gmail)).toBeNull();
    expect(attentionReason(connection({ status: 'degraded', last_error_message: 'Google could not be reached.' }), gmail)).toBe(
      'Google could not be reached. Keyport will try again by itself.',
    );
    expect(attentionReason(connection({ status: 'degraded', missing_scopes: [FULL] }), gmail)).toBe(
      'Missing access: Full mailbox (IMAP/SMTP)',
    );
  });
});

describe('times and events', () => {
  const now = Date.UTC(2025, 5, 15, 12, 0, 0);
  it.each([
    [now - 5_000, 'just now'],
    [now - 5 * 60_000, '5 min ago'],
    [now - 3 * 3_600_000, '3 h ago'],
    [now - 30 * 3_600_000, 'yesterday'],
    [now - 4 * 86_400_000, '4 days ago'],
  ])('relativeTime(%i) is %s', (at, words) => {
    expect(relativeTime(at, now)).toBe(words);
  });

  it('gives a date for anything older than a week', () => {
    expect(relativeTime(now - 30 * 86_400_000, now)).toMatch(/2025/);
  });

  it('says when the connection was last checked and whether that failed', () => {
    expect(lastCheckedInWords(connection(), now)).toBe('Not checked yet');
    expect(lastCheckedInWords(connection({ last_checked_at: now - 120_000, last_check_ok: true }), now)).toBe(
      'Checked 2 min ago',
    );
    expect(lastCheckedInWords(connection({ last_checked_at: now - 120_000, last_check_ok: false }), now)).toBe(
      'Check failed 2 min ago',
    );
  });

  it('puts event kinds in words, known or not', () => {
    expect(eventInWords({ kind: 'scopes_granted' })).toBe('More access granted');
    expect(eventInWords({ kind: 'connect_started' })).toBe('Sign-in started');
    expect(eventInWords({ kind: 'token_rotated' })).toBe('Token rotated');
    expect(eventInWords({ kind: 'revocation_unsupported' })).toBe('Provider can’t revoke access');
    expect(eventInWords({ kind: 'needs_reauth' })).toBe('Needs a new sign-in');
  });

  it('colours events by outcome', () => {
    expect(eventTone({ kind: 'connected', code: null })).toBe('ok');
    expect(eventTone({ kind: 'connected', code: 'oauth.scopes_missing' })).toBe('warn');
    expect(eventTone({ kind: 'failed', code: 'oauth.access_denied' })).toBe('bad');
    expect(eventTone({ kind: 'connect_started', code: null })).toBe('neutral');
    expect(eventTone({ kind: 'revoked', code: null })).toBe('ok');
    expect(eventTone({ kind: 'revocation_failed', code: 'provider.unreachable' })).toBe('bad');
    expect(eventTone({ kind: 'degraded', code: 'provider.unreachable' })).toBe('warn');
    expect(eventTone({ kind: 'needs_reauth', code: 'oauth.invalid_grant' })).toBe('bad');
    expect(eventTone({ kind: 'disconnected', code: null })).toBe('neutral');
  });

  it('humanizes profile keys and provider ids', () => {
    expect(humanizeKey('messagesTotal')).toBe('Messages total');
    expect(humanizeKey('threads_total')).toBe('Threads total');
    expect(providerName('google')).toBe('Google');
    expect(providerName('acme')).toBe('Acme');
  });
});

describe('usedByInWords', () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  const use = (program: string | null, minutesAgo: number) => ({
    connection_id: 'c1',
    at: now - minutesAgo * 60_000,
    kind: 'xoauth2',
    program,
    program_path: program && `/usr/bin/${program}`,
  });

  it('says when nothing took a token', () => {
    expect(usedByInWords([], now)).toBe('No program yet');
  });

  it('names the newest program and when, then the others once each', () => {
    expect(usedByInWords([use('neomutt', 2)], now)).toBe('neomutt, 2 min ago');
    expect(usedByInWords([use('neomutt', 2), use('python3', 30), use('neomutt', 60), use(null, 90)], now)).toBe(
      'neomutt, 2 min ago; also python3, an unknown program',
    );
  });
});

describe('accounts', () => {
  const calendar = { id: 'google-calendar', provider: 'google', configured: true };
  const drive = { id: 'google-drive', provider: 'google', configured: false };
  const outlook = { id: 'outlook', provider: 'microsoft', configured: true };

  it('groups the integrations of one sign-in under their account, in list order', () => {
    const rows = [
      connection({ id: 'bo-gmail', email: 'bo@firm.example', grant_id: 'g-bo' }),
      connection({ id: 'ana-gmail', grant_id: 'g-ana' }),
      connection({ id: 'ana-cal', integration: 'google-calendar', grant_id: 'g-ana' }),
      connection({ id: 'new', status: 'initiated', subject: null, email: null, display_name: null, grant_id: null }),
    ];
    const groups = groupByAccount(rows);
    expect(groups.map((g) => [g.key, g.account, g.connections.map((c) => c.id)])).toEqual([
      ['g-bo', 'bo@firm.example', ['bo-gmail']],
      ['g-ana', 'ana@firm.example', ['ana-gmail', 'ana-cal']],
      ['new', 'Unknown account', ['new']],
    ]);
  });

  it('offers what the account lacks from its provider, set up here', () => {
    const [ana] = groupByAccount([connection({ grant_id: 'g' })]);
    expect(addableTo(ana!, [calendar, drive, outlook, { id: 'gmail', provider: 'google', configured: true }])).toEqual([
      calendar,
    ]);
    const [pending] = groupByAccount([connection({ status: 'initiated', subject: null, grant_id: null })]);
    expect(addableTo(pending!, [calendar])).toEqual([]);
  });
});
