import { describe, expect, it } from 'vitest';
import type { ConnectionEvent } from './api';
import {
  NO_LABEL,
  dayInWords,
  editDistance,
  labelsOf,
  needingReconnect,
  searchConnections,
  sortBy,
  timeline,
  withLabel,
} from './desk';
import { connection } from './testing';

const NAMES: Record<string, string> = { gmail: 'Gmail', 'google-calendar': 'Google Calendar' };
const name = (id: string) => NAMES[id] ?? id;
const ids = (list: { id: string }[]) => list.map((c) => c.id);

const desk = [
  connection({ id: 'mueller', email: 'buchhaltung@mueller-gmbh.example', label: 'Müller GmbH', note: 'VAT returns monthly' }),
  connection({ id: 'schmidt', email: 'office@schmidt.example', label: 'Schmidt KG', display_name: 'Petra Schmidt' }),
  connection({
    id: 'cal',
    email: 'ana@firm.example',
    integration: 'google-calendar',
    status: 'needs_reauth',
    last_checked_at: 5,
  }),
  connection({ id: 'bo', email: 'bo@firm.example', last_checked_at: 9 }),
];

describe('editDistance', () => {
  it('counts an adjacent swap as one edit', () => {
    expect(editDistance('gmial', 'gmail', 2)).toBe(1);
    expect(editDistance('muller', 'mueller', 2)).toBe(1);
    expect(editDistance('abc', 'abc', 0)).toBe(0);
  });

  it('stops past the limit', () => {
    expect(editDistance('kitten', 'sitting', 1)).toBe(2);
    expect(editDistance('a', 'abcdef', 2)).toBe(3);
  });
});

describe('searchConnections', () => {
  it('keeps all, in order, for a blank query', () => {
    expect(ids(searchConnections(desk, '  ', name))).toEqual(ids(desk));
  });

  it('looks in account, label, note, name and integration, across accents and case', () => {
    expect(ids(searchConnections(desk, 'müller', name))).toEqual(['mueller']);
    expect(ids(searchConnections(desk, 'MULLER', name))).toEqual(['mueller']);
    expect(ids(searchConnections(desk, 'vat', name))).toEqual(['mueller']);
    expect(ids(searchConnections(desk, 'petra', name))).toEqual(['schmidt']);
    expect(ids(searchConnections(desk, 'calendar', name))).toEqual(['cal']);
    expect(ids(searchConnections(desk, 'firm.example', name))).toEqual(['cal', 'bo']);
  });

  it('forgives a typo in longer words, not in short ones', () => {
    expect(ids(searchConnections(desk, 'schmitd', name))).toEqual(['schmidt']);
    expect(ids(searchConnections(desk, 'calender', name))).toEqual(['cal']);
    expect(ids(searchConnections(desk, 'buchaltung', name))).toEqual(['mueller']);
    expect(ids(searchConnections(desk, 'bx', name))).toEqual([]);
    expect(ids(searchConnections(desk, 'zzzzzz', name))).toEqual([]);
    const years = [connection({ id: 'y13', note: 'since 2013' }), connection({ id: 'y14', note: 'since 2014' })];
    expect(ids(searchConnections(years, '2013', name))).toEqual(['y13']);
  });

  it('needs every word', () => {
    expect(ids(searchConnections(desk, 'firm bo', name))).toEqual(['bo']);
    expect(ids(searchConnections(desk, 'schmidt vat', name))).toEqual([]);
  });
});

describe('sortBy', () => {
  it('puts those needing the person first by default', () => {
    expect(ids(sortBy(desk, 'attention'))[0]).toBe('cal');
  });

  it('sorts by account name', () => {
    expect(ids(sortBy(desk, 'name'))).toEqual(['cal', 'bo', 'mueller', 'schmidt']);
  });

  it('puts the longest unchecked first, never checked before all', () => {
    expect(ids(sortBy(desk, 'checked'))).toEqual(['mueller', 'schmidt', 'cal', 'bo']);
  });
});

describe('labels', () => {
  it('lists each label once, A–Z', () => {
    expect(labelsOf([...desk, connection({ id: 'x', label: ' Müller GmbH ' })])).toEqual(['Müller GmbH', 'Schmidt KG']);
  });

  it('filters by a label, by no label, or not at all', () => {
    expect(ids(withLabel(desk, 'Schmidt KG'))).toEqual(['schmidt']);
    expect(ids(withLabel(desk, NO_LABEL))).toEqual(['cal', 'bo']);
    expect(ids(withLabel(desk, ''))).toEqual(ids(desk));
  });
});

describe('needingReconnect', () => {
  it('takes the refused sign-ins only, one per account', () => {
    const pending = connection({ id: 'p', status: 'needs_reauth', subject: null });
    const sameAccount = connection({ id: 'cal-gmail', status: 'needs_reauth', grant_id: 'cal' });
    expect(ids(needingReconnect([...desk, pending, sameAccount]))).toEqual(['cal']);
  });
});

describe('timeline', () => {
  const now = new Date(2026, 10, 27, 15, 0).getTime();
  const at = (daysAgo: number, hour = 10) => new Date(2026, 10, 27 - daysAgo, hour).getTime();
  let id = 0;
  const event = (kind: string, when: number, code: string | null = null): ConnectionEvent => ({
    id: ++id,
    connection_id: 'c1',
    integration: 'gmail',
    at: when,
    kind,
    code,
    message: null,
  });

  it('has 30 days, oldest first, today last', () => {
    const days = timeline([], now);
    expect(days).toHaveLength(30);
    expect(days[29]!.start).toBe(new Date(2026, 10, 27).getTime());
    expect(days[0]!.start).toBe(new Date(2026, 9, 29).getTime());
    expect(days.every((d) => d.tone === 'none')).toBe(true);
  });

  it('colours a day by its worst event and counts what happened', () => {
    const days = timeline(
      [
        event('refreshed', at(0, 9)),
        event('refreshed', at(0, 10)),
        event('checked', at(0, 11)),
        event('degraded', at(1), 'provider.unreachable'),
        event('checked', at(1, 12)),
        event('needs_reauth', at(2), 'oauth.invalid_grant'),
        event('checked', at(2, 12)),
        event('checked', at(40)),
      ],
      now,
    );
    const [today, yesterday, before] = [days[29]!, days[28]!, days[27]!];
    expect([today.tone, yesterday.tone, before.tone]).toEqual(['ok', 'warn', 'bad']);
    expect([today.checks, today.renewals, today.problems]).toEqual([1, 2, 0]);
    expect(yesterday.problems).toBe(1);
    expect(days.flatMap((d) => d.events)).toHaveLength(7);
    expect(dayInWords(today)).toMatch(/27.*1 check, 2 renewals$/);
    expect(dayInWords(days[0]!)).toMatch(/nothing happened$/);
  });
});
