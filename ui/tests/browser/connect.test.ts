// The connect dialog: choose access, wait for the browser, see how it ended.
// The backend's `keyport://flow` event is fired through the mocked event plugin.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { FlowEvent } from '../../src/lib/api';
import { GMAIL_MODIFY, acmeMail, backend, connection, integrations, started } from './fixtures';
import { argsOf, browserSession, calls, emit, reply, screenshot } from './session';

const session = browserSession('connect');
const { open } = session;

const dialog = (page: Page) => page.getByRole('dialog');

async function openDialog(page: Page, name = 'Gmail') {
  await page.getByRole('button', { name: `Connect ${name}`, exact: true }).click();
  await dialog(page).waitFor();
}

async function startWaiting(page: Page) {
  await openDialog(page);
  await dialog(page).getByRole('button', { name: 'Continue in browser' }).click();
  await dialog(page).getByText('Waiting for you to finish in your browser…').first().waitFor();
}

function flow(event: Partial<FlowEvent>): FlowEvent {
  return { flow_id: started.flow_id, connection: null, error: null, ...event };
}

const text = (page: Page) => dialog(page).innerText();

describe('Connect dialog', () => {
  it('offers the presets with the default chosen, and starts with the chosen one', async () => {
    const page = await open(backend());
    await openDialog(page);
    await expect(dialog(page).getByRole('heading', { name: 'Connect Gmail' }).count()).resolves.toBe(1);
    const radios = dialog(page).getByRole('radio');
    await expect(radios.count()).resolves.toBe(3);
    await expect(dialog(page).getByRole('radio', { name: /Read only/ }).isChecked()).resolves.toBe(true);
    expect(await text(page)).toContain('Read messages and settings. Can’t send or delete.');
    // Nothing happens before the user says so.
    expect(await calls(page, 'start_connect')).toEqual([]);
    await screenshot(page, 'connect-dialog.png');

    await dialog(page).getByRole('radio', { name: /Read & send/ }).check();
    await dialog(page).getByRole('button', { name: 'Continue in browser' }).click();
    await dialog(page).getByText('Waiting for you to finish in your browser…').first().waitFor();
    expect(await argsOf(page, 'start_connect')).toEqual([
      { integration: 'gmail', preset: 'send', scopes: null, redirect: null, account: null },
    ]);
    expect(await text(page)).not.toContain('couldn’t open your browser');
    await screenshot(page, 'waiting.png');
  });

  it('a custom integration without presets: no empty choice, and Enter goes on', async () => {
    const bare = { ...acmeMail, presets: [] };
    const page = await open(backend({ list_integrations: { ok: [...integrations, bare] } }));
    await openDialog(page, 'Acme Mail');
    await expect(dialog(page).getByText('What Keyport can do').count()).resolves.toBe(0);
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.textContent?.trim()))
      .toBe('Continue in browser');
    await dialog(page).getByText('Advanced').click();
    const hint = await dialog(page).locator('#connect-scopes-hint').innerText();
    expect(hint).not.toContain('the choice above');
    expect(hint).toContain('the integration’s own scopes');
  });

  it('Advanced: only the integration’s redirect modes; custom scopes override the preset', async () => {
    const page = await open(backend());
    await openDialog(page);
    await dialog(page).getByText('Advanced').click();
    const select = dialog(page).getByLabel('How the browser hands the sign-in back');
    const modes = await select.locator('option').evaluateAll((els) => els.map((el) => (el as HTMLOptionElement).value));
    expect(modes).toEqual(['loopback', 'deep-link', 'relay']);
    await expect(select.inputValue()).resolves.toBe('loopback');
    await select.selectOption('deep-link');
    await dialog(page).getByLabel('Custom scopes').fill('https://x.example/a, b  c');
    await expect(dialog(page).getByRole('radio', { name: /Read only/ }).isDisabled()).resolves.toBe(true);
    await dialog(page).getByRole('button', { name: 'Continue in browser' }).click();
    await dialog(page).getByText('Waiting for you to finish in your browser…').first().waitFor();
    expect(await argsOf(page, 'start_connect')).toEqual([
      { integration: 'gmail', preset: null, scopes: ['https://x.example/a', 'b', 'c'], redirect: 'deep-link', account: null },
    ]);
  });

  it('Cancel while waiting calls cancel_connect with the flow id and closes', async () => {
    const page = await open(backend());
    await startWaiting(page);
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => dialog(page).count()).toBe(0);
    expect(await argsOf(page, 'cancel_connect')).toEqual([{ flowId: 'flow-1' }]);
    // The backend then reports the cancellation: nothing more to show.
    await emit(page, 'keyport://flow', flow({ error: { code: 'oauth.cancelled', message: 'Cancelled.' } }));
    await expect(dialog(page).count()).resolves.toBe(0);
  });

  it('shows “Connected as …” when the sign-in succeeds (ignoring other flows)', async () => {
    const page = await open(backend());
    await startWaiting(page);
    await emit(page, 'keyport://flow', flow({ flow_id: 'someone-else', connection: connection({ email: 'x@y.example' }) }));
    await expect.poll(() => text(page)).toContain('Waiting for you to finish');
    await emit(page, 'keyport://flow', flow({ connection: connection() }));
    await expect.poll(() => text(page)).toContain('Connected as ana@firm.example');
    expect(await text(page)).toContain('Gmail · Read only');
    expect(await text(page)).not.toContain('Access was granted without');
    await expect(page.evaluate(() => document.activeElement?.textContent?.trim())).resolves.toBe('Done');
    await dialog(page).getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => dialog(page).count()).toBe(0);
  });

  it('a forged link’s result (no flow id) does not touch the dialog; its own result ends the wait', async () => {
    const page = await open(backend({ start_connect: { ok: { ...started, redirect_mode: 'deep-link' } } }));
    await startWaiting(page);
    await emit(page, 'keyport://flow', flow({ flow_id: null, error: { code: 'oauth.state_mismatch', message: 'No such sign-in.' } }));
    await emit(page, 'keyport://flow', flow({ flow_id: null, connection: connection({ email: 'mallory@evil.example' }) }));
    expect(await text(page)).toContain('Waiting for you to finish in your browser…');
    expect(await text(page)).not.toContain('Couldn’t connect');
    expect(await text(page)).not.toContain('mallory@evil.example');
    await emit(page, 'keyport://flow', flow({ connection: connection({ email: 'ana@firm.example' }) }));
    await expect.poll(() => text(page)).toContain('Connected as ana@firm.example');
  });

  it('says “You declined access” when consent was refused, and Try again goes back', async () => {
    const page = await open(backend());
    await startWaiting(page);
    await emit(page, 'keyport://flow', flow({ error: { code: 'oauth.access_denied', message: 'access_denied' } }));
    await expect.poll(() => text(page)).toContain('You declined access');
    expect(await text(page)).not.toContain('access_denied');
    await dialog(page).getByRole('button', { name: 'Try again' }).click();
    await expect(dialog(page).getByRole('radio', { name: /Read only/ }).isChecked()).resolves.toBe(true);
  });

  it.each([
    ['oauth.flow_expired', 'expired'],
    ['oauth.timeout', 'expired'],
    ['oauth.token_exchange', 'Google didn’t finish the sign-in. Try again.'],
    ['oauth.failed', 'The token exchange went wrong.'],
  ])('explains %s', async (code, words) => {
    const page = await open(backend());
    await startWaiting(page);
    await emit(page, 'keyport://flow', flow({ error: { code, message: 'The token exchange went wrong.' } }));
    await expect.poll(() => text(page)).toContain(words);
  });

  it('offers Grant access for missing scopes: grant_access on the new connection', async () => {
    const page = await open(backend({ grant_access: { ok: { ...started, flow_id: 'flow-2' } } }));
    await startWaiting(page);
    const partial = connection({ granted_scopes: ['openid', 'email'], missing_scopes: [GMAIL_MODIFY] });
    await emit(page, 'keyport://flow', flow({ connection: partial }));
    await expect.poll(() => text(page)).toContain('Access was granted without: Read & send');
    await dialog(page).getByRole('button', { name: 'Grant access' }).click();
    await dialog(page).getByText('Waiting for you to finish in your browser…').first().waitFor();
    // The backend asks for what the connection is missing (scopes null).
    expect(await argsOf(page, 'grant_access')).toEqual([{ connectionId: 'conn-1', scopes: null, redirect: null }]);
    expect(await calls(page, 'start_connect')).toHaveLength(1);
    // The earlier flow's id no longer matches; the new one does.
    await emit(page, 'keyport://flow', flow({ connection: partial }));
    await expect.poll(() => text(page)).toContain('Waiting for you to finish');
    await emit(page, 'keyport://flow', flow({ flow_id: 'flow-2', connection: connection() }));
    await expect.poll(() => text(page)).toContain('Access granted for ana@firm.example');
    expect(await text(page)).not.toContain('Access was granted without');
  });

  it('when the browser did not open, shows the link to copy, and Copy link copies it', async () => {
    const page = await open(backend({ start_connect: { ok: { ...started, browser_opened: false } } }));
    await session.context()!.grantPermissions(['clipboard-read', 'clipboard-write']);
    await startWaiting(page);
    expect(await text(page)).toContain('Keyport couldn’t open your browser. Copy this link into your browser:');
    await expect(dialog(page).getByLabel('Sign-in link').inputValue()).resolves.toBe(started.auth_url);
    await dialog(page).getByRole('button', { name: 'Copy link' }).click();
    await expect.poll(() => text(page)).toContain('Link copied');
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(started.auth_url);
  });

  it('without clipboard access, Copy link selects the link instead', async () => {
    const page = await open(backend());
    await startWaiting(page);
    await page.evaluate(() => {
      Object.defineProperty(Clipboard.prototype, 'writeText', {
        value: () => Promise.reject(new DOMException('denied', 'NotAllowedError')),
      });
    });
    await dialog(page).getByRole('button', { name: 'Copy link' }).click();
    await expect.poll(() => text(page)).toContain('press Ctrl+C');
    const selected = await page.evaluate(() => {
      const el = document.activeElement as HTMLInputElement;
      return el.value.slice(el.selectionStart ?? 0, el.selectionEnd ?? 0);
    });
    expect(selected).toBe(started.auth_url);
  });

  it('Open again asks the backend to open that flow’s link again, and shows when it could not', async () => {
    const page = await open(backend({ open_auth_url: { ok: true } }));
    await startWaiting(page);
    await dialog(page).getByRole('button', { name: 'Open again' }).click();
    await expect.poll(() => text(page)).toContain('Opened the sign-in page in your browser again.');
    await expect(dialog(page).getByLabel('Sign-in link').count()).resolves.toBe(0);
    // No browser: the link is shown to copy.
    await reply(page, 'open_auth_url', { ok: false });
    await dialog(page).getByRole('button', { name: 'Open again' }).click();
    await expect.poll(() => text(page)).toContain('Keyport couldn’t open your browser. Copy the link above into it.');
    await expect(dialog(page).getByLabel('Sign-in link').inputValue()).resolves.toBe(started.auth_url);
    await reply(page, 'open_auth_url', { error: { code: 'oauth.state_mismatch', message: 'This sign-in is no longer pending.' } });
    await dialog(page).getByRole('button', { name: 'Open again' }).click();
    await expect.poll(() => text(page)).toContain('This sign-in is no longer pending.');
    expect(await argsOf(page, 'open_auth_url')).toEqual([{ flowId: 'flow-1' }, { flowId: 'flow-1' }, { flowId: 'flow-1' }]);
    expect(await calls(page, 'open_external')).toEqual([]);
  });

  it('shows a start_connect failure in the form, and a second click waits for the first', async () => {
    const page = await open(backend({ start_connect: { hold: true } }));
    await openDialog(page);
    const go = dialog(page).getByRole('button', { name: /Continue in browser|Opening your browser/ });
    await go.click();
    await expect(go.getAttribute('aria-disabled')).resolves.toBe('true');
    await go.click({ force: true });
    expect(await calls(page, 'start_connect')).toHaveLength(1);
    await page.evaluate(() => {
      window.__KEYPORT_TEST__!.replies.start_connect = {
        error: { code: 'provider.unreachable', message: 'Couldn’t reach Google. Check your connection.' },
      };
      window.__keyportTest!.release('start_connect');
    });
    await expect.poll(() => dialog(page).getByRole('alert').innerText()).toBe('Couldn’t reach Google. Check your connection.');
    await expect(go.getAttribute('aria-disabled')).resolves.toBe('false');
  });

  it('gives up after 10 minutes without an answer, and tells the backend', async () => {
    const page = await open(backend(), { fakeClock: true });
    await startWaiting(page);
    await page.clock.fastForward('09:59');
    expect(await text(page)).toContain('Waiting for you to finish');
    await page.clock.fastForward('00:02');
    await expect.poll(() => text(page)).toContain('Nothing came back from your browser in 10 minutes');
    expect(await argsOf(page, 'cancel_connect')).toEqual([{ flowId: 'flow-1' }]);
  });

  it('keyboard: Enter opens, Tab stays inside, Esc closes, focus returns to the Connect button', async () => {
    const page = await open(backend());
    const connect = page.getByRole('button', { name: 'Connect Gmail', exact: true });
    await connect.focus();
    await page.keyboard.press('Enter');
    await dialog(page).waitFor();
    // The chosen preset has focus; arrows move the choice.
    await expect(page.evaluate(() => (document.activeElement as HTMLInputElement).value)).resolves.toBe('read');
    await page.keyboard.press('ArrowDown');
    await expect(dialog(page).getByRole('radio', { name: /Read & send/ }).isChecked()).resolves.toBe(true);
    for (let i = 0; i < 12; i += 1) {
      await page.keyboard.press('Tab');
      await expect(page.evaluate(() => !!document.activeElement?.closest('dialog'))).resolves.toBe(true);
    }
    for (let i = 0; i < 12; i += 1) {
      await page.keyboard.press('Shift+Tab');
      await expect(page.evaluate(() => !!document.activeElement?.closest('dialog'))).resolves.toBe(true);
    }
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog(page).count()).toBe(0);
    await expect(connect.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    expect(await calls(page, 'start_connect')).toEqual([]);
  });

  it('reads well in dark mode too (connect-dialog-dark.png)', async () => {
    const page = await open(backend(), { colorScheme: 'dark' });
    await openDialog(page);
    await dialog(page).getByText('Advanced').click();
    await screenshot(page, 'connect-dialog-dark.png');
  });

  it('Esc while waiting cancels the sign-in', async () => {
    const page = await open(backend());
    await startWaiting(page);
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog(page).count()).toBe(0);
    expect(await argsOf(page, 'cancel_connect')).toEqual([{ flowId: 'flow-1' }]);
    await expect(
      page.getByRole('button', { name: 'Connect Gmail', exact: true }).evaluate((el) => el === document.activeElement),
    ).resolves.toBe(true);
  });
});

