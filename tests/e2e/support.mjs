// Shared helpers for the E2E tests: paths, isolated dirs, process control
// (process groups + a /proc scan so no app process outlives a test), log
// polling and D-Bus checks. No npm dependencies.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The app (the window): what WebDriver starts and deep links end up in. */
export const KEYPORT_APP = path.resolve(
  process.env.KEYPORT_APP_BIN || path.join(REPO_ROOT, 'target', 'debug', 'keyport-app'),
);
/** The `keyport` CLI beside it (a lone dev.keyport: URL makes it start the app). */
export const KEYPORT_CLI = path.resolve(
  process.env.KEYPORT_CLI_BIN || path.join(path.dirname(KEYPORT_APP), 'keyport'),
);
/** Prefix of the D-Bus name tauri-plugin-single-instance owns (identifier + ".SingleInstance"). */
export const SINGLE_INSTANCE_BUS_PREFIX = 'dev.keyport.desktop.SingleInstance';

/** Fails fast, with a hint, when the suite is not run the way it needs. */
export function checkEnvironment() {
  const problems = [];
  for (const [what, bin, variable] of [
    ['app', KEYPORT_APP, 'KEYPORT_APP_BIN'],
    ['CLI', KEYPORT_CLI, 'KEYPORT_CLI_BIN'],
  ]) {
    if (!fs.existsSync(bin)) problems.push(`${what} binary not found at ${bin} (run \`cargo build\` or set ${variable})`);
  }
  if (!process.env.DISPLAY) problems.push('DISPLAY is not set (no X server)');
  if (!process.env.DBUS_SESSION_BUS_ADDRESS) problems.push('DBUS_SESSION_BUS_ADDRESS is not set (no session bus)');
  if (spawnSync('xwininfo', ['-version'], { encoding: 'utf8' }).error?.code === 'ENOENT') {
    problems.push('xwininfo is not installed (x11-utils): the window count cannot be checked');
  }
  if (problems.length) {
    throw new Error(
      `E2E environment not ready:\n  - ${problems.join('\n  - ')}\n` +
        'Run the suite through tests/e2e/run.sh (it wraps scripts/headless-session.sh).',
    );
  }
}

/** Fresh KEYPORT_DATA_DIR / KEYPORT_CONFIG_DIR under one temp folder. */
export function makeIsolatedDirs(label) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `keyport-e2e-${label}-`));
  const dataDir = path.join(root, 'data');
  const configDir = path.join(root, 'config');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.mkdirSync(configDir, { recursive: true });
  return {
    root,
    dataDir,
    configDir,
    logFile: path.join(dataDir, 'keyport.log'),
    env: {
      KEYPORT_DATA_DIR: dataDir,
      KEYPORT_CONFIG_DIR: configDir,
      // Never open a real browser from a test.
      BROWSER: 'true',
    },
    remove() {
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Free TCP ports on 127.0.0.1 (all held open together, so they differ). */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** An error that stops waitFor at once (e.g. the process it waits on died). */
export function fatal(message) {
  const e = new Error(message);
  e.fatal = true;
  return e;
}

/**
 * Polls `fn` until it returns a truthy value; throws `message()` on timeout.
 * Errors thrown by `fn` are retried, except `fatal(...)` ones.
 */
export async function waitFor(fn, { timeout = 10_000, interval = 100, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e.fatal) throw e;
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const msg = typeof message === 'function' ? message() : message;
      throw new Error(
        `timed out after ${timeout} ms waiting for ${msg}` + (lastError ? ` (last error: ${lastError.message})` : ''),
      );
    }
    await sleep(interval);
  }
}

export function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function tail(text, lines = 25) {
  const all = String(text).trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------
// Processes

const tracked = new Set();

/**
 * Spawns a process in its own process group, collecting stdout/stderr.
 * Everything it starts shares `marker` (an env value unique to the test), so
 * `killAll` can find stragglers even if they left the group.
 */
export function startProcess(cmd, args, { env, marker, label = path.basename(cmd) } = {}) {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: kill(-pid) reaches its children
  });
  const proc = {
    label,
    child,
    pid: child.pid,
    marker,
    output: '',
    exited: false,
    exitCode: null,
    signal: null,
  };
  const collect = (d) => {
    proc.output += d.toString();
    if (proc.output.length > 200_000) proc.output = proc.output.slice(-100_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  proc.exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      proc.exited = true;
      proc.exitCode = code;
      proc.signal = signal;
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      proc.exited = true;
      proc.output += `\n[spawn error] ${err.message}\n`;
      resolve({ code: null, signal: null, error: err });
    });
  });
  tracked.add(proc);
  return proc;
}

