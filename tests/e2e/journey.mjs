// What the E2E journeys share: the fake provider (target/debug/fake-provider)
// with the Gmail and Google Calendar entries pointed at it, the `keyport` CLI
// with a test's dirs, a $BROWSER script that approves a sign-in like a
// browser would, and WebDriver helpers on top of webdriver.mjs.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { KEYPORT_APP, KEYPORT_CLI, fatal, startProcess, tail, waitFor } from './support.mjs';

export const FAKE_PROVIDER = process.env.KEYPORT_FAKE_PROVIDER_BIN || path.join(path.dirname(KEYPORT_APP), 'fake-provider');
/**
 * When the app under test was built with a built-in Google client (as the
 * release workflow builds it, KEYPORT_GOOGLE_CLIENT_ID/SECRET at build time),
 * the installer test passes the same values here: the fake provider then
 * knows that client and the test sets none of its own.
 */
export const BUILTIN = process.env.KEYPORT_E2E_BUILTIN_CLIENT_ID
  ? { id: process.env.KEYPORT_E2E_BUILTIN_CLIENT_ID, secret: process.env.KEYPORT_E2E_BUILTIN_CLIENT_SECRET ?? '' }
  : null;
export const ACCOUNT = 'ana@firm.example';

// --------------------------------------------------------------------------
// Fixtures: the fake provider, the catalog override, the OAuth client, $BROWSER

/** Starts the fake provider on a free port; resolves with its first stdout line. */
export async function startFakeProvider(marker) {
  if (!fs.existsSync(FAKE_PROVIDER)) {
    throw new Error(`${FAKE_PROVIDER} not found: run \`cargo build -p fake-provider\``);
  }
  const args = ['--port', '0'];
  if (BUILTIN) args.push('--client-id', BUILTIN.id, '--client-secret', BUILTIN.secret);
  const proc = startProcess(FAKE_PROVIDER, args, { marker, label: 'fake-provider' });
  const info = await waitFor(
    () => {
      if (proc.exited) throw fatal(`the fake provider exited (code ${proc.exitCode}):\n${tail(proc.output)}`);
      const line = proc.output.split('\n').find((l) => l.trim().startsWith('{'));
      return line ? JSON.parse(line) : null;
    },
    { timeout: 15_000, message: () => `the fake provider's JSON line\n${tail(proc.output)}` },
  );
  return { proc, ...info };
}

/** Points the built-in Gmail and Google Calendar entries at the fake provider (user catalog file, field by field). */
export function writeCatalog(configDir, base) {
  const entry = (id, check) => [
    '[[integration]]',
    `id = "${id}"`,
    `authorize_url = "${base}/authorize"`,
    `issuer = "${base}"`,
    `token_url = "${base}/token"`,
    `revocation_url = "${base}/revoke"`,
    `userinfo_url = "${base}/userinfo"`,
    `check_url = "${base}${check}"`,
    '',
  ];
  fs.writeFileSync(
    path.join(configDir, 'integrations.toml'),
    [
      ...entry('gmail', '/gmail/v1/users/me/profile'),
      ...entry('google-calendar', '/calendar/v3/users/me/calendarList?maxResults=1'),
    ].join('\n'),
  );
}

/** Runs the CLI with the test's dirs; returns {status, stdout, stderr}. */
export function cli(dirs, args, input) {
  const r = spawnSync(KEYPORT_CLI, args, {
    env: { ...process.env, ...dirs.env },
    input,
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.error) throw new Error(`keyport ${args.join(' ')}: ${r.error.message}`);
  return r;
}

/**
 * The "browser": takes the authorization URL, asks the provider (which
 * auto-approves as ana@firm.example) where it redirects, and delivers that
 * like a browser (after `delaySeconds`): a loopback URL is fetched, a dev.keyport: URL is handed to
 * `keyport <url>` (which forwards it to the running app). In the background,
 * so the app is never blocked on it. Every hand-off is logged.
 */
export function writeBrowserScript(dirs, delaySeconds = 2) {
  const script = path.join(dirs.root, 'browser.sh');
  const log = path.join(dirs.root, 'browser.log');
  fs.writeFileSync(
    script,
    `#!/bin/sh
# Fake browser for the E2E test: $1 is the authorization URL.
(
    sleep ${delaySeconds}
    # The Location header as sent (curl's %{redirect_url} would normalise
    # dev.keyport:/oauth/callback into dev.keyport://oauth/callback).
    loc=$(curl -s -o /dev/null -D - "$1" | sed -n 's/^[Ll]ocation: *//p' | tr -d '\\r')
    echo "authorize -> $loc" >> '${log}'
    case "$loc" in
        http://127.0.0.1:*|http://\\[::1\\]:*)
            curl -s -o /dev/null -w 'loopback callback: HTTP %{http_code}\\n' "$loc" >> '${log}' 2>&1 ;;
        dev.keyport:*)
            '${KEYPORT_CLI}' "$loc" >> '${log}' 2>&1
            echo "deep link handed over: exit $?" >> '${log}' ;;
        *)
            echo "no redirect to deliver" >> '${log}' ;;
    esac
) </dev/null >/dev/null 2>&1 &
exit 0
`,
  );
  fs.chmodSync(script, 0o755);
  return { script, log };
}

// --------------------------------------------------------------------------
// WebDriver helpers (on top of webdriver.mjs)

/** XPath literal for any text (handles quotes). */
export function lit(text) {
  if (!text.includes('"')) return `"${text}"`;
  if (!text.includes("'")) return `'${text}'`;
  return `concat(${text.split('"').map((p) => `"${p}"`).join(`, '"', `)})`;
}

export const buttonNamed = (name, within = '') => `${within}//button[normalize-space(.)=${lit(name)}]`;

export function execute(session, script, args = []) {
  return session.cmd('POST', '/execute/sync', { script, args }, 'execute script');
}

/** innerText of the first element matching `css`, or null. */
export function textOf(session, css) {
  return execute(session, 'const el = document.querySelector(arguments[0]); return el ? el.innerText : null;', [css]);
}

export async function waitForText(session, css, needle, { timeout = 20_000, what } = {}) {
  let last = null;
  return waitFor(
    async () => {
      last = await textOf(session, css);
      return last !== null && last.includes(needle) ? last : null;
    },
    { timeout, interval: 200, message: () => `${what ?? css} to contain ${JSON.stringify(needle)}; it says ${JSON.stringify(last)}` },
  );
}

export async function click(session, selector, using = 'xpath') {
  const [el] = await session.waitForAll(selector, { using });
  await el.click();
}
