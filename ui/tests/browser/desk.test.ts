// The bookkeeper's desk: 200 connections (a mailbox per client) searched,
// sorted, filtered by label, made compact, noted, exported, reconnected in a
// row, seen in a small window, and each one's last 30 days as a timeline.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { ConnectionEvent, FlowEvent } from '../../src/lib/api';
import { backend, desk, started } from './fixtures';
import { argsOf, browserSession, docsScreenshot, emit, reply } from './session';

const { open } = browserSession('desk');

const many = desk(200);
const rows = (page: Page) => page.getByTestId('connection-row');
const row = (page: Page, id: string) => page.locator(`[data-connection="${id}"]`);
const rowIds = (page: Page) =>
  rows(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-connection') ?? ''));
const search = (page: Page) => page.getByRole('searchbox', { name: 'Search connections' });
const detail = (page: Page) => page.getByRole('complementary');
const dialog = (page: Page) => page.getByRole('dialog');
const accountOf = (page: Page, id: string) => row(page, id).locator('.account').innerText();

async function openDesk(page: Page) {
  await expect.poll(() => rows(page).count(), { timeout: 10_000 }).toBe(200);
}

/** The accounts (grants) whose sign-in was refused. */
const accounts = [...new Set(many.filter((c) => c.status === 'needs_reauth').map((c) => c.grant_id!))];

describe('A desk of 200 connections', () => {
  it('searches account, label, note and integration, forgiving a typo', async () => {
    const page = await open(backend({ list_connections: { ok: many } }), { hash: '#/connections' });
    await openDesk(page);
    const schroeder = many.filter((c) => c.display_name?.includes('Schröder'));
    expect(schroeder.length).toBeGreaterThan(0);

    // "schroder" (no umlaut) and "schrder" (a letter missing) both find Schröder's rows.
    for (const typed of ['schroder', 'schrder']) {
      await search(page).fill(typed);
      await expect.poll(() => rowIds(page).then((ids) => ids.sort())).toEqual(schroeder.map((c) => c.id).sort());
    }
    // A note: "since 2013" is in the notes of some clients only.
    await search(page).fill('since 2013');
    const noted = many.filter((c) => c.note?.includes('since 2013')).map((c) => c.id);
    await expect.poll(() => rowIds(page).then((ids) => ids.sort())).toEqual(noted.sort());
    // Two words narrow: the integration and a client.
    await search(page).fill('calendar müller');
    const mullerCalendars = many.filter((c) => c.integration === 'google-calendar' && c.display_name?.includes('Müller'));
    await expect.poll(() => rowIds(page).then((ids) => ids.sort())).toEqual(mullerCalendars.map((c) => c.id).sort());

    await search(page).fill('nobody-like-this');
    await expect.poll(() => page.getByText('No connections match “nobody-like-this”.').count()).toBe(1);
    await page.getByRole('button', { name: 'Clear search' }).click();
    await expect.poll(() => rows(page).count()).toBe(200);
    expect(await search(page).inputValue()).toBe('');
  });

  it('sorts by name and by last check, and keeps the choice', async () => {
    const page = await open(backend({ list_connections: { ok: many } }), { hash: '#/connections' });
    await openDesk(page);
    // Needs you first: every needs-reauth row comes before the first active one.
    const health = await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-health')));
    expect(health.lastIndexOf('attention')).toBeLessThan(health.indexOf('active'));

    await page.getByLabel('Sort').selectOption({ label: 'Name' });
    const byName = [...new Set(many.map((c) => c.email!))].sort((a, b) => a.localeCompare(b));
    await expect.poll(async () => accountOf(page, (await rowIds(page))[0]!)).toBe(byName[0]);

    await page.getByLabel('Sort').selectOption({ label: 'Last check' });
    const never = many.filter((c) => c.last_checked_at === null).map((c) => c.id);
    await expect.poll(async () => (await rowIds(page)).slice(0, never.length).sort()).toEqual([...never].sort());

    await page.reload();
    await openDesk(page);
    expect(await page.getByLabel('Sort').inputValue()).toBe('checked');
  });

  it('filters by label, and by no label', async () => {
    const page = await open(backend({ list_connections: { ok: many } }), { hash: '#/connections' });
    await openDesk(page);
    await page.getByLabel('Label').selectOption('Weber KG');
    const weber = many.filter((c) => c.label === 'Weber KG').map((c) => c.id);
    await expect.poll(() => rowIds(page).then((ids) => ids.sort())).toEqual(weber.sort());
    // The status chips count what the label leaves.
    const all = page.getByRole('radio', { name: /^All/ });
    expect(await all.getAttribute('value')).toBe('all');
    await expect.poll(() => page.locator('label.filter', { has: all }).innerText()).toContain(String(weber.length));

    await page.getByLabel('Label').selectOption({ label: 'No label' });
    const unlabelled = many.filter((c) => c.label === null).map((c) => c.id);
    await expect.poll(() => rowIds(page).then((ids) => ids.sort())).toEqual(unlabelled.sort());
  });

  it('has a compact list that fits twice the rows, and keeps it', async () => {
    const page = await open(backend({ list_connections: { ok: many } }), { hash: '#/connections' });
    await openDesk(page);
    // Off-screen accounts are not laid out (content-visibility): bring the row into view.
    await row(page, 'desk-1').scrollIntoViewIfNeeded();
    const height = () => row(page, 'desk-1').evaluate((el) => el.getBoundingClientRect().height);
    const roomy = await height();
    const compact = page.getByRole('button', { name: 'Compact list' });
    expect(await compact.getAttribute('aria-pressed')).toBe('false');
    await compact.click();
    expect(await compact.getAttribute('aria-pressed')).toBe('true');
    await expect.poll(height).toBeLessThan(roomy / 1.6);
    // The compact row still says who, which client and which integration.
    await row(page, 'desk-1').scrollIntoViewIfNeeded();
    await expect.poll(() => row(page, 'desk-1').innerText()).toContain('buchhaltung@schmidt-gmbh-001.example');
    const text = await row(page, 'desk-1').innerText();
    expect(text).toContain('Schmidt GmbH');
    expect(text).toContain('Gmail');
    await page.reload();
    await openDesk(page);
    expect(await page.getByRole('button', { name: 'Compact list' }).getAttribute('aria-pressed')).toBe('true');
    await page.evaluate(() => window.scrollTo(0, 0));
    await docsScreenshot(page, 'connections-busy.png');
  });

  it('keeps a note on a connection', async () => {
    const target = many.find((c) => c.id === 'desk-1')!;
    const page = await open(
      backend({
        list_connections: { ok: many },
        set_connection_note: { ok: { ...target, note: 'Client: Schmidt GmbH, payroll', updated_at: Date.now() } },
      }),
      { hash: '#/connections' },
    );
    await openDesk(page);
    await row(page, 'desk-1').locator('button.open').click();
    await detail(page).getByRole('button', { name: 'Add a note' }).click();
    const box = detail(page).getByRole('textbox', { name: /^Note on/ });
    await box.fill('  Client: Schmidt GmbH, payroll  ');
    await detail(page).getByRole('button', { name: 'Save note' }).click();
    await expect.poll(() => argsOf(page, 'set_connection_note')).toEqual([
      { connectionId: 'desk-1', note: 'Client: Schmidt GmbH, payroll' },
    ]);
    await expect.poll(() => detail(page).getByTestId('note').innerText()).toBe('Client: Schmidt GmbH, payroll');
    expect(await row(page, 'desk-1').innerText()).toContain('Client: Schmidt GmbH, payroll');
    // A failure keeps what was typed, with the reason.
    await reply(page, 'set_connection_note', { error: { code: 'input.invalid', message: 'a note can be at most 2000 characters' } });
    await detail(page).getByRole('button', { name: 'Edit note' }).click();
    await box.fill('x'.repeat(10));
    await detail(page).getByRole('button', { name: 'Save note' }).click();
    await expect.poll(() => detail(page).getByRole('alert').innerText()).toBe('a note can be at most 2000 characters');
    expect(await box.inputValue()).toBe('xxxxxxxxxx');
  });

  it('exports the list as CSV or JSON and shows where it went', async () => {
    const saved = { path: '/home/ana/Downloads/keyport-connections-2026-11-27.csv', count: 200 };
    const page = await open(backend({ list_connections: { ok: many }, export_connections: { ok: saved } }), {
      hash: '#/connections',
    });
    await openDesk(page);
    await page.getByRole('button', { name: 'Export CSV' }).click();
    await expect.poll(() => page.getByTestId('export-result').innerText()).toContain(
      `Saved 200 connections to ${saved.path}`,
    );
    await page.getByTestId('export-result').getByRole('button', { name: 'Show in folder' }).click();
    await expect.poll(() => argsOf(page, 'reveal_export')).toEqual([{ path: saved.path }]);

    await reply(page, 'export_connections', { error: { code: 'io.failed', message: 'could not write /home/ana/Downloads: disk full' } });
    await page.getByRole('button', { name: 'Export JSON' }).click();
    await expect.poll(() => page.getByTestId('export-result').innerText()).toContain(
      'Couldn’t export the list: could not write /home/ana/Downloads: disk full',
    );
    // Named with the person's own date, not UTC's.
    const today = await page.evaluate(() => new Date().toLocaleDateString('sv'));
    expect(await argsOf(page, 'export_connections')).toEqual([
      { format: 'csv', date: today },
      { format: 'json', date: today },
    ]);
  });

  it('reconnects those needing the person one account at a time, one browser tab each', async () => {
    const page = await open(backend({ list_connections: { ok: many }, reconnect_connection: { ok: started } }), {
      hash: '#/connections',
    });
    await openDesk(page);
    const total = accounts.length;
    await page.getByRole('button', { name: `Sign in again to ${total} accounts, one by one` }).click();
    await expect.poll(() => dialog(page).innerText()).toContain(`(1 of ${total})`);
    await expect.poll(() => argsOf(page, 'reconnect_connection')).toHaveLength(1);
    // One sign-in at a time: the next waits until this one is done.
    await page.waitForTimeout(300);
    expect(await argsOf(page, 'reconnect_connection')).toHaveLength(1);

    const finished = (flow_id: string, id: string): FlowEvent => ({
      flow_id,
      connection: { ...many.find((c) => c.id === id)!, status: 'active' },
      error: null,
    });
    const asked = async () =>
      ((await argsOf(page, 'reconnect_connection')) as { connectionId: string }[]).map((a) => a.connectionId);
    await emit(page, 'keyport://flow', finished(started.flow_id, (await asked())[0]!));
    await reply(page, 'reconnect_connection', { ok: { ...started, flow_id: 'flow-2' } });
    await dialog(page).getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => dialog(page).innerText()).toContain(`(2 of ${total})`);
    await expect.poll(asked).toHaveLength(2);

    // Skip, pressed twice before the dialog changed, cancels this sign-in once and goes on once.
    await reply(page, 'reconnect_connection', { ok: { ...started, flow_id: 'flow-3' } });
    await dialog(page)
      .getByRole('button', { name: 'Skip' })
      .evaluate((button: HTMLElement) => {
        button.click();
        button.click();
      });
    await expect.poll(() => dialog(page).innerText()).toContain(`(3 of ${total})`);
    await expect.poll(asked).toHaveLength(3);
    expect(await argsOf(page, 'cancel_connect')).toEqual([{ flowId: 'flow-2' }]);
    // The skipped sign-in finishing late does not end the one now waiting.
    await emit(page, 'keyport://flow', finished('flow-2', (await asked())[1]!));
    await page.waitForTimeout(200);
    expect(await dialog(page).innerText()).toContain('Waiting for you to finish in your browser');

    // Each account once, and only those that needed the person.
    const ids = await asked();
    expect(new Set(ids.map((id) => many.find((c) => c.id === id)!.grant_id)).size).toBe(3);
    expect(ids.every((id) => accounts.includes(many.find((c) => c.id === id)!.grant_id!))).toBe(true);

    // Stop ends the run and cancels the sign-in it was waiting for.
    await dialog(page).getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => dialog(page).count()).toBe(0);
    await expect.poll(() => argsOf(page, 'cancel_connect')).toEqual([{ flowId: 'flow-2' }, { flowId: 'flow-3' }]);
    await page.waitForTimeout(200);
    expect(await asked()).toHaveLength(3);
  });

  it('in an 800×600 window the detail opens over the list, and addresses stay whole', async () => {
    const page = await open(backend({ list_connections: { ok: many } }), {
      hash: '#/connections',
      viewport: { width: 800, height: 600 },
    });
    await openDesk(page);
    const width = () => row(page, 'desk-1').evaluate((el) => el.getBoundingClientRect().width);
    const before = await width();
    await row(page, 'desk-1').locator('button.open').click();
    await detail(page).getByRole('group', { name: /^Actions for/ }).waitFor();
    expect(await width()).toBe(before);
    const pane = await detail(page).boundingBox();
    // At the window's right edge (beside the page's scroll bar), over the list.
    expect(pane!.x + pane!.width).toBeGreaterThan(780);
    expect(pane!.x).toBeLessThan(before);
    expect(pane!.height).toBeGreaterThan(590);
    // The list keeps its rows under the open detail.
    const visible = await rows(page).evaluateAll(
      (els) => els.filter((el) => el.getBoundingClientRect().top < 600 && el.getBoundingClientRect().bottom > 0).length,
    );
    expect(visible).toBeGreaterThanOrEqual(3);
    // Under the drawer the list is out of reach, as under a dialog: Tab never lands under it.
    const under = () =>
      page.evaluate(() => document.activeElement?.closest('.accounts, .toolbar, .bulk, .filters') != null);
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      expect(await under()).toBe(false);
    }

    // The long hyphenated address is one line in its row (cut with "…"), and
    // in the detail breaks only after its "@".
    const long = 'lohnbuchhaltung-und-finanzen@mueller-und-soehne-steuerberatung.example';
    const lines = (selector: string) =>
      page.locator(selector).evaluate((el) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
      });
    expect(await lines('[data-connection="desk-7"] .account')).toBe(1);
    expect(await row(page, 'desk-7').locator('.account').getAttribute('title')).toBe(long);
    await detail(page).getByRole('button', { name: 'Close details' }).click();
    await row(page, 'desk-7').locator('button.open').click();
    const title = detail(page).locator('#connection-detail-title');
    await title.waitFor();
    const parts = await title.evaluate((el) =>
      [...el.querySelectorAll('.whole')].map((span) => {
        const rects = [...span.getClientRects()];
        return new Set(rects.map((r) => Math.round(r.top))).size;
      }),
    );
    expect(parts).toEqual([1, 1, 1]);
    await docsScreenshot(page, 'connections-small-window.png');
  });

  it('shows a connection’s last 30 days as a timeline, and a day’s events under it', async () => {
    // Noon of each day, so an event and the minute after it fall on one day.
    const noon = new Date();
    noon.setHours(12, 0, 0, 0);
    const at = (daysAgo: number) => new Date(noon).setDate(noon.getDate() - daysAgo);
    let id = 0;
    const event = (kind: string, when: number, code: string | null = null, message: string | null = null): ConnectionEvent => ({
      id: ++id,
      connection_id: 'desk-3',
      integration: 'gmail',
      at: when,
      kind,
      code,
      message,
    });
    const history: ConnectionEvent[] = [];
    for (let d = 29; d >= 1; d--) {
      history.push(event('refreshed', at(d)), event('checked', at(d) + 60_000));
    }
    history.push(event('degraded', at(12) + 120_000, 'provider.unreachable', 'Couldn’t reach Google.'));
    history.push(event('needs_reauth', at(0), 'oauth.invalid_grant', 'Google no longer accepts this sign-in.'));
    history.sort((a, b) => b.id - a.id);
    const page = await open(backend({ list_connections: { ok: many }, connection_events: { ok: history } }), {
      hash: '#/connections',
    });
    await openDesk(page);
    await row(page, 'desk-3').locator('button.open').click();
    const days = detail(page).getByTestId('timeline').getByRole('button');
    await expect.poll(() => days.count()).toBe(30);
    const tones = await days.evaluateAll((els) => els.map((el) => el.className.match(/tone-(\w+)/)?.[1]));
    expect(tones.filter((t) => t === 'bad')).toHaveLength(1);
    expect(tones.filter((t) => t === 'warn')).toHaveLength(1);
    expect(tones.filter((t) => t === 'ok').length).toBeGreaterThan(20);
    expect(await days.nth(17).getAttribute('aria-label')).toMatch(/1 check, 1 renewal, 1 problem$/);
    // The list shows 50 events at first, then all.
    const listed = detail(page).getByRole('list', { name: /^History of/ }).getByRole('listitem');
    expect(await listed.count()).toBe(50);
    await detail(page).getByRole('button', { name: `Show all ${history.length} events` }).click();
    await expect.poll(() => listed.count()).toBe(history.length);
    // The button is gone; focus is on the first event it showed, not lost.
    expect(await page.evaluate(() => document.activeElement?.closest('ol')?.getAttribute('aria-label'))).toMatch(/^History of/);
    // Picking a day shows its events; the arrow keys walk the days.
    await days.nth(17).click();
    await expect.poll(() => listed.allInnerTexts()).toEqual([
      expect.stringContaining('Having trouble'),
      expect.stringContaining('Checked'),
      expect.stringContaining('Access renewed'),
    ]);
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => listed.count()).toBe(2);
    expect(await days.nth(18).getAttribute('aria-pressed')).toBe('true');
    await detail(page).getByRole('button', { name: 'Show every day' }).click();
    await expect.poll(() => listed.count()).toBe(history.length);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toMatch(/1 check, 1 renewal$/);
    await docsScreenshot(page, 'connection-timeline.png');
  });
});
