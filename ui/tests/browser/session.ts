// One headless Chromium per test file, the mocked-IPC page, and the checks every
// test gets for free: any CSP violation, page error or console error fails it.
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HarnessConfig, IpcLogEntry } from './harness/protocol';

export const results = resolve(dirname(fileURLToPath(import.meta.url)), '../../test-results');

export interface OpenOptions {
  colorScheme?: 'light' | 'dark';
  /** The URL hash to start on, e.g. "#/connections". */
  hash?: string;
  /** Install Playwright's fake clock before the page loads (for timeouts). */
  fakeClock?: boolean;
  /** The window's size (default 1000×700). */
  viewport?: { width: number; height: number };
}

/** Registers the hooks of a browser test file; `suite` names its part of ipc-log.json. */
export function browserSession(suite: string) {
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
      ipcLog[ctx.task.name] = await page.evaluate(() => window.__keyportTest?.log ?? []);
      const csp = await page.evaluate(() => window.__cspViolations ?? []);
      problems.push(...csp.map((v) => `CSP violation: ${v}`));
    }
    await context?.close();
    context = undefined;
    const found = problems;
    problems = [];
    expect(found).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    mkdirSync(results, { recursive: true });
    // One file for all suites (global setup starts it empty): merge this suite's part in.
    const file = resolve(results, 'ipc-log.json');
    const all = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
    all[suite] = ipcLog;
    writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
  });

  async function open(config: HarnessConfig, options: OpenOptions = {}): Promise<Page> {
    const previous = context?.pages()[0];
    if (previous) {
      const csp = await previous.evaluate(() => window.__cspViolations ?? []);
      problems.push(...csp.map((v) => `CSP violation: ${v}`));
    }
    await context?.close();
    context = await browser.newContext({
      viewport: options.viewport ?? { width: 1000, height: 700 },
      colorScheme: options.colorScheme ?? 'light',
      reducedMotion: 'reduce',
    });
    const page = await context.newPage();
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    if (options.fakeClock) await page.clock.install();
    await page.addInitScript((cfg) => {
      // As Tauri does with "freezePrototype": true in tauri.conf.json.
      Object.freeze(Object.prototype);
      window.__KEYPORT_TEST__ = cfg;
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (event) => {
        window.__cspViolations?.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
      });
    }, config);
    await page.goto(`${url}${options.hash ?? ''}`);
    return page;
  }

  return {
    open,
    /** The page's context (e.g. to grant clipboard permissions). */
    context: () => context,
  };
}

/** Every IPC call of `cmd` so far. */
export function calls(page: Page, cmd: string): Promise<IpcLogEntry[]> {
  return page.evaluate((c) => (window.__keyportTest?.log ?? []).filter((e) => e.cmd === c), cmd);
}

/** The args of every call of `cmd` so far. */
export async function argsOf(page: Page, cmd: string): Promise<unknown[]> {
  return (await calls(page, cmd)).map((c) => c.args);
}

/** Change how the mocked backend answers `cmd` from now on. */
export function reply(page: Page, cmd: string, answer: HarnessConfig['replies'][string]): Promise<void> {
  return page.evaluate(
    ([c, a]) => {
      window.__KEYPORT_TEST__!.replies[c] = a;
    },
    [cmd, answer] as const,
  );
}

/** Fire a backend event at the page, as the Rust shell would. */
export function emit(page: Page, event: string, payload: unknown): Promise<void> {
  return page.evaluate(([e, p]) => window.__keyportTest!.emit(e, p), [event, payload] as const);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(results, { recursive: true });
  await page.screenshot({ path: resolve(results, name) });
}

/** The repository's docs/screenshots/, for the pictures the README shows. */
export const docsScreenshots = resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs/screenshots');

/** A screenshot for the docs (and a copy in test-results/). */
export async function docsScreenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  mkdirSync(results, { recursive: true });
  mkdirSync(docsScreenshots, { recursive: true });
  const png = await page.screenshot({ path: resolve(results, name), fullPage: options.fullPage ?? false });
  writeFileSync(resolve(docsScreenshots, name), png);
}

/** Is `locator`'s element the focused one? */
export function isFocused(page: Page, selector: string): Promise<boolean> {
  return page.evaluate((s) => document.activeElement === document.querySelector(s), selector);
}
