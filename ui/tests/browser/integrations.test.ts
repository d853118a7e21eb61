// The Integrations view in real Chromium, with Tauri's IPC mocked (see harness/).
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { acmeMail, backend, integrations } from './fixtures';
import { browserSession, calls, emit, reply, screenshot } from './session';

const { open } = browserSession('integrations');

const cards = (page: Page) => page.getByTestId('integration-card');

async function cardIds(page: Page): Promise<string[]> {
  return cards(page).evaluateAll((els) => els.map((el) => el.getAttribute('data-integration') ?? ''));
}

async function ready(page: Page) {
  await cards(page).first().waitFor();
}

describe('Integrations view', () => {
  it('says a restart is needed once the integrations file changed on disk', async () => {
    const page = await open(backend());
    await ready(page);
    await expect(page.getByTestId('catalog-changed').count()).resolves.toBe(0);
    await emit(page, 'keyport://catalog-changed', null);
    await expect.poll(() => page.getByTestId('catalog-changed').count()).toBe(1);
    expect(await page.getByTestId('catalog-changed').innerText()).toContain(
      'Your integrations file changed. Quit Keyport and open it again to use the new version',
    );
  });

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

  it('shows a loading state, then the cards', async () => {
    const page = await open(backend({ list_integrations: { hold: true } }));
    await page.getByText('Loading integrations…').waitFor();
    expect(await cards(page).count()).toBe(0);
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

    await reply(page, 'list_integrations', { ok: integrations });
    await page.getByRole('button', { name: 'Try again' }).click();
    await expect.poll(() => cardIds(page)).toHaveLength(4);
    await expect(alert.count()).resolves.toBe(0);
    expect(await calls(page, 'list_integrations')).toHaveLength(2);
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

    // Back to "Connect Gmail": Enter opens its dialog (see connect.test.ts for the rest).
    for (let i = names.length - 1; i > at[1]!; i -= 1) await page.keyboard.press('Shift+Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent?.trim())).resolves.toBe('Connect Gmail');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Connect Gmail' }).waitFor();
    expect(await calls(page, 'start_connect')).toEqual([]);
  });

  it('looks right in light and dark (screenshots in test-results/)', async () => {
    const light = await open(backend());
    await ready(light);
    await screenshot(light, 'catalog.png');
    const lightBg = await light.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);

    const dark = await open(backend(), { colorScheme: 'dark' });
    await ready(dark);
    await screenshot(dark, 'catalog-dark.png');
    const darkBg = await dark.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const luminance = (rgb: string) => {
      const [r = 0, g = 0, b = 0] = (rgb.match(/\d+/g) ?? []).map(Number);
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    expect(luminance(lightBg)).toBeGreaterThan(200);
    expect(luminance(darkBg)).toBeLessThan(60);
  });
});
