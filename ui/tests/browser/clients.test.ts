// Settings → OAuth clients: where each provider's client comes from (built in,
// organisation, yours), the Google walk-through, the checks the form makes before
// sending, importing Google's downloaded JSON, and Test sign-in.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { ClientSummary, OAuthClient } from '../../src/lib/api';
import { backend, integrations, sourcesOf } from './fixtures';
import { argsOf, browserSession, calls, isFocused, reply, screenshot } from './session';

const session = browserSession('clients');
const { open } = session;

const card = (page: Page, provider: string) => page.locator(`[data-provider="${provider}"]`);
const GOOGLE_ID = '123-desktop.apps.googleusercontent.com';
const SECRET = 'GOCSPX-from-the-json-77';

const builtIn = (provider: string, client_id: string): ClientSummary => ({
  provider,
  client_id,
  source: 'built_in',
  has_secret: provider === 'google',
  locked: false,
});

/** The JSON Google Cloud console downloads for a client. */
function clientJson(kind: 'installed' | 'web'): string {
  return JSON.stringify({
    [kind]: {
      client_id: GOOGLE_ID,
      project_id: 'keyport-test',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: 'https://oauth2.googleapis.com/token',
      client_secret: SECRET,
      redirect_uris: ['http://localhost'],
    },
  });
}

/** Settings with no client of the person's own; Google's built-in one unless `sources` say otherwise. */
function fresh(replies: Parameters<typeof backend>[0] = {}) {
  return backend({
    list_clients: { ok: [] },
    client_sources: { ok: [builtIn('google', 'keyport-builtin.apps.googleusercontent.com'), sourcesOf([])[1]!] },
    ...replies,
  });
}

async function ready(page: Page) {
  await page.getByTestId('client-card').first().waitFor();
}

describe('OAuth client sources', () => {
  it('a locked organisation client says so and offers no edit controls; a built-in one says “Built into Keyport”', async () => {
    const sources: ClientSummary[] = [
      { provider: 'google', client_id: 'org-4242.apps.googleusercontent.com', source: 'organisation', has_secret: true, locked: true },
      builtIn('microsoft', '3fa85f64-5717-4562-b3fc-2c963f66afa6'),
    ];
    const page = await open(
      backend({ client_sources: { ok: sources }, list_integrations: { ok: integrations.map((i) => ({ ...i, configured: true })) } }),
      { hash: '#/settings?provider=google', colorScheme: 'dark' },
    );
    await ready(page);
    const google = card(page, 'google');
    await expect(google.getByTestId('client-source').innerText()).resolves.toBe('Set by your organisation');
    const text = await google.innerText();
    expect(text).toContain('org-4242.apps.googleusercontent.com');
    expect(text).toContain('Your organisation manages this client: it can’t be changed or removed here.');
    // Asked for by the URL, yet locked: no form, no Change / Remove / Import, no walk-through.
    await expect(google.getByLabel('Client ID').count()).resolves.toBe(0);
    await expect(google.getByRole('button', { name: /Change|Use your own|Set up|Remove|Import/ }).count()).resolves.toBe(0);
    await expect(google.locator('input[type="file"]').count()).resolves.toBe(0);
    await expect(google.getByTestId('google-guide').count()).resolves.toBe(0);
    // A client is there and has its secret: it can be tried, and the secret is only "Set".
    await expect(google.getByRole('button', { name: 'Test sign-in with Gmail' }).count()).resolves.toBe(1);
    await expect(google.getByTestId('secret-state').innerText()).resolves.toBe('Set');

    const microsoft = card(page, 'microsoft');
    await expect(microsoft.getByTestId('client-source').innerText()).resolves.toBe('Built into Keyport');
    expect(await microsoft.innerText()).toContain('Keyport comes with this client: there is nothing to set up.');
    await expect(microsoft.getByRole('button', { name: 'Use your own Microsoft client' }).count()).resolves.toBe(1);
    await expect(microsoft.getByRole('button', { name: /Remove/ }).count()).resolves.toBe(0);
    await expect(microsoft.getByTestId('secret-state').innerText()).resolves.toBe('None');
    expect(await microsoft.innerText()).not.toContain('needs the client secret');
    await screenshot(page, 'settings-clients-dark.png');
  });

  it('a personal Google client without its secret is not shown as ready (no Test sign-in)', async () => {
    const saved: OAuthClient = { provider: 'google', client_id: GOOGLE_ID, has_secret: false, updated_at: 1 };
    const page = await open(
      backend({
        list_clients: { ok: [saved] },
        client_sources: { ok: sourcesOf([saved]) },
        list_integrations: { ok: integrations.map((i) => (i.provider === 'google' ? { ...i, configured: false } : i)) },
      }),
      { hash: '#/settings' },
    );
    await ready(page);
    const google = card(page, 'google');
    await expect(google.getByTestId('secret-state').innerText()).resolves.toBe('Not set');
    expect(await google.innerText()).toContain('Google needs the client secret too: Connect won’t work until it is added');
    await expect(google.getByRole('button', { name: /Test sign-in/ }).count()).resolves.toBe(0);
    // Change: the form asks for the secret (none is saved to keep).
    await google.getByRole('button', { name: 'Change the Google client' }).click();
    expect(await google.locator('label', { hasText: 'Client secret' }).innerText()).toBe('Client secret (required)');
  });
});

