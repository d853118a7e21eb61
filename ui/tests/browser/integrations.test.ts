// The Integrations view in real Chromium, with Tauri's IPC mocked (see harness/).
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HarnessConfig, IpcLogEntry } from './harness/protocol';
import { acmeMail, backend, integrations, notConfigured } from './fixtures';

const results = resolve(dirname(fileURLToPath(import.meta.url)), '../../test-results');
const url = inject('harnessUrl');

let browser: Browser;
let context: BrowserContext | undefined;
let problems: string[] = [];
const ipcLog: Record<string, IpcLogEntry[]> = {};

beforeAll(async () => {
  // Debian's Chromium (apt-get install chromium); playwright-core never downloads a browser.
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`No Chromium at ${executablePath}: install it (apt-get install chromium) or set CHROMIUM_PATH`);
  }
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

afterEach(async (ctx) => {
  const page = context?.pages()[0];
  if (page) {
    const log = await page.evaluate(() => window.__keyportTest?.log ?? []);
    ipcLog[ctx.task.name] = log;
    const csp = await page.evaluate(() => window.__cspViolations ?? []);
    problems.push(...csp.map((v) => `CSP violation: ${v}`));
  }
  await context?.close();
  context = undefined;
  const found = problems;
  problems = [];
  // Anything the page complained about (CSP, uncaught errors, console errors) fails the test.
  expect(found).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  mkdirSync(results, { recursive: true });
  writeFileSync(resolve(results, 'ipc-log.json'), `${JSON.stringify(ipcLog, null, 2)}\n`);
});

async function open(
  config: HarnessConfig,
  options: { colorScheme?: 'light' | 'dark' } = {},
): Promise<Page> {
  context = await browser.newContext({
    viewport: { width: 1000, height: 700 },
    colorScheme: options.colorScheme ?? 'light',
    reducedMotion: 'reduce',
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  await page.addInitScript((cfg) => {
    // As Tauri does with "freezePrototype": true in tauri.conf.json.
    Object.freeze(Object.prototype);
    window.__KEYPORT_TEST__ = cfg;
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__cspViolations?.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
    });
  }, config);
  await page.goto(url);
  return page;
}

const cards = (page: Page) => page.getByTestId('integration-card');
const status = (page: Page) => page.getByRole('status');
const calls = (page: Page, cmd: string) =>
  page.evaluate((c) => (window.__keyportTest?.log ?? []).filter((e) => e.cmd === c), cmd);

