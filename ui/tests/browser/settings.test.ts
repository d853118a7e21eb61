// Settings: OAuth clients per provider (the secret goes in, never comes back) and the data folder.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { appInfo, backend, clients, connections, settings, sourcesOf } from './fixtures';
import { argsOf, browserSession, calls, docsScreenshot, reply, screenshot } from './session';

const session = browserSession('settings');
const { open } = session;

const card = (page: Page, provider: string) => page.locator(`[data-provider="${provider}"]`);
const SECRET = 'GOCSPX-very-secret-value-42';
const MS_ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';

async function ready(page: Page) {
  await page.getByTestId('client-card').first().waitFor();
}

describe('Settings view', () => {
  it('lists providers with client id, secret state, the integrations using them, and the data folder', async () => {
    const page = await open(backend(), { hash: '#/settings' });
    await ready(page);
    const google = await card(page, 'google').innerText();
    expect(google).toContain('Google');
    expect(google).toContain('Used by Gmail, Google Calendar, Google Drive');
    expect(google).toContain('4711-desktop.apps.googleusercontent.com');
    expect(google).toContain('Set (kept in your system keyring)');
    const microsoft = await card(page, 'microsoft').innerText();
    expect(microsoft).toContain('Not set up yet');
    await expect(card(page, 'microsoft').getByRole('button', { name: 'Set up the Microsoft client' }).count()).resolves.toBe(1);
    await expect(card(page, 'microsoft').getByRole('button', { name: /Remove/ }).count()).resolves.toBe(0);
    await expect(page.getByTestId('data-dir').innerText()).resolves.toBe(appInfo.data_dir);
    expect(await calls(page, 'app_info')).toHaveLength(1);
  });

  it('saves a client with a secret; the secret is sent once and then gone from the page', async () => {
    const page = await open(backend({ list_clients: { ok: [] }, client_sources: { ok: sourcesOf([]) }, set_client: { ok: null } }), {
      hash: '#/settings',
    });
    await ready(page);
    await card(page, 'microsoft').getByRole('button', { name: 'Set up the Microsoft client' }).click();
    const form = card(page, 'microsoft');
    await form.getByLabel('Client ID').fill(`  ${MS_ID}  `);
    await form.getByLabel(/Client secret/).fill(SECRET);
    await expect(form.getByLabel(/Client secret/).getAttribute('type')).resolves.toBe('password');

    // What the backend says after saving: the client, without its secret.
    const saved = { provider: 'microsoft', client_id: MS_ID, has_secret: true, updated_at: Date.now() };
    await reply(page, 'list_clients', { ok: [saved] });
    await reply(page, 'client_sources', { ok: sourcesOf([saved]) });
    await form.getByRole('button', { name: 'Save client' }).click();
    await expect.poll(() => page.getByRole('status').innerText()).toBe('Saved the Microsoft client.');

    expect(await argsOf(page, 'set_client')).toEqual([
      { provider: 'microsoft', clientId: MS_ID, clientSecret: SECRET },
    ]);
    await expect.poll(() => card(page, 'microsoft').innerText()).toContain(MS_ID);
    expect(await card(page, 'microsoft').getByTestId('client-source').innerText()).toBe('Yours');
    expect(await card(page, 'microsoft').innerText()).toContain('Set (kept in your system keyring)');
    // The form is closed and the secret is nowhere: not in the DOM, not in any input, not in any reply.
    await expect(form.getByLabel(/Client secret/).count()).resolves.toBe(0);
    const inDom = await page.evaluate(
      (secret) =>
        document.documentElement.outerHTML.includes(secret) ||
        [...document.querySelectorAll('input')].some((input) => input.value.includes(secret)),
      SECRET,
    );
    expect(inDom).toBe(false);
    const log = await page.evaluate(() => window.__keyportTest!.log);
    const replies = JSON.stringify(log.map((entry) => [entry.reply, entry.error]));
    expect(replies).not.toContain(SECRET);
    // Integrations and clients were fetched again (configured follows the client).
    expect(await calls(page, 'list_clients')).toHaveLength(2);
    expect(await calls(page, 'client_sources')).toHaveLength(2);
    expect(await calls(page, 'list_integrations')).toHaveLength(2);
    await expect(
      page.evaluate(() => document.activeElement?.getAttribute('aria-label')),
    ).resolves.toBe('Change the Microsoft client');
  });

  it('Change with the secret left empty sends null, which keeps the saved secret (and says so)', async () => {
    const page = await open(backend({ set_client: { ok: null } }), { hash: '#/settings' });
    await ready(page);
    await card(page, 'google').getByRole('button', { name: 'Change the Google client' }).click();
    const form = card(page, 'google');
    await expect(form.getByLabel('Client ID').inputValue()).resolves.toBe(clients[0]!.client_id);
    await expect(form.getByLabel(/Client secret/).inputValue()).resolves.toBe('');
    expect(await form.innerText()).toContain('Leave this empty to keep it, or enter a new one to replace it.');
    await form.getByLabel('Client ID').fill('new-id.apps.googleusercontent.com');
    await form.getByRole('button', { name: 'Save client' }).click();
    await expect.poll(() => argsOf(page, 'set_client')).toEqual([
      { provider: 'google', clientId: 'new-id.apps.googleusercontent.com', clientSecret: null },
    ]);
  });

  it('refuses an empty client id without calling the backend, and shows backend errors', async () => {
    const page = await open(
      backend({ set_client: { error: { code: 'keyring.unavailable', message: 'The system keyring is locked.' } } }),
      { hash: '#/settings' },
    );
    await ready(page);
    await card(page, 'microsoft').getByRole('button', { name: /Set up/ }).click();
    await card(page, 'microsoft').getByRole('button', { name: 'Save client' }).click();
    await expect.poll(() => card(page, 'microsoft').getByRole('alert').innerText()).toBe('Enter the client ID.');
    expect(await calls(page, 'set_client')).toEqual([]);
    await card(page, 'microsoft').getByLabel('Client ID').fill(MS_ID);
    await card(page, 'microsoft').getByRole('button', { name: 'Save client' }).click();
    await expect.poll(() => card(page, 'microsoft').getByRole('alert').innerText()).toBe('The system keyring is locked.');
  });

  it('removes a client after confirming', async () => {
    const page = await open(backend({ remove_client: { ok: true } }), { hash: '#/settings' });
    await ready(page);
    await card(page, 'google').getByRole('button', { name: 'Remove the Google client' }).click();
    expect(await card(page, 'google').innerText()).toContain('Remove the Google client?');
    await card(page, 'google').getByRole('button', { name: 'Keep it' }).click();
    expect(await calls(page, 'remove_client')).toEqual([]);
    await card(page, 'google').getByRole('button', { name: 'Remove the Google client' }).click();
    await reply(page, 'list_clients', { ok: [] });
    await reply(page, 'client_sources', { ok: sourcesOf([]) });
    await card(page, 'google').getByRole('button', { name: 'Remove client' }).click();
    await expect.poll(() => page.getByRole('status').innerText()).toBe('Removed the Google client.');
    expect(await argsOf(page, 'remove_client')).toEqual([{ provider: 'google' }]);
    await expect.poll(() => card(page, 'google').innerText()).not.toContain('4711-desktop');
  });

  it('opens the asked provider’s form from the URL, and looks right', async () => {
    const page = await open(backend(), { hash: '#/settings?provider=microsoft' });
    const clientId = card(page, 'microsoft').getByLabel('Client ID');
    await clientId.waitFor();
    await expect(clientId.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    expect(await card(page, 'microsoft').innerText()).toContain('Read the setup guide');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'settings.png');
  });

  it('Copy diagnostics: a preview with masked emails (or not), copied as shown, no secrets', async () => {
    const page = await open(backend({ list_connections: { ok: connections } }), { hash: '#/settings' });
    await session.context()!.grantPermissions(['clipboard-read', 'clipboard-write']);
    await ready(page);
    const preview = page.getByTestId('diagnostics');
    await expect.poll(() => preview.innerText()).toContain('Connections: 4 (active 3, needs_reauth 1)');
    const masked = await preview.innerText();
    expect(masked).toContain('Version: 0.1.0');
    expect(masked).toContain('Window engine: Chromium ');
    expect(masked).not.toContain('Mozilla/5.0');
    expect(masked).toContain('a***@firm.example');
    expect(masked).toContain('z***@client-co.example');
    expect(masked).not.toContain('ana@firm.example');
    expect(masked).toContain('last error oauth.invalid_grant');
    expect(masked).not.toContain('no longer accepts'); // codes only
    expect(masked).toContain('google: client id 4711-d…, secret set');
    expect(masked).toContain('Keyring: available');
    expect(masked).toContain('Keyring service: dev.keyport.app');
    expect(masked).toContain('OS: linux (x86_64)');
    expect(masked).toContain('Pending revocations: 2');
    expect(masked).not.toContain('googleusercontent');
    const mask = page.getByRole('checkbox', { name: 'Mask email addresses' });
    await expect(mask.isChecked()).resolves.toBe(true);

    await page.getByRole('button', { name: 'Copy diagnostics' }).click();
    await expect.poll(() => page.getByText('Copied. Paste it').count()).toBe(1);
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(`${await preview.innerText()}\n`.replace(/\n\n$/, '\n'));
    expect(copied).not.toContain('ana@firm.example');

    await mask.uncheck();
    await expect.poll(() => preview.innerText()).toContain('ana@firm.example');
    await mask.check();
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await docsScreenshot(page, 'settings.png', { fullPage: true });
  });

  it('Copy diagnostics without clipboard access selects the text instead', async () => {
    const page = await open(backend(), { hash: '#/settings' });
    await ready(page);
    await page.evaluate(() => {
      Object.defineProperty(Clipboard.prototype, 'writeText', {
        value: () => Promise.reject(new DOMException('denied', 'NotAllowedError')),
      });
    });
    await page.getByRole('button', { name: 'Copy diagnostics' }).click();
    await expect.poll(() => page.getByText('press Ctrl+C').count()).toBe(1);
    const selected = await page.evaluate(() => getSelection()?.toString() ?? '');
    expect(selected).toContain('Keyport diagnostics');
    await expect(page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).resolves.toBe('diagnostics');
  });
  it('saves the sign-in preferences with the chosen mode and relay URL, and says so', async () => {
    const saved = { default_redirect: 'relay', relay_url: 'https://relay.example/keyport', close_to_tray: true };
    const page = await open(
      backend({ get_settings: { ok: { ...settings, default_redirect: 'loopback' } }, set_settings: { ok: saved } }),
      { hash: '#/settings' },
    );
    const select = page.getByLabel('How your browser comes back to Keyport after you sign in');
    await expect.poll(() => select.inputValue()).toBe('loopback');
    expect(await page.locator('#default-redirect-hint').innerText()).toContain('use their usual one');
    await expect(select.locator('option').allInnerTexts()).resolves.toEqual([
      'The usual way for each integration',
      'Through this computer (local address)',
      'Through a Keyport link',
      'Through a web page (relay)',
    ]);
    await select.selectOption('relay');
    await page.getByLabel('Web page that hands the sign-in back (relay)').fill('  https://relay.example/keyport ');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => page.locator('.saved').innerText()).toContain('Saved.');
    expect(await page.locator('.saved').getAttribute('aria-live')).toBe('polite');
    expect(await argsOf(page, 'set_settings')).toEqual([{ settings: saved }]);

    // Back to the integration's default with no relay: both nulls.
    await reply(page, 'set_settings', { ok: settings });
    await select.selectOption({ label: 'The usual way for each integration' });
    await page.getByLabel('Web page that hands the sign-in back (relay)').fill('');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => argsOf(page, 'set_settings')).toEqual([
      { settings: saved },
      { settings: { default_redirect: null, relay_url: null, close_to_tray: true } },
    ]);
  });

  it('shows why a relay URL was refused next to the field', async () => {
    const message = 'The relay URL must start with https://.';
    const page = await open(backend({ set_settings: { error: { code: 'input.invalid', message } } }), {
      hash: '#/settings',
    });
    const field = page.getByLabel('Web page that hands the sign-in back (relay)');
    await expect.poll(() => field.isEnabled()).toBe(true);
    await field.fill('http://relay.example');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => page.locator('#relay-url-error').innerText()).toBe(message);
    await expect(field.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(field.getAttribute('aria-describedby')).resolves.toBe('relay-url-error');
    expect(await page.locator('.saved').innerText()).toBe('');
    expect(await argsOf(page, 'set_settings')).toEqual([
      { settings: { default_redirect: null, relay_url: 'http://relay.example', close_to_tray: true } },
    ]);
  });

  it('keeps running in the background when closed: on by default, turned off and on, saved with the other preferences', async () => {
    const saved = { default_redirect: 'loopback', relay_url: 'https://relay.example/keyport', close_to_tray: true };
    const off = { ...saved, close_to_tray: false };
    const page = await open(backend({ get_settings: { ok: saved }, set_settings: { ok: off } }), { hash: '#/settings' });
    const keep = page.getByRole('switch', { name: 'Keep Keyport running in the background when I close the window' });
    await expect.poll(() => keep.isChecked()).toBe(true);
    expect(await page.locator('#close-to-tray-hint').innerText()).toContain('closing the window quits Keyport');

    await keep.click();
    await expect.poll(() => argsOf(page, 'set_settings')).toEqual([{ settings: off }]);
    await expect.poll(() => keep.isChecked()).toBe(false);

    // The sign-in form saves with what the switch set, not what it loaded.
    await reply(page, 'set_settings', { ok: off });
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => argsOf(page, 'set_settings')).toEqual([{ settings: off }, { settings: off }]);

    // A refusal leaves the switch as saved and says why.
    await reply(page, 'set_settings', { error: { code: 'store.failed', message: 'The database is read-only.' } });
    await keep.click();
    await expect.poll(() => page.getByRole('alert').innerText()).toBe('The database is read-only.');
    expect(await keep.isChecked()).toBe(false);

    await reply(page, 'set_settings', { ok: saved });
    await keep.click();
    await expect.poll(() => keep.isChecked()).toBe(true);
    expect((await argsOf(page, 'set_settings')).at(-1)).toEqual({ settings: saved });
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
  });

  it('Start Keyport when I log in shows what the system has, and what it has after a change', async () => {
    const page = await open(backend({ autostart_enabled: { ok: true }, set_autostart: { ok: false } }), { hash: '#/settings' });
    const login = page.getByRole('switch', { name: 'Start Keyport when I log in' });
    await expect.poll(() => login.isChecked()).toBe(true);
    expect(await calls(page, 'autostart_enabled')).toHaveLength(1);

    await login.click();
    await expect.poll(() => argsOf(page, 'set_autostart')).toEqual([{ enabled: false }]);
    await expect.poll(() => login.isChecked()).toBe(false);

    // The system did not take it: the switch shows the state read back, and says so.
    await login.click();
    await expect.poll(() => page.getByRole('alert').innerText()).toContain('Your system did not take the change');
    expect(await argsOf(page, 'set_autostart')).toEqual([{ enabled: false }, { enabled: true }]);
    expect(await login.isChecked()).toBe(false);

    await reply(page, 'set_autostart', { error: { code: 'io.failed', message: 'could not change starting at login: denied' } });
    await login.click();
    await expect.poll(() => page.getByRole('alert').innerText()).toBe('could not change starting at login: denied');
    expect(await login.isChecked()).toBe(false);

    await reply(page, 'set_autostart', { ok: true });
    await login.click();
    await expect.poll(() => login.isChecked()).toBe(true);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
  });

  it('the login switch stays off and says why when the system cannot be asked', async () => {
    const page = await open(
      backend({ autostart_enabled: { error: { code: 'io.failed', message: 'no home folder' } } }),
      { hash: '#/settings' },
    );
    const login = page.getByRole('switch', { name: 'Start Keyport when I log in' });
    await expect.poll(() => page.getByText('Couldn’t ask your system whether Keyport starts at login: no home folder').count()).toBe(1);
    expect(await login.isDisabled()).toBe(true);
    expect(await login.isChecked()).toBe(false);
  });

  it('Open folder opens the data folder, and shows why not when it can’t', async () => {
    const page = await open(backend(), { hash: '#/settings' });
    const button = page.getByRole('button', { name: 'Open folder' });
    await button.click();
    await expect.poll(() => calls(page, 'open_data_folder')).toHaveLength(1);
    await reply(page, 'open_data_folder', { error: { code: 'io.failed', message: 'No file manager to open it with.' } });
    await button.click();
    await expect.poll(() => page.getByRole('alert').innerText()).toBe('No file manager to open it with.');
  });

  it('diagnostics still build when the backend can’t give its part', async () => {
    const page = await open(backend({ diagnostics: { error: { code: 'internal', message: 'boom' } } }), {
      hash: '#/settings',
    });
    const preview = page.getByTestId('diagnostics');
    await expect.poll(() => preview.innerText()).toContain('backend diagnostics unavailable');
    expect(await preview.innerText()).toContain('Version: 0.1.0');
  });
});