describe('Google walk-through', () => {
  it('is folded until asked for (by keyboard too), then lists the console pages in order', async () => {
    const page = await open(fresh({ open_external: { ok: null } }), { hash: '#/settings' });
    await ready(page);
    const guide = card(page, 'google').getByTestId('google-guide');
    const steps = guide.locator('ol > li');
    await expect(steps.first().isVisible()).resolves.toBe(false);
    await guide.getByText('Step by step: create your own Google client').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => steps.first().isVisible()).toBe(true);

    const texts = await steps.allInnerTexts();
    const order = [
      'Google Cloud console',
      'create a project',
      'Gmail API',
      'APIs & Services → OAuth consent screen',
      'Credentials → Create credentials → OAuth client ID',
      'Application type: Desktop app',
      'Download JSON',
    ];
    expect(texts).toHaveLength(order.length);
    order.forEach((words, i) => expect(texts[i]).toContain(words));
    const consent = texts[3]!;
    for (const words of ['User type: tick External', 'App name', 'your email', 'add your address']) {
      expect(consent).toContain(words);
    }
    expect(texts[6]).toContain('Import downloaded JSON…');
    expect(await guide.innerText()).toContain('Publish app');

    await guide.getByRole('button', { name: /Google Cloud console/ }).click();
    await expect.poll(() => argsOf(page, 'open_external')).toEqual([{ url: 'https://console.cloud.google.com/' }]);
  });
});

