// Acting on a connection: Check now, Reconnect, Grant missing access, Disconnect.
// The mocked backend answers each command; sign-in results come as keyport://flow.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Connection, Disconnected, FlowEvent } from '../../src/lib/api';
import { backend, connection, connections, plan, started } from './fixtures';
import { argsOf, browserSession, calls, docsScreenshot, emit, isFocused, reply, screenshot } from './session';

const { open } = browserSession('actions');

const row = (page: Page, id: string) => page.locator(`[data-connection="${id}"]`);
const rowIds = (page: Page) =>
  page.getByTestId('connection-row').evaluateAll((els) => els.map((el) => el.getAttribute('data-connection') ?? ''));
const detail = (page: Page) => page.getByRole('complementary');
const dialog = (page: Page) => page.getByRole('dialog');
const text = (page: Page) => dialog(page).innerText();

async function openDetail(page: Page, id: string) {
  await row(page, id).locator('button.open').click();
  await detail(page).getByRole('group', { name: /^Actions for/ }).waitFor();
}

function flow(event: Partial<FlowEvent>): FlowEvent {
  return { flow_id: started.flow_id, connection: null, error: null, ...event };
}

const zoe = connections[2]!; // needs_reauth
const calendar = connections[3]!; // missing calendar access

describe('Check now', () => {
  it('shows “Checking…” on the row and in the pane while it runs, then the new last-check time', async () => {
    const stale = connection({ last_checked_at: Date.now() - 3 * 3_600_000 });
    const page = await open(backend({ list_connections: { ok: [stale] }, check_connection: { hold: true } }), {
      hash: '#/connections',
    });
    await openDetail(page, 'conn-1');
    expect(await row(page, 'conn-1').innerText()).toContain('Checked 3 h ago');
    await detail(page).getByRole('button', { name: 'Check now' }).click();

    await expect.poll(() => row(page, 'conn-1').locator('[data-state="checking"]').innerText()).toBe('Checking…');
    await expect(detail(page).locator('[data-state="checking"]').count()).resolves.toBe(1);
    const button = detail(page).getByRole('button', { name: 'Checking…' });
    await expect(button.getAttribute('aria-disabled')).resolves.toBe('true');
    await button.click({ force: true }); // a second click waits for the first
    expect(await argsOf(page, 'check_connection')).toEqual([{ connectionId: 'conn-1' }]);

    const fresh = connection({ last_checked_at: Date.now(), last_check_ok: true, updated_at: Date.now() });
    await reply(page, 'check_connection', { ok: fresh });
    await reply(page, 'list_connections', { ok: [fresh] });
    await page.evaluate(() => window.__keyportTest!.release('check_connection'));

    await expect.poll(() => row(page, 'conn-1').innerText()).toContain('Checked just now');
    expect(await row(page, 'conn-1').innerText()).toContain('Active');
    await expect(row(page, 'conn-1').locator('[data-state="checking"]').count()).resolves.toBe(0);
    await expect.poll(() => detail(page).getByRole('status').innerText()).toBe('Checked just now: Gmail answered.');
    // The list is refetched after a check, whatever its outcome.
    await expect.poll(async () => (await calls(page, 'list_connections')).length).toBe(2);
  });

  it('shows why a check failed, and the row follows the stored error', async () => {
    const failure = {
      code: 'oauth.invalid_grant',
      message: 'The provider did not accept the authorization ("Token has been expired or revoked."). Access was revoked or has expired: sign in again.',
    };
    const worded = 'Google no longer accepts this sign-in. It was revoked or has expired; sign in again to reconnect.';
    const page = await open(
      backend({ list_connections: { ok: [connection()] }, check_connection: { error: failure } }),
      { hash: '#/connections' },
    );
    await openDetail(page, 'conn-1');
    const after = connection({
      status: 'needs_reauth',
      last_error_code: failure.code,
      last_error_message: failure.message,
      last_checked_at: Date.now(),
      last_check_ok: false,
      updated_at: Date.now(),
    });
    await reply(page, 'list_connections', { ok: [after] });
    await detail(page).getByRole('button', { name: 'Check now' }).click();

    const alert = detail(page).getByRole('alert');
    await expect.poll(() => alert.innerText()).toBe(`The check didn’t go through. ${worded}`);
    await expect.poll(() => row(page, 'conn-1').getAttribute('data-health')).toBe('attention');
    const line = await row(page, 'conn-1').innerText();
    expect(line).toContain('Check failed just now');
    expect(line).toContain('Needs attention');
    // Now the row offers Reconnect, and the pane does not say the same thing twice.
    await expect(row(page, 'conn-1').getByRole('button', { name: 'Reconnect ana@firm.example (Gmail)' }).count()).resolves.toBe(1);
    // (Above the history, which lists the failed check too.)
    const above = (await detail(page).innerText()).split('\nHistory\n')[0]!;
    expect(above.split(worded).length - 1).toBe(1);
  });
});

