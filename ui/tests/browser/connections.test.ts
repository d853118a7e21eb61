// The Connections view: order, status words, filters, rename, history, live updates.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { backend, connection, connections } from './fixtures';
import { argsOf, browserSession, calls, emit, reply, screenshot } from './session';

const { open } = browserSession('connections');

const rows = (page: Page) => page.getByTestId('connection-row');
const row = (page: Page, id: string) => page.locator(`[data-connection="${id}"]`);
const rowIds = (page: Page) =>
  rows(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-connection') ?? ''));
const tab = (page: Page) => page.getByRole('link', { name: /^Connections/ });

/** Click a filter chip as a person would (the radio inside is visually hidden). */
async function filterBy(page: Page, name: string) {
  await page.locator('label', { has: page.getByRole('radio', { name: new RegExp(`^${name}`) }) }).click();
  await expect(page.getByRole('radio', { name: new RegExp(`^${name}`) }).isChecked()).resolves.toBe(true);
}

async function openList(page: Page) {
  await rows(page).first().waitFor();
}

describe('Connections view', () => {
  it('lists needs-attention rows first, with account, label, status, access and last check', async () => {
    const page = await open(backend({ list_connections: { ok: connections } }), { hash: '#/connections' });
    await openList(page);
    // conn-4 lacks calendar access and conn-3 must sign in again: both need attention. Ana's
    // Gmail (conn-1) shares conn-4's Google sign-in, so it sits under the same account.
    expect(await rowIds(page)).toEqual(['conn-4', 'conn-1', 'conn-3', 'conn-2']);
    expect(await rows(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-health')))).toEqual([
      'attention',
      'active',
      'attention',
      'active',
    ]);
    const accounts = page.locator('section.account');
    await expect(accounts.evaluateAll((els) => els.map((el) => el.getAttribute('aria-label')))).resolves.toEqual([
      'ana@firm.example · Google',
      'zoe@client-co.example · Google',
      'billing@firm.example · Google',
    ]);
    const ana = accounts.first();
    await expect(ana.locator('[data-connection]').count()).resolves.toBe(2);
    // What the account lacks is offered on it; Drive is not set up here.
    await expect(ana.getByRole('button', { name: 'Add Google Calendar' }).count()).resolves.toBe(0);
    await expect(accounts.nth(1).getByRole('button', { name: 'Add Google Calendar' }).count()).resolves.toBe(1);
    await expect(ana.getByRole('button', { name: 'Remove account' }).count()).resolves.toBe(1);

    const reauth = await row(page, 'conn-3').innerText();
    expect(reauth).toContain('zoe@client-co.example');
    expect(reauth).toContain('Needs attention');
    expect(reauth).toContain('Google no longer accepts this sign-in.');
    expect(reauth).toContain('Check failed yesterday');

    const gmail = await row(page, 'conn-1').innerText();
    expect(gmail).toContain('Active');
    expect(gmail).toContain('Gmail');
    expect(gmail).toContain('Read only');
    expect(gmail).toContain('Checked 5 min ago');

    const billing = await row(page, 'conn-2').innerText();
    expect(billing).toContain('Shared billing inbox');
    expect(billing).toContain('Read & send');

    const calendar = await row(page, 'conn-4').innerText();
    expect(calendar).toContain('Missing access: Read only');
    expect(calendar).toContain('Not checked yet');
    expect(calendar).toContain('Only who you are');

    // The tab counts what needs attention.
    await expect(tab(page).getAttribute('aria-current')).resolves.toBe('page');
    await expect(page.getByRole('link', { name: 'Connections (2 need attention)', exact: true }).count()).resolves.toBe(1);
    await expect(tab(page).getAttribute('aria-current')).resolves.toBe('page');
    await screenshot(page, 'connections-list.png');
  });

  it('names an account without email by display name, else “Unknown account”', async () => {
    const list = [
      connection({ id: 'a', email: null, display_name: 'Front desk' }),
      connection({ id: 'b', email: null, display_name: null, status: 'initiated', granted_scopes: [] }),
    ];
    const page = await open(backend({ list_connections: { ok: list } }), { hash: '#/connections' });
    await openList(page);
    expect(await row(page, 'a').innerText()).toContain('Front desk');
    const pending = await row(page, 'b').innerText();
    expect(pending).toContain('Unknown account');
    expect(pending).toContain('Connecting');
    expect(pending).toContain('No access granted');
  });

  it('filters by status', async () => {
    const list = [...connections, connection({ id: 'conn-5', email: 'old@firm.example', status: 'failed', last_error_message: 'You declined access.' })];
    const page = await open(backend({ list_connections: { ok: list } }), { hash: '#/connections' });
    await openList(page);
    expect(await rowIds(page)).toEqual(['conn-4', 'conn-1', 'conn-3', 'conn-2', 'conn-5']);
    await expect(page.getByRole('radio', { name: 'Needs attention (2)' }).count()).resolves.toBe(1);
    await filterBy(page, 'Needs attention');
    await expect.poll(() => rowIds(page)).toEqual(['conn-4', 'conn-3']);
    await filterBy(page, 'Active');
    await expect.poll(() => rowIds(page)).toEqual(['conn-1', 'conn-2']);
    await filterBy(page, 'Failed');
    await expect.poll(() => rowIds(page)).toEqual(['conn-5']);
    expect(await row(page, 'conn-5').innerText()).toContain('You declined access.');
    await filterBy(page, 'All');
    await expect.poll(() => rowIds(page)).toHaveLength(5);
  });

  it('renames in place: Save sends the label, Esc cancels, focus returns to Rename', async () => {
    const renamed = connection({ label: 'Ana — bookkeeping' });
    const page = await open(
      backend({ list_connections: { ok: connections }, rename_connection: { ok: renamed } }),
      { hash: '#/connections' },
    );
    await openList(page);
    await row(page, 'conn-1').getByRole('button', { name: 'Rename ana@firm.example (Gmail)' }).click();
    const field = row(page, 'conn-1').getByLabel('Label for ana@firm.example');
    await expect(field.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    await field.fill('Something else');
    await page.keyboard.press('Escape');
    await expect.poll(() => field.count()).toBe(0);
    expect(await calls(page, 'rename_connection')).toEqual([]);

    await row(page, 'conn-1').getByRole('button', { name: 'Rename ana@firm.example (Gmail)' }).click();
    await field.fill('  Ana — bookkeeping ');
    await page.keyboard.press('Enter');
    await expect.poll(() => row(page, 'conn-1').innerText()).toContain('Ana — bookkeeping');
    expect(await argsOf(page, 'rename_connection')).toEqual([{ connectionId: 'conn-1', label: 'Ana — bookkeeping' }]);
    await expect(
      page.evaluate(() => document.activeElement?.getAttribute('aria-label')),
    ).resolves.toBe('Rename ana@firm.example (Gmail)');
  });

  it('shows a failed rename and keeps the form', async () => {
    const page = await open(
      backend({
        list_connections: { ok: connections },
        rename_connection: { error: { code: 'store.busy', message: 'Keyport’s database is busy. Try again in a moment.' } },
      }),
      { hash: '#/connections' },
    );
    await openList(page);
    await row(page, 'conn-2').getByRole('button', { name: /^Rename/ }).click();
    await row(page, 'conn-2').getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => row(page, 'conn-2').getByRole('alert').innerText()).toContain('database is busy');
    await expect(row(page, 'conn-2').getByLabel(/^Label for/).inputValue()).resolves.toBe('Shared billing inbox');
  });

  it('opens a detail pane with the event history; Esc closes it', async () => {
    const page = await open(backend({ list_connections: { ok: connections } }), { hash: '#/connections' });
    await openList(page);
    const open3 = row(page, 'conn-3').locator('button.open');
    await open3.click();
    const detail = page.getByRole('complementary', { name: 'zoe@client-co.example' });
    await detail.waitFor();
    await expect(open3.getAttribute('aria-expanded')).resolves.toBe('true');
    await expect.poll(() => detail.getByRole('list', { name: /^History/ }).getByRole('listitem').count()).toBe(3);
    const history = await detail.innerText();
    expect(history).toContain('Check failed');
    expect(history).toContain('Google no longer accepts this sign-in.');
    expect(history).toContain('Sign-in started');
    expect(history).toContain('Messages total');
    expect(history).toContain('4,210');
    expect(history).not.toContain('Email address'); // the same as the account shown above
    expect(await argsOf(page, 'connection_events')).toEqual([{ connectionId: 'conn-3' }]);
    expect(await argsOf(page, 'connection_usage')).toEqual([{ connectionId: 'conn-3' }]);
    // Which programs took this mailbox's tokens, newest first.
    const usedBy = detail.getByTestId('used-by');
    await expect(usedBy.innerText()).resolves.toBe('neomutt, 2 min ago; also python3.11');
    await expect(usedBy.getAttribute('title')).resolves.toBe('/usr/bin/neomutt');
    await screenshot(page, 'connections.png');

    await page.keyboard.press('Escape');
    await expect.poll(() => detail.count()).toBe(0);
    await expect(open3.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
  });

  it('follows keyport://connections-changed without polling', async () => {
    const page = await open(backend({ list_connections: { ok: [connection()] } }), { hash: '#/connections' });
    await openList(page);
    await row(page, 'conn-1').locator('button.open').click();
    await expect.poll(() => argsOf(page, 'connection_events')).toHaveLength(1);
    expect(await calls(page, 'list_connections')).toHaveLength(1);

    const updated = connection({ status: 'needs_reauth', last_error_message: 'Access was revoked.', updated_at: Date.now() });
    await reply(page, 'list_connections', { ok: [updated, connections[2]] });
    await emit(page, 'keyport://connections-changed', null);
    await expect.poll(() => rowIds(page)).toEqual(['conn-1', 'conn-3']);
    expect(await row(page, 'conn-1').innerText()).toContain('Access was revoked.');
    await expect(tab(page).getAttribute('aria-current')).resolves.toBe('page');
    await expect(page.getByRole('link', { name: 'Connections (2 need attention)', exact: true }).count()).resolves.toBe(1);
    // The open connection changed: its history is fetched again.
    await expect.poll(() => argsOf(page, 'connection_events')).toHaveLength(2);
    expect(await calls(page, 'list_connections')).toHaveLength(2);
  });

  it('shows an empty state that leads to the integrations', async () => {
    const page = await open(backend(), { hash: '#/connections' });
    await page.getByText('No connections yet — pick an integration to connect.').waitFor();
    await expect(tab(page).innerText()).resolves.toBe('Connections');
    await page.getByRole('button', { name: 'Browse integrations' }).click();
    await expect.poll(() => page.evaluate(() => location.hash)).toBe('#/integrations');
    await page.getByTestId('integration-card').first().waitFor();
  });

  it('shows a load failure with Try again', async () => {
    const failure = { code: 'store.busy', message: 'Keyport’s database is busy. Try again in a moment.' };
    const page = await open(backend({ list_connections: { error: failure } }), { hash: '#/connections' });
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').innerText()).toContain(failure.message);
    await reply(page, 'list_connections', { ok: connections });
    await page.getByRole('button', { name: 'Try again' }).click();
    await expect.poll(() => rowIds(page)).toHaveLength(4);
  });

  it('a flow finishing updates the list (the backend also sends connections-changed)', async () => {
    const page = await open(backend(), { hash: '#/connections' });
    await page.getByText('No connections yet — pick an integration to connect.').waitFor();
    await reply(page, 'list_connections', { ok: [connection()] });
    await emit(page, 'keyport://connections-changed', null);
    await expect.poll(() => rowIds(page)).toEqual(['conn-1']);
  });

  it('reads well in dark mode too (connections-dark.png)', async () => {
    const page = await open(backend({ list_connections: { ok: connections } }), {
      hash: '#/connections',
      colorScheme: 'dark',
    });
    await openList(page);
    await row(page, 'conn-3').locator('button.open').click();
    await page.getByRole('complementary').getByRole('list', { name: /^History/ }).waitFor();
    await screenshot(page, 'connections-dark.png');
  });
});