async function cardIds(page: Page): Promise<string[]> {
  return cards(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-integration') ?? ''));
}

async function ready(page: Page) {
  await cards(page).first().waitFor();
}

describe('Integrations view', () => {
  it('renders one card per integration with name, description, access and a Connect button', async () => {
    const page = await open(backend());
    await ready(page);
    expect(await cardIds(page)).toEqual(['gmail', 'google-calendar', 'google-drive', 'outlook']);
    for (const integration of integrations) {
      const card = page.locator(`[data-integration="${integration.id}"]`);
      await expect(card.getByRole('heading', { name: integration.name }).count()).resolves.toBe(1);
      expect(await card.innerText()).toContain(integration.description);
      expect(await card.innerText()).toContain(`Can: ${integration.access}`);
      await expect(
        card.getByRole('button', { name: `Connect ${integration.name}`, exact: true }).count(),
      ).resolves.toBe(1);
    }
    await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toBe('Keyport');
    await expect(page.getByRole('link', { name: 'Integrations' }).getAttribute('aria-current')).resolves.toBe('page');
    await expect(page.getByText('Version 0.1.0').count()).resolves.toBe(1);
    expect((await calls(page, 'list_integrations')).map((c) => c.args)).toEqual([{}]);
  });

  it('marks integrations whose provider has no OAuth client', async () => {
    const page = await open(backend());
    await ready(page);
    const note = 'Needs an OAuth client';
    await expect(page.locator('[data-integration="outlook"]').getByText(note).count()).resolves.toBe(1);
    await expect(page.locator('[data-integration="gmail"]').getByText(note).count()).resolves.toBe(0);
    await expect(page.getByText(note).count()).resolves.toBe(1);
  });

  it('gives a custom integration with an unknown icon the generic mark and a Custom tag', async () => {
    const page = await open(backend({ list_integrations: { ok: [...integrations, acmeMail] } }));
    await ready(page);
    const card = page.locator('[data-integration="acme-mail"]');
    await expect(card.locator('.tile-generic').count()).resolves.toBe(1);
    await expect(card.getByText('Custom', { exact: true }).count()).resolves.toBe(1);
    await expect(page.locator('[data-integration="gmail"] .tile-gmail').count()).resolves.toBe(1);
  });

  it('filters by name, description and provider, and shows an empty state', async () => {
    const page = await open(backend());
    await ready(page);
    const search = page.getByLabel('Search integrations');

    await search.fill('drive');
    await expect.poll(() => cardIds(page)).toEqual(['google-drive']);

    await search.fill('MICROSOFT');
    await expect.poll(() => cardIds(page)).toEqual(['outlook']);

    await search.fill('events');
    await expect.poll(() => cardIds(page)).toEqual(['google-calendar']);

    await search.fill('zzz');
    await expect.poll(() => cardIds(page)).toEqual([]);
    await expect(page.getByText('No integrations match “zzz”').count()).resolves.toBe(1);

    await page.getByRole('button', { name: 'Clear search' }).click();
    await expect.poll(() => cardIds(page)).toHaveLength(4);
    await expect(search.inputValue()).resolves.toBe('');
    await expect(search.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
  });

  it('Connect calls start_connect and says the browser is opening', async () => {
    const page = await open(backend());
    await ready(page);
    const before = await cards(page).first().boundingBox();
    await page.getByRole('button', { name: 'Connect Gmail' }).click();
    await expect.poll(() => status(page).innerText()).toContain('Opening your browser…');
    expect((await calls(page, 'start_connect')).map((c) => c.args)).toEqual([{ integration: 'gmail' }]);
    // The status line has its space reserved: showing it moves nothing.
    expect(await cards(page).first().boundingBox()).toEqual(before);

    // The backend reports the end of the flow on the `connect-flow` event.
    await page.evaluate(() =>
      window.__keyportTest?.emit('connect-flow', {
        integration: 'gmail',
        connection_id: 'conn-1',
        state: 'active',
        account: 'ana@firm.com',
      }),
    );
    await expect.poll(() => status(page).innerText()).toBe('Connected Gmail as ana@firm.com.');
    await expect(status(page).getAttribute('class')).resolves.toContain('tone-success');

    await page.getByRole('button', { name: 'Dismiss' }).click();
    await expect.poll(() => status(page).innerText()).toBe('');
    await expect(page.getByRole('button', { name: 'Dismiss' }).count()).resolves.toBe(0);
  });

  it('shows the backend’s message when start_connect fails', async () => {
    const page = await open(backend({ start_connect: { error: notConfigured } }));
    await ready(page);
    await page.getByRole('button', { name: 'Connect Outlook' }).click();
    await expect.poll(() => status(page).innerText()).toBe(notConfigured.message);
    await expect(status(page).getAttribute('aria-live')).resolves.toBe('polite');
    await expect(status(page).getAttribute('class')).resolves.toContain('tone-error');
    expect((await calls(page, 'start_connect')).map((c) => [c.args, c.outcome])).toEqual([
      [{ integration: 'outlook' }, 'rejected'],
    ]);

    // Clicking Gmail with a different error replaces the message.
    await page.evaluate(() => {
      const replies = window.__KEYPORT_TEST__!.replies;
      replies.start_connect = {
        error: { code: 'provider.unreachable', message: 'Couldn’t reach Google. Check your connection.' },
      };
    });
    await page.getByRole('button', { name: 'Connect Gmail' }).click();
    await expect.poll(() => status(page).innerText()).toBe('Couldn’t reach Google. Check your connection.');
    expect((await calls(page, 'start_connect')).map((c) => c.args)).toEqual([
      { integration: 'outlook' },
      { integration: 'gmail' },
    ]);
  });

  it('ignores a second click while a connect request is in flight', async () => {
    const page = await open(backend({ start_connect: { hold: true } }));
    await ready(page);
    const button = page.getByRole('button', { name: 'Connect Gmail' });
    await button.click();
    await expect(button.getAttribute('aria-disabled')).resolves.toBe('true');
    // force: Playwright would otherwise wait for aria-disabled to clear.
    await button.click({ force: true });
    expect(await calls(page, 'start_connect')).toHaveLength(1);
    await page.evaluate(() => {
      window.__KEYPORT_TEST__!.replies.start_connect = { ok: { connection_id: 'c', auth_url: 'https://a' } };
      window.__keyportTest?.release('start_connect');
    });
    await expect.poll(() => status(page).innerText()).toContain('Opening your browser…');
    await expect(button.getAttribute('aria-disabled')).resolves.toBe('false');
  });

  it('shows a loading state, then the cards', async () => {
    const page = await open(backend({ list_integrations: { hold: true } }));
    await page.getByText('Loading integrations…').waitFor();
    expect(await cards(page).count()).toBe(0);
    await page.evaluate(() => {
      window.__KEYPORT_TEST__!.replies.list_integrations = { ok: [] };
    });
    await page.evaluate((list) => {
      window.__KEYPORT_TEST__!.replies.list_integrations = { ok: list };
      window.__keyportTest?.release('list_integrations');
    }, integrations);
    await expect.poll(() => cardIds(page)).toHaveLength(4);
    await expect(page.getByText('Loading integrations…').count()).resolves.toBe(0);
  });

  it('shows the backend’s message when loading fails, and Try again reloads', async () => {
    const failure = { code: 'store.busy', message: 'Keyport’s database is busy. Try again in a moment.' };
    const page = await open(backend({ list_integrations: { error: failure } }));
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.innerText()).toContain(failure.message);
    expect(await cards(page).count()).toBe(0);

    await page.evaluate((list) => {
      window.__KEYPORT_TEST__!.replies.list_integrations = { ok: list };
    }, integrations);
    await page.getByRole('button', { name: 'Try again' }).click();
    await expect.poll(() => cardIds(page)).toHaveLength(4);
    await expect(alert.count()).resolves.toBe(0);
    expect(await calls(page, 'list_integrations')).toHaveLength(2);
  });

  it('shows Tauri’s own text when the command is missing from the backend', async () => {
    const config = backend();
    delete config.replies.start_connect;
    const page = await open(config);
    await ready(page);
    await page.getByRole('button', { name: 'Connect Gmail' }).click();
    await expect.poll(() => status(page).innerText()).toBe('command start_connect not found');
  });

  it('is keyboard reachable with a visible focus ring, and Enter connects', async () => {
    const page = await open(backend());
    await ready(page);
    const visited: { name: string; outline: string }[] = [];
    while (visited.at(-1)?.name !== 'Connect Outlook' && visited.length < 12) {
      await page.keyboard.press('Tab');
      visited.push(
        await page.evaluate(() => {
          const el = document.activeElement as HTMLElement;
          const style = getComputedStyle(el);
          const name = el.id === 'integration-search' ? 'search' : (el.textContent ?? '').trim();
          return { name, outline: `${style.outlineStyle} ${style.outlineWidth}` };
        }),
      );
    }
    const names = visited.map((v) => v.name);
    const order = ['search', 'Connect Gmail', 'Connect Google Calendar', 'Connect Google Drive', 'Connect Outlook'];
    const at = order.map((name) => names.indexOf(name));
    expect(at.every((index) => index >= 0), `tab order was ${names.join(' → ')}`).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(at[1]).toBe(at[0]! + 1); // nothing between the search box and the first card
    for (const { name, outline } of visited) {
      const [style, width] = outline.split(' ');
      expect(style, `focus outline of ${name}`).not.toBe('none');
      expect(parseFloat(width ?? '0'), `focus outline of ${name}`).toBeGreaterThanOrEqual(2);
    }

    // Back to "Connect Gmail" and press Enter.
    for (let i = names.length - 1; i > at[1]!; i -= 1) await page.keyboard.press('Shift+Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent?.trim())).resolves.toBe('Connect Gmail');
    await page.keyboard.press('Enter');
    await expect.poll(() => status(page).innerText()).toContain('Opening your browser…');
    expect((await calls(page, 'start_connect')).map((c) => c.args)).toEqual([{ integration: 'gmail' }]);
  });

  it('looks right in light and dark (screenshots in test-results/)', async () => {
    mkdirSync(results, { recursive: true });
    const light = await open(backend());
    await ready(light);
    await light.screenshot({ path: resolve(results, 'catalog.png') });
    const lightBg = await light.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    await light.evaluate((error) => {
      window.__KEYPORT_TEST__!.replies.start_connect = { error };
    }, notConfigured);
    await light.getByRole('button', { name: 'Connect Outlook' }).click();
    await expect.poll(() => status(light).innerText()).toBe(notConfigured.message);
    await light.screenshot({ path: resolve(results, 'catalog-status.png') });
    await context?.close();

    const dark = await open(backend(), { colorScheme: 'dark' });
    await ready(dark);
    await dark.screenshot({ path: resolve(results, 'catalog-dark.png') });
    const darkBg = await dark.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const luminance = (rgb: string) => {
      const [r = 0, g = 0, b = 0] = (rgb.match(/\d+/g) ?? []).map(Number);
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    expect(luminance(lightBg)).toBeGreaterThan(200);
    expect(luminance(darkBg)).toBeLessThan(60);
  });
});