describe('Reconnect', () => {
  it('starts from the row, waits, and explains a sign-in as another account', async () => {
    const page = await open(
      backend({ list_connections: { ok: connections }, reconnect_connection: { ok: { ...started, connection_id: 'conn-3' } } }),
      { hash: '#/connections' },
    );
    await row(page, 'conn-3').getByRole('button', { name: 'Reconnect zoe@client-co.example (Gmail)' }).click();
    await dialog(page).getByText('Waiting for you to finish in your browser…').first().waitFor();
    expect(await text(page)).toContain('Reconnect Gmail');
    expect(await text(page)).toContain('Sign in again as zoe@client-co.example to keep this connection working.');
    expect(await argsOf(page, 'reconnect_connection')).toEqual([{ connectionId: 'conn-3', redirect: null }]);
    expect(await calls(page, 'start_connect')).toEqual([]);

    const message = 'You signed in as ana@firm.example; this connection is zoe@client-co.example. Sign in as zoe@client-co.example to reconnect it.';
    await emit(page, 'keyport://flow', flow({ error: { code: 'connection.wrong_account', message } }));
    await expect.poll(() => text(page)).toContain('That was a different account');
    expect(await text(page)).toContain(message);

    // Try again starts another reconnect right away.
    await reply(page, 'reconnect_connection', { ok: { ...started, connection_id: 'conn-3', flow_id: 'flow-2' } });
    await dialog(page).getByRole('button', { name: 'Try again' }).click();
    await expect.poll(() => argsOf(page, 'reconnect_connection')).toHaveLength(2);
    await dialog(page).getByText('Waiting for you to finish in your browser…').first().waitFor();
    await emit(page, 'keyport://flow', flow({ flow_id: 'flow-2', connection: { ...zoe, status: 'active', last_error_message: null } }));
    await expect.poll(() => text(page)).toContain('Reconnected as zoe@client-co.example');
    await dialog(page).getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => dialog(page).count()).toBe(0);
  });

  it('is in the detail pane of every signed-in connection, and shows a failure to start', async () => {
    const page = await open(
      backend({
        list_connections: { ok: connections },
        reconnect_connection: { error: { code: 'integration.not_configured', message: 'Gmail needs an OAuth client.' } },
      }),
      { hash: '#/connections' },
    );
    await openDetail(page, 'conn-1');
    await detail(page).getByRole('button', { name: 'Reconnect' }).click();
    await expect.poll(() => text(page)).toContain('Gmail needs an OAuth client first.');
    await dialog(page).getByRole('button', { name: 'Close' }).first().click();

    await reply(page, 'reconnect_connection', { error: { code: 'provider.unreachable', message: 'Couldn’t reach Google.' } });
    await detail(page).getByRole('button', { name: 'Reconnect' }).click();
    await expect.poll(() => text(page)).toContain('Couldn’t reconnect Gmail');
    expect(await text(page)).toContain('Couldn’t reach Google.');
  });
});