describe('Connect dialog, integration without an OAuth client', () => {
  it('says so, links the setup guide, and Open Settings goes to that provider’s form', async () => {
    const page = await open(backend({ open_external: { ok: null } }));
    await openDialog(page, 'Outlook');
    expect(await text(page)).toContain('Outlook needs an OAuth client first.');
    await expect(dialog(page).getByRole('radio').count()).resolves.toBe(0);
    await dialog(page).getByRole('button', { name: /Setup guide/ }).click();
    await expect.poll(() => argsOf(page, 'open_external')).toEqual([
      { url: 'https://learn.microsoft.com/entra/identity-platform/quickstart-register-app' },
    ]);
    await dialog(page).getByRole('button', { name: 'Open Settings' }).click();
    await expect.poll(() => page.evaluate(() => location.hash)).toBe('#/settings?provider=microsoft');
    await expect(dialog(page).count()).resolves.toBe(0);
    const clientId = page.locator('[data-provider="microsoft"]').getByLabel('Client ID');
    await clientId.waitFor();
    await expect(clientId.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    expect(await calls(page, 'start_connect')).toEqual([]);
  });

  it('switches to that explanation when start_connect says the integration is not configured', async () => {
    const page = await open(
      backend({
        start_connect: {
          error: { code: 'integration.not_configured', message: 'Gmail needs an OAuth client.', detail: { provider: 'google' } },
        },
      }),
    );
    await openDialog(page);
    await dialog(page).getByRole('button', { name: 'Continue in browser' }).click();
    await expect.poll(() => text(page)).toContain('Gmail needs an OAuth client first.');
    await dialog(page).getByRole('button', { name: 'Open Settings' }).waitFor();
  });

  it('a catalog entry pointing at other servers asks before its client is used', async () => {
    const page = await open(
      backend({
        start_connect: {
          error: {
            code: 'integration.untrusted_endpoints',
            message: 'Gmail would send your sign-in and tokens to https://tokens.evil.example.',
            detail: { integration: 'gmail', origins: ['https://tokens.evil.example'] },
          },
        },
        trust_endpoints: { ok: ['https://tokens.evil.example'] },
      }),
    );
    await openDialog(page);
    await dialog(page).getByRole('button', { name: 'Continue in browser' }).click();
    const warning = dialog(page).getByTestId('untrusted-endpoints');
    await warning.waitFor();
    expect(await warning.innerText()).toContain('https://tokens.evil.example');
    expect(await warning.innerText()).toContain('Only continue if you wrote this catalog entry yourself');
    // Cancel is where the focus starts: Enter does not trust anything.
    await expect(dialog(page).getByRole('button', { name: 'Cancel' }).evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    expect(await calls(page, 'trust_endpoints')).toEqual([]);

    await reply(page, 'start_connect', { ok: started });
    await dialog(page).getByRole('button', { name: 'Trust these servers and continue' }).click();
    await dialog(page).getByText('Waiting for you to finish in your browser…').first().waitFor();
    expect(await argsOf(page, 'trust_endpoints')).toEqual([{ integration: 'gmail' }]);
    expect((await argsOf(page, 'start_connect')).length).toBe(2);
  });
});