describe('Personal client form', () => {
  it('checks the id’s shape before sending: a wrong Google id shows why next to the field, and nothing is sent', async () => {
    const page = await open(fresh({ set_client: { ok: null } }), { hash: '#/settings' });
    await ready(page);
    const google = card(page, 'google');
    await google.getByRole('button', { name: 'Use your own Google client' }).click();
    // The built-in client's id is not offered as the person's own.
    await expect(google.getByLabel('Client ID').inputValue()).resolves.toBe('');
    await google.getByLabel('Client ID').fill('my-client-id');
    await google.getByLabel(/Client secret/).fill(SECRET);
    await google.getByRole('button', { name: 'Save client' }).click();

    const error = google.locator('#client-google-id-error');
    await expect.poll(() => error.innerText()).toBe(
      '“my-client-id” is not a Google client ID: it ends in .apps.googleusercontent.com (Google Cloud console → APIs & Services → Credentials → your Desktop client).',
    );
    await expect(error.getAttribute('role')).resolves.toBe('alert');
    const field = google.getByLabel('Client ID');
    await expect(field.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(field.getAttribute('aria-describedby')).resolves.toBe('client-google-id-error');
    await expect(isFocused(page, '#client-google-id')).resolves.toBe(true);
    expect(await calls(page, 'set_client')).toEqual([]);

    // Typing clears it; the right shape goes through.
    await field.fill(GOOGLE_ID);
    await expect(error.count()).resolves.toBe(0);
    await google.getByRole('button', { name: 'Save client' }).click();
    await expect.poll(() => argsOf(page, 'set_client')).toEqual([
      { provider: 'google', clientId: GOOGLE_ID, clientSecret: SECRET },
    ]);
  });

  it('Google requires the secret: the form says so and sends nothing without it; saved, it offers Test sign-in', async () => {
    const page = await open(
      backend({ list_clients: { ok: [] }, client_sources: { ok: sourcesOf([]) }, set_client: { ok: null } }),
      { hash: '#/settings' },
    );
    await ready(page);
    const google = card(page, 'google');
    await google.getByRole('button', { name: 'Set up the Google client' }).click();
    const secret = google.getByLabel(/Client secret/);
    expect(await google.locator('label', { hasText: 'Client secret' }).innerText()).toBe('Client secret (required)');
    await expect(secret.getAttribute('aria-required')).resolves.toBe('true');
    expect(await google.locator('#client-google-secret-hint').innerText()).toContain('Google gives every Desktop app client a secret');

    await google.getByLabel('Client ID').fill(GOOGLE_ID);
    await google.getByRole('button', { name: 'Save client' }).click();
    await expect.poll(() => google.locator('#client-google-secret-error').innerText()).toContain(
      'Google needs the client secret too',
    );
    await expect(secret.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(isFocused(page, '#client-google-secret')).resolves.toBe(true);
    expect(await calls(page, 'set_client')).toEqual([]);

    await secret.fill(SECRET);
    const saved: OAuthClient = { provider: 'google', client_id: GOOGLE_ID, has_secret: true, updated_at: Date.now() };
    await reply(page, 'list_clients', { ok: [saved] });
    await reply(page, 'client_sources', { ok: sourcesOf([saved]) });
    await google.getByRole('button', { name: 'Save client' }).click();
    await expect.poll(() => argsOf(page, 'set_client')).toEqual([
      { provider: 'google', clientId: GOOGLE_ID, clientSecret: SECRET },
    ]);
    await expect.poll(() => google.getByRole('button', { name: 'Test sign-in with Gmail' }).count()).toBe(1);
    await expect(google.getByTestId('secret-state').innerText()).resolves.toBe('Set (kept in your system keyring)');
  });

  it('shows the organisation’s refusal and reloads the sources', async () => {
    const message = 'Your organisation does not allow your own OAuth clients; it provides them.';
    const page = await open(fresh({ set_client: { error: { code: 'policy.forbidden', message } } }), { hash: '#/settings' });
    await ready(page);
    const microsoft = card(page, 'microsoft');
    await microsoft.getByRole('button', { name: 'Set up the Microsoft client' }).click();
    await microsoft.getByLabel('Client ID').fill('3fa85f64-5717-4562-b3fc-2c963f66afa6');
    await microsoft.getByRole('button', { name: 'Save client' }).click();
    await expect.poll(() => microsoft.getByRole('alert').innerText()).toBe(message);
    await expect.poll(() => calls(page, 'client_sources')).toHaveLength(2);
  });
});

describe('Import downloaded JSON', () => {
  it('reads a Desktop client’s JSON from the file picker and sends its text; the sources are fetched again', async () => {
    const page = await open(fresh({ import_client_json: { ok: GOOGLE_ID } }), { hash: '#/settings' });
    await ready(page);
    const google = card(page, 'google');
    const input = google.locator('input[type="file"]');
    await expect(input.getAttribute('accept')).resolves.toBe('application/json,.json');
    await expect(google.getByRole('button', { name: 'Import downloaded JSON…' }).count()).resolves.toBe(1);
    // Only Google's card imports JSON.
    await expect(card(page, 'microsoft').locator('input[type="file"]').count()).resolves.toBe(0);

    const json = clientJson('installed');
    const saved: OAuthClient = { provider: 'google', client_id: GOOGLE_ID, has_secret: true, updated_at: Date.now() };
    await reply(page, 'client_sources', { ok: sourcesOf([saved]) });
    await input.setInputFiles({ name: 'client_secret_123-desktop.json', mimeType: 'application/json', buffer: Buffer.from(json) });

    await expect.poll(() => argsOf(page, 'import_client_json')).toEqual([{ json }]);
    await expect.poll(() => page.getByRole('status').innerText()).toBe(`Imported the Google client ${GOOGLE_ID}.`);
    await expect.poll(() => google.getByTestId('client-source').innerText()).toBe('Yours');
    expect(await calls(page, 'client_sources')).toHaveLength(2);
    expect(await calls(page, 'list_integrations')).toHaveLength(2);
    // The secret went to the backend once; it is nowhere on the page.
    const inDom = await page.evaluate((s) => document.documentElement.outerHTML.includes(s), SECRET);
    expect(inDom).toBe(false);
    await expect(input.inputValue()).resolves.toBe('');
  });

  it('shows why a Web client’s JSON is refused', async () => {
    const message =
      'this is a Web application client; Keyport needs a Desktop app client (Google Cloud console → Credentials → Create credentials → OAuth client ID → Application type: Desktop app), then download its JSON';
    const page = await open(fresh({ import_client_json: { error: { code: 'client.invalid', message } } }), {
      hash: '#/settings',
    });
    await ready(page);
    const google = card(page, 'google');
    const json = clientJson('web');
    await google
      .locator('input[type="file"]')
      .setInputFiles({ name: 'client_secret_web.json', mimeType: 'application/json', buffer: Buffer.from(json) });
    await expect.poll(() => google.getByRole('alert').innerText()).toBe(message);
    expect(await argsOf(page, 'import_client_json')).toEqual([{ json }]);
    expect(await calls(page, 'client_sources')).toHaveLength(1);
    await expect(google.getByTestId('client-source').innerText()).resolves.toBe('Built into Keyport');
  });

  it('imports the JSON dropped on the Google card', async () => {
    const page = await open(fresh({ import_client_json: { ok: GOOGLE_ID } }), { hash: '#/settings' });
    await ready(page);
    const json = clientJson('installed');
    const outcome = await card(page, 'google').evaluate((el, text) => {
      const data = new DataTransfer();
      data.items.add(new File([text], 'client_secret_123-desktop.json', { type: 'application/json' }));
      const over = new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true });
      el.dispatchEvent(over);
      const drop = new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true });
      el.dispatchEvent(drop);
      return { accepted: over.defaultPrevented, handled: drop.defaultPrevented };
    }, json);
    expect(outcome).toEqual({ accepted: true, handled: true });
    await expect.poll(() => argsOf(page, 'import_client_json')).toEqual([{ json }]);
    await expect.poll(() => page.getByRole('status').innerText()).toBe(`Imported the Google client ${GOOGLE_ID}.`);
  });
});

describe('Test sign-in', () => {
  it('opens the Connect dialog for the provider’s first integration, over Settings', async () => {
    const page = await open(backend(), { hash: '#/settings' });
    await ready(page);
    const test = card(page, 'google').getByRole('button', { name: 'Test sign-in with Gmail' });
    await expect(test.getAttribute('aria-haspopup')).resolves.toBe('dialog');
    await test.click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await expect(dialog.getByRole('heading', { name: 'Connect Gmail' }).count()).resolves.toBe(1);
    await dialog.getByRole('button', { name: 'Continue in browser' }).click();
    await expect.poll(() => argsOf(page, 'start_connect')).toEqual([
      { integration: 'gmail', preset: 'read', scopes: null, redirect: null, account: null },
    ]);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => dialog.count()).toBe(0);
    // Still in Settings, focus back on the button.
    expect(page.url()).toContain('#/settings');
    await expect(test.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
  });
});