describe('Grant missing access', () => {
  it('is offered only when access is missing, and calls grant_access with the connection id', async () => {
    const page = await open(
      backend({ list_connections: { ok: connections }, grant_access: { ok: { ...started, connection_id: 'conn-4' } } }),
      { hash: '#/connections' },
    );
    await openDetail(page, 'conn-1');
    await expect(detail(page).getByRole('button', { name: 'Grant missing access' }).count()).resolves.toBe(0);

    await openDetail(page, 'conn-4');
    expect(await detail(page).innerText()).toContain('Not granted');
    await detail(page).getByRole('button', { name: 'Grant missing access' }).click();
    await dialog(page).getByText('Waiting for you to finish in your browser…').first().waitFor();
    expect(await text(page)).toContain('Grant access to Google Calendar');
    expect(await text(page)).toContain('Allow Read only for ana@firm.example.');
    expect(await argsOf(page, 'grant_access')).toEqual([{ connectionId: 'conn-4', scopes: null, redirect: null }]);

    await emit(page, 'keyport://flow', flow({ connection: { ...calendar, missing_scopes: [], granted_scopes: [...calendar.requested_scopes] } }));
    await expect.poll(() => text(page)).toContain('Access granted for ana@firm.example');
  });

  it('the row’s quick button does the same', async () => {
    const page = await open(
      backend({ list_connections: { ok: connections }, grant_access: { ok: { ...started, connection_id: 'conn-4' } } }),
      { hash: '#/connections' },
    );
    await row(page, 'conn-4').getByRole('button', { name: 'Grant access for ana@firm.example (Google Calendar)' }).click();
    await expect.poll(() => argsOf(page, 'grant_access')).toEqual([{ connectionId: 'conn-4', scopes: null, redirect: null }]);
    // Declining leaves the connection as it was.
    await emit(page, 'keyport://flow', flow({ error: { code: 'oauth.access_denied', message: 'access_denied' } }));
    await expect.poll(() => text(page)).toContain('the connection stays as it was');
  });
});

describe('Check all', () => {
  it('checks every signed-in connection one after another and says how it went', async () => {
    const page = await open(backend({ list_connections: { ok: connections }, check_connection: { ok: connection() } }), {
      hash: '#/connections',
    });
    await page.getByRole('button', { name: 'Check all' }).click();
    await expect.poll(() => page.getByTestId('check-all-result').count()).toBe(1);
    // Not conn-3: it waits for a sign-in, a check cannot help it.
    expect(await argsOf(page, 'check_connection')).toEqual([
      { connectionId: 'conn-4' },
      { connectionId: 'conn-1' },
      { connectionId: 'conn-2' },
    ]);
    expect(await page.getByTestId('check-all-result').innerText()).toBe('All 3 checked: they work.');
  });

  it('counts the checks that failed', async () => {
    const failure = { code: 'provider.unreachable', message: 'Couldn’t reach Google.' };
    const page = await open(
      backend({ list_connections: { ok: connections }, check_connection: { error: failure } }),
      { hash: '#/connections' },
    );
    await page.getByRole('button', { name: 'Check all' }).click();
    await expect.poll(() => page.getByTestId('check-all-result').count()).toBe(1);
    expect(await page.getByTestId('check-all-result').innerText()).toBe('3 checked: 3 need a look.');
  });
});

