// A tiny W3C WebDriver client (plain fetch) and a tauri-driver launcher.
// Only what the E2E tests use: sessions, CSS/XPath lookup, text, attributes,
// click, screenshots.

import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { fatal, freePorts, startProcess, stopProcess, waitFor, tail } from './support.mjs';

const ELEMENT_KEY = 'element-6066-11e4-a52e-4f735466cecf';

export class WebDriverError extends Error {
  constructor(what, status, value) {
    const v = value && typeof value === 'object' ? value : {};
    super(`${what}: HTTP ${status} ${v.error ?? ''} ${v.message ?? JSON.stringify(value)}`.trim());
    this.status = status;
    this.error = v.error;
  }
}

/** Where tauri-driver is: $TAURI_DRIVER, else on PATH, else ~/.cargo/bin
 * (run.sh sets TAURI_DRIVER before headless-session.sh swaps HOME). */
export function findTauriDriver() {
  if (process.env.TAURI_DRIVER) return process.env.TAURI_DRIVER;
  const dirs = (process.env.PATH || '').split(path.delimiter);
  dirs.push(path.join(os.homedir(), '.cargo', 'bin'));
  for (const d of dirs) {
    const p = path.join(d, 'tauri-driver');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error(
    'tauri-driver not found (set TAURI_DRIVER or install it: cargo install tauri-driver --version ^2 --locked)',
  );
}

/**
 * Starts tauri-driver on free ports. `env` goes to tauri-driver and, through
 * WebKitWebDriver, to the app. `marker` ([key, value]) identifies every
 * process of this run for cleanup.
 */
export async function startTauriDriver({ env = {}, marker } = {}) {
  const bin = findTauriDriver();
  const [port, nativePort] = await freePorts(2);
  const proc = startProcess(bin, ['--port', String(port), '--native-port', String(nativePort)], {
    env,
    marker,
    label: 'tauri-driver',
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (proc.exited) throw fatal(`tauri-driver exited (code ${proc.exitCode}):\n${tail(proc.output)}`);
        const r = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2_000) });
        const body = await r.json();
        return r.ok && body?.value?.ready !== false;
      },
      { timeout: 15_000, interval: 200, message: () => `tauri-driver on ${url}\n${tail(proc.output)}` },
    );
  } catch (e) {
    await stopProcess(proc);
    throw e;
  }
  return {
    url,
    proc,
    async stop() {
      return stopProcess(proc);
    },
  };
}

export class Session {
  constructor(baseUrl, id, capabilities) {
    this.baseUrl = baseUrl;
    this.id = id;
    this.capabilities = capabilities;
  }

  /** POST /session. `application` is the absolute path of the Tauri binary. */
  static async create(baseUrl, { application, args = [] }, { timeout = 30_000 } = {}) {
    const body = {
      capabilities: {
        alwaysMatch: {
          // tauri-driver turns this into webkitgtk:browserOptions on Linux.
          'tauri:options': { application: path.resolve(application), args },
          // Optional; WebKitWebDriver reports wry's name and accepts it.
          browserName: 'wry',
        },
      },
    };
    const value = await request(baseUrl, 'POST', '/session', body, timeout, 'new session');
    if (!value?.sessionId) throw new Error(`new session: unexpected reply ${JSON.stringify(value)}`);
    return new Session(baseUrl, value.sessionId, value.capabilities);
  }

  cmd(method, suffix, body, what, timeout = 30_000) {
    return request(this.baseUrl, method, `/session/${this.id}${suffix}`, body, timeout, what ?? `${method} ${suffix}`);
  }

  /** Deletes the session (closes the app). Never throws. */
  async delete() {
    try {
      await this.cmd('DELETE', '', undefined, 'delete session', 20_000);
      return null;
    } catch (e) {
      return e;
    }
  }

  title() {
    return this.cmd('GET', '/title', undefined, 'get title');
  }

  async findAll(selector, using = 'css selector') {
    const list = await this.cmd('POST', '/elements', { using, value: selector }, `find ${selector}`);
    return list.map((ref) => new Element(this, ref[ELEMENT_KEY]));
  }

  async find(selector, using = 'css selector') {
    const ref = await this.cmd('POST', '/element', { using, value: selector }, `find ${selector}`);
    return new Element(this, ref[ELEMENT_KEY]);
  }

  /** Waits until `selector` matches at least one element; returns them all. */
  async waitForAll(selector, { timeout = 20_000, using = 'css selector' } = {}) {
    return waitFor(
      async () => {
        const els = await this.findAll(selector, using);
        return els.length ? els : null;
      },
      { timeout, interval: 250, message: `element ${selector}` },
    );
  }

  /** Writes a PNG of the window's viewport to `file`. */
  async screenshot(file) {
    const b64 = await this.cmd('GET', '/screenshot', undefined, 'screenshot');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(b64, 'base64'));
    return file;
  }
}

export class Element {
  constructor(session, id) {
    this.session = session;
    this.id = id;
  }
  cmd(method, suffix, body, what) {
    return this.session.cmd(method, `/element/${this.id}${suffix}`, body, what);
  }
  text() {
    return this.cmd('GET', '/text', undefined, 'element text');
  }
  attribute(name) {
    return this.cmd('GET', `/attribute/${encodeURIComponent(name)}`, undefined, `attribute ${name}`);
  }
  click() {
    return this.cmd('POST', '/click', {}, 'click');
  }
  /** Types `text` into the element, as a person at the keyboard. */
  sendKeys(text) {
    return this.cmd('POST', '/value', { text }, 'send keys');
  }
  async findAll(selector, using = 'css selector') {
    const list = await this.cmd('POST', '/elements', { using, value: selector }, `find ${selector}`);
    return list.map((ref) => new Element(this.session, ref[ELEMENT_KEY]));
  }
}

async function request(baseUrl, method, urlPath, body, timeout, what) {
  let res;
  try {
    res = await fetch(baseUrl + urlPath, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeout),
    });
  } catch (e) {
    throw new Error(`${what}: ${method} ${urlPath} failed: ${e.message}`);
  }
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebDriverError(what, res.status, text.slice(0, 500));
  }
  if (!res.ok) throw new WebDriverError(what, res.status, json?.value);
  return json.value;
}