/** Waits for exit; returns {code, signal} or null on timeout. */
export async function waitExit(proc, timeout) {
  let timer;
  const t = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), timeout);
  });
  try {
    return await Promise.race([proc.exitPromise, t]);
  } finally {
    clearTimeout(timer);
  }
}

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0): look at its state.
    const stat = readText(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** PIDs of live processes whose environment contains `KEY=value` exactly. */
export function pidsWithEnv(key, value) {
  const needle = Buffer.from(`${key}=${value}\0`);
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let env;
    try {
      env = fs.readFileSync(`/proc/${name}/environ`);
    } catch {
      continue;
    }
    if ((env.indexOf(needle) === 0 || env.includes(Buffer.concat([Buffer.from('\0'), needle]))) && isAlive(Number(name))) {
      out.push(Number(name));
    }
  }
  return out;
}

/** Like pidsWithEnv, without the WebDriver servers (tauri-driver, WebKitWebDriver). */
export function appPidsWithEnv(key, value) {
  return pidsWithEnv(key, value).filter((p) => {
    const comm = readText(`/proc/${p}/comm`).trim();
    return comm !== 'tauri-driver' && !comm.startsWith('WebKitWebDrive');
  });
}

export function describePids(pids) {
  return pids
    .map((p) => `${p} ${readText(`/proc/${p}/cmdline`).replace(/\0/g, ' ').trim()}`)
    .join('\n');
}

function signalGroup(pid, sig, leaderAlive = true) {
  try {
    process.kill(-pid, sig); // a pid still in use as a group id is never reused
  } catch {
    /* group gone */
  }
  if (!leaderAlive) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/**
 * Stops a process started by startProcess: SIGTERM to its group, then
 * SIGKILL after `grace` ms, then SIGKILL for anything still carrying its
 * marker. Returns the pids that had to be killed by marker (stragglers).
 */
export async function stopProcess(proc, { grace = 5_000 } = {}) {
  if (!proc) return [];
  signalGroup(proc.pid, 'SIGTERM', !proc.exited);
  if (!(await waitExit(proc, grace))) signalGroup(proc.pid, 'SIGKILL');
  await waitExit(proc, 2_000);
  const stragglers = proc.marker ? await reapMarker(proc.marker, grace) : [];
  tracked.delete(proc);
  return stragglers;
}

/** Waits up to `grace` ms for marker processes to go, then SIGKILLs the rest. */
export async function reapMarker(marker, grace = 5_000) {
  const [key, value] = marker;
  const deadline = Date.now() + grace;
  let pids = pidsWithEnv(key, value);
  while (pids.length && Date.now() < deadline) {
    await sleep(100);
    pids = pidsWithEnv(key, value);
  }
  const desc = describePids(pids);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return pids.length ? [desc] : [];
}

// Last resort if the test process dies or a test times out: kill synchronously.
process.on('exit', () => {
  for (const proc of tracked) {
    signalGroup(proc.pid, 'SIGKILL', !proc.exited);
    if (proc.marker) {
      for (const p of pidsWithEnv(...proc.marker)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }
});

// ---------------------------------------------------------------------------
// D-Bus

/** Names on the session bus that belong to a running Keyport instance. */
export function singleInstanceOwners() {
  const r = spawnSync(
    'dbus-send',
    ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.ListNames'],
    { encoding: 'utf8', timeout: 5_000 },
  );
  if (r.status !== 0) throw new Error(`dbus-send ListNames failed: ${r.stderr || r.error}`);
  return [...r.stdout.matchAll(/string "([^"]+)"/g)]
    .map((m) => m[1])
    .filter((n) => n.startsWith(SINGLE_INSTANCE_BUS_PREFIX));
}

/**
 * Top-level X windows titled "Keyport" (via xwininfo, from x11-utils, which
 * checkEnvironment requires).
 */
export function keyportWindows() {
  const r = spawnSync('xwininfo', ['-root', '-tree'], { encoding: 'utf8', timeout: 5_000 });
  if (r.status !== 0) throw new Error(`xwininfo failed: ${r.stderr || r.error}`);
  return r.stdout.split('\n').filter((l) => /^\s*0x[0-9a-f]+ "Keyport": /.test(l)).map((l) => l.trim());
}

/** Keyport app processes (any data dir) attached to this test's session bus. */
export function keyportPidsOnThisBus() {
  return pidsWithEnv('DBUS_SESSION_BUS_ADDRESS', process.env.DBUS_SESSION_BUS_ADDRESS).filter(
    (p) => readText(`/proc/${p}/comm`).trim() === 'keyport-app',
  );
}

/** Throws if a Keyport instance already runs on this bus (it would swallow our app). */
export function assertNoRunningInstance() {
  const owners = singleInstanceOwners();
  if (owners.length) {
    throw new Error(
      `a Keyport instance already owns ${owners.join(', ')} on this session bus; ` +
        'a new app would forward to it and exit. An earlier test left an orphan?',
    );
  }
}