describe('Disconnect', () => {
  const done: Disconnected = {
    connection_id: 'conn-1',
    email: 'ana@firm.example',
    revocation: 'revoked',
    message: 'Disconnected. Google revoked Keyport’s access.',
  };

  it('asks first, saying what will happen; Cancel changes nothing and returns focus', async () => {
    const page = await open(backend({ list_connections: { ok: connections }, disconnect_connection: { ok: done } }), {
      hash: '#/connections',
    });
    await openDetail(page, 'conn-1');
    await detail(page).getByRole('button', { name: 'Disconnect' }).click();
    await dialog(page).waitFor();
    await expect(dialog(page).getByRole('heading').innerText()).resolves.toBe('Disconnect ana@firm.example?');
    // The backend's plan: Ana's Calendar shares the sign-in and keeps working.
    await expect.poll(() => page.getByTestId('disconnect-plan').innerText()).toBe(plan.summary);
    expect(await argsOf(page, 'disconnect_plan')).toEqual([{ connectionId: 'conn-1', account: false }]);
    expect(await text(page)).toContain(
      'Google Calendar keeps working',
    );
    // The safe choice has the focus.
    await expect(page.evaluate(() => document.activeElement?.textContent?.trim())).resolves.toBe('Cancel');
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => dialog(page).count()).toBe(0);
    expect(await calls(page, 'disconnect_connection')).toEqual([]);
    await expect(isFocused(page, '#connection-detail .danger-text')).resolves.toBe(true);
    // Esc cancels too.
    await detail(page).getByRole('button', { name: 'Disconnect' }).click();
    await dialog(page).waitFor();
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog(page).count()).toBe(0);
    expect(await calls(page, 'disconnect_connection')).toEqual([]);
    expect(await rowIds(page)).toEqual(['conn-4', 'conn-1', 'conn-3', 'conn-2']);
  });

  it('removes a whole account: says what stops, and every row of it goes', async () => {
    const whole = {
      ...plan,
      connection_id: 'conn-4',
      integration: 'Google Calendar and Gmail',
      keeps: [],
      revokes: true,
      summary:
        "Google Calendar and Gmail for ana@firm.example stop working, and Keyport's access to ana@firm.example is revoked.",
    };
    const page = await open(
      backend({ list_connections: { ok: connections }, disconnect_plan: { ok: whole }, disconnect_connection: { hold: true } }),
      { hash: '#/connections' },
    );
    const ana = page.locator('section.account').first();
    await ana.getByRole('button', { name: 'Remove account' }).click();
    await dialog(page).waitFor();
    await expect(dialog(page).getByRole('heading').innerText()).resolves.toBe('Remove ana@firm.example?');
    await expect.poll(() => page.getByTestId('disconnect-plan').innerText()).toBe(whole.summary);
    expect(await argsOf(page, 'disconnect_plan')).toEqual([{ connectionId: 'conn-4', account: true }]);
    await dialog(page).getByRole('button', { name: 'Remove account' }).click();
    await reply(page, 'disconnect_connection', { ok: { ...done, connection_id: 'conn-4' } });
    await reply(page, 'list_connections', { ok: connections.filter((c) => c.email !== 'ana@firm.example') });
    await page.evaluate(() => window.__keyportTest!.release('disconnect_connection'));
    await expect.poll(() => dialog(page).count()).toBe(0);
    expect(await argsOf(page, 'disconnect_connection')).toEqual([{ connectionId: 'conn-4', account: true }]);
    expect(await rowIds(page)).toEqual(['conn-3', 'conn-2']);
  });

  it('adds Google Calendar to an account with one more sign-in on it', async () => {
    const page = await open(backend({ list_connections: { ok: connections } }), { hash: '#/connections' });
    const zoe = page.locator('section.account').nth(1);
    await zoe.getByRole('button', { name: 'Add Google Calendar' }).click();
    await dialog(page).waitFor();
    await expect(dialog(page).getByRole('heading').innerText()).resolves.toBe(
      'Add Google Calendar to zoe@client-co.example',
    );
    await dialog(page).getByRole('button', { name: 'Continue in browser' }).click();
    await expect.poll(() => argsOf(page, 'start_connect')).toEqual([
      { integration: 'google-calendar', preset: 'read', scopes: null, redirect: null, account: 'conn-3' },
    ]);
  });

  it('on confirm, disconnects, removes the row and shows what the backend said', async () => {
    const page = await open(
      backend({ list_connections: { ok: connections }, disconnect_connection: { hold: true } }),
      { hash: '#/connections' },
    );
    await openDetail(page, 'conn-1');
    await detail(page).getByRole('button', { name: 'Disconnect' }).click();
    await dialog(page).getByRole('button', { name: 'Disconnect' }).click();
    await expect.poll(() => dialog(page).getByRole('button', { name: 'Disconnecting…' }).count()).toBe(1);
    // Esc while the backend works does not leave it half done.
    await page.keyboard.press('Escape');
    await expect(dialog(page).count()).resolves.toBe(1);

    await reply(page, 'disconnect_connection', { ok: done });
    await reply(page, 'list_connections', { ok: connections.filter((c) => c.id !== 'conn-1') });
    await page.evaluate(() => window.__keyportTest!.release('disconnect_connection'));
    await expect.poll(() => dialog(page).count()).toBe(0);
    expect(await argsOf(page, 'disconnect_connection')).toEqual([{ connectionId: 'conn-1' }]);
    const result = page.getByTestId('disconnect-result');
    await expect(result.innerText()).resolves.toBe(done.message);
    await expect(result.getAttribute('data-revocation')).resolves.toBe('revoked');
    await expect(isFocused(page, '[data-testid="disconnect-result"]')).resolves.toBe(true);
    expect(await rowIds(page)).toEqual(['conn-4', 'conn-3', 'conn-2']);
    await expect(detail(page).count()).resolves.toBe(0);
    await result.getByRole('button', { name: 'Dismiss' }).click();
    await expect(result.count()).resolves.toBe(0);
  });

  it('says when the provider could not be reached (revocation queued)', async () => {
    const queued: Disconnected = {
      ...done,
      revocation: 'queued',
      message: 'Disconnected. Google could not be reached to revoke Keyport’s access; Keyport will retry.',
    };
    const page = await open(backend({ list_connections: { ok: [connection()] }, disconnect_connection: { ok: queued } }), {
      hash: '#/connections',
    });
    await openDetail(page, 'conn-1');
    await detail(page).getByRole('button', { name: 'Disconnect' }).click();
    await reply(page, 'list_connections', { ok: [] });
    await dialog(page).getByRole('button', { name: 'Disconnect' }).click();
    await expect.poll(() => page.getByTestId('disconnect-result').innerText()).toBe(queued.message);
    await expect(page.getByTestId('disconnect-result').getAttribute('class')).resolves.toContain('warn');
    // The list is empty now: its empty state shows under the message.
    await page.getByText('No connections yet — pick an integration to connect.').waitFor();
  });

  it('keeps the dialog open with the error when disconnecting fails', async () => {
    const page = await open(
      backend({
        list_connections: { ok: connections },
        disconnect_connection: { error: { code: 'keyring.unavailable', message: 'The system keyring is locked.' } },
      }),
      { hash: '#/connections' },
    );
    await openDetail(page, 'conn-2');
    await detail(page).getByRole('button', { name: 'Disconnect' }).click();
    await dialog(page).getByRole('button', { name: 'Disconnect' }).click();
    await expect.poll(() => dialog(page).getByRole('alert').innerText()).toBe('The system keyring is locked.');
    await expect(dialog(page).getByRole('button', { name: 'Disconnect' }).getAttribute('aria-disabled')).resolves.toBe('false');
    expect(await rowIds(page)).toContain('conn-2');
  });
});

describe('Health and keyboard', () => {
  const shaky: Connection = connection({
    id: 'conn-5',
    email: 'desk@firm.example',
    subject: '1005',
    status: 'degraded',
    last_error_code: 'provider.unreachable',
    last_error_message: 'Google could not be reached.',
    last_check_ok: false,
  });

  it('shows a degraded connection as “Having trouble”, not counted as needing attention', async () => {
    const page = await open(backend({ list_connections: { ok: [...connections, shaky] } }), { hash: '#/connections' });
    await row(page, 'conn-5').waitFor();
    expect(await rowIds(page)).toEqual(['conn-4', 'conn-1', 'conn-3', 'conn-5', 'conn-2']);
    await expect(row(page, 'conn-5').getAttribute('data-health')).resolves.toBe('trouble');
    const line = await row(page, 'conn-5').innerText();
    expect(line).toContain('Having trouble');
    expect(line).toContain('Couldn’t reach Google. Check the internet connection; Keyport tries again by itself.');
    expect(line.match(/by itself/g)).toHaveLength(1);
    await expect(page.getByRole('link', { name: 'Connections (2 need attention)', exact: true }).count()).resolves.toBe(1);
    await expect(page.getByRole('radio', { name: 'Having trouble (1)' }).count()).resolves.toBe(1);

    // The picture for the docs: the morning list, the lost sign-in opened.
    await openDetail(page, 'conn-3');
    await detail(page).getByRole('list', { name: /^History/ }).waitFor();
    await page.mouse.move(0, 0);
    await docsScreenshot(page, 'needs-attention.png');
  });

  it('every action is reachable with the keyboard, with a visible focus ring', async () => {
    const page = await open(
      backend({ list_connections: { ok: connections }, check_connection: { ok: connections[2] } }),
      { hash: '#/connections' },
    );
    const open3 = row(page, 'conn-3').locator('button.open');
    await open3.focus();
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).resolves.toBe(
      'Reconnect zoe@client-co.example (Gmail)',
    );
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');
    await detail(page).waitFor();
    const stops: string[] = [];
    // Close, what Google said (the provider's own words), Check now, Reconnect, Disconnect.
    for (let i = 0; i < 5; i += 1) {
      await page.keyboard.press('Tab');
      stops.push(await page.evaluate(() => document.activeElement?.textContent?.trim() ?? ''));
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
      expect(outline).not.toBe('none');
    }
    expect(stops).toEqual(['', 'What Google said', 'Check now', 'Reconnect', 'Disconnect']);
    // Enter on Check now runs the check.
    while ((await page.evaluate(() => document.activeElement?.textContent?.trim())) !== 'Check now') {
      await page.keyboard.press('Shift+Tab');
    }
    await page.keyboard.press('Enter');
    await expect.poll(() => argsOf(page, 'check_connection')).toEqual([{ connectionId: 'conn-3' }]);
  });

  it('no actions but Disconnect for a connection that never finished signing in', async () => {
    const failed = connection({ id: 'conn-9', subject: null, status: 'failed', email: null, display_name: null, last_error_message: 'You declined access.' });
    const page = await open(backend({ list_connections: { ok: [failed] } }), { hash: '#/connections' });
    await openDetail(page, 'conn-9');
    const names = await detail(page)
      .getByRole('group', { name: /^Actions for/ })
      .getByRole('button')
      .evaluateAll((els) => els.map((el) => el.textContent?.trim()));
    expect(names).toEqual(['Disconnect']);
    await expect(row(page, 'conn-9').getByRole('button', { name: /^Reconnect|^Grant/ }).count()).resolves.toBe(0);
  });

  it('reads well in dark mode (actions-dark.png, disconnect-dark.png)', async () => {
    const shaky = connection({ id: 'conn-5', email: 'desk@firm.example', status: 'degraded', last_error_message: 'Google could not be reached.' });
    const page = await open(backend({ list_connections: { ok: [...connections, shaky] } }), {
      hash: '#/connections',
      colorScheme: 'dark',
    });
    await openDetail(page, 'conn-4');
    await page.mouse.move(0, 0);
    await screenshot(page, 'actions-dark.png');
    await detail(page).getByRole('button', { name: 'Disconnect' }).click();
    await dialog(page).waitFor();
    await screenshot(page, 'disconnect-dark.png');
  });
});
