// The tray icon, closing to the tray and starting at login, in the real app.
// The test plays the desktop: tray_host.py owns org.kde.StatusNotifierWatcher
// on the session bus, so the app's libayatana-appindicator registers its
// StatusNotifierItem there, and the test reads the item (its label and icon)
// and its com.canonical.dbusmenu menu, and clicks menu items with dbusmenu
// Event(id, "clicked"). Windows are closed the way a window manager does
// (WM_DELETE_WINDOW) and looked at with xwininfo.
//
// Two accounts are connected with the CLI against the fake provider. Ana's
// access is revoked and `keyport check` (another process) finds out: the
// tray says 1 connection needs you. Bo's is revoked and the tray's "Check
// all" finds out: 2. Closing the window leaves Keyport running; starting it
// again, or "Open Keyport", shows the window. "Start Keyport when I log in"
// writes and removes $HOME/.config/autostart/Keyport.desktop. With "Keep
// Keyport running…" turned off, closing quits. A login start (--background)
// shows the tray and no window; Quit ends it.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  KEYPORT_APP,
  REPO_ROOT,
  appPidsWithEnv,
  assertNoRunningInstance,
  checkEnvironment,
  describePids,
  fatal,
  keyportWindows,
  makeIsolatedDirs,
  readText,
  startProcess,
  stopProcess,
  tail,
  waitExit,
  waitFor,
} from './support.mjs';
import { Session, startTauriDriver } from './webdriver.mjs';
import { ACCOUNT, click, cli, execute, startFakeProvider, writeBrowserScript, writeCatalog } from './journey.mjs';

const HOST = path.join(REPO_ROOT, 'tests', 'e2e', 'tray_host.py');
// Debian's python3 (python3-dbus, python3-gi, python3-xlib), not another one on PATH.
const PYTHON = '/usr/bin/python3';
const OTHER = 'bo@firm.example';

// --------------------------------------------------------------------------
// The desktop's side

/** Starts tray_host.py watch; `request(cmd)` sends one JSON command and resolves with its answer. */
async function startTrayHost() {
  const child = spawn(PYTHON, [HOST, 'watch'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const host = { child, output: '', lines: [], waiting: [], exited: false };
  child.stdout.on('data', (d) => {
    host.output += d.toString();
    let nl;
    while ((nl = host.output.indexOf('\n')) >= 0) {
      const line = host.output.slice(0, nl);
      host.output = host.output.slice(nl + 1);
      const msg = JSON.parse(line);
      if ('ok' in msg || 'error' in msg) host.waiting.shift()?.(msg);
      else host.lines.push(msg);
    }
  });
  let errors = '';
  child.stderr.on('data', (d) => (errors += d.toString()));
  child.on('exit', () => (host.exited = true));
  host.request = (cmd) =>
    new Promise((resolve, reject) => {
      if (host.exited) return reject(new Error(`tray_host.py exited:\n${errors}`));
      host.waiting.push((msg) => (msg.error ? reject(new Error(msg.error)) : resolve(msg.ok)));
      child.stdin.write(JSON.stringify(cmd) + '\n');
    });
  host.stop = () => {
    child.stdin.end();
    child.kill();
  };
  await waitFor(
    () => {
      if (host.exited) throw fatal(`tray_host.py exited:\n${errors}`);
      return host.lines.some((l) => l.ready);
    },
    { timeout: 10_000, message: () => `tray_host.py to own the watcher name\n${errors}` },
  );
  return host;
}

/** The registered item's label, icon file and menu lines, once one registered. */
async function trayState(host) {
  const st = await host.request({ cmd: 'state' });
  const p = st.properties;
  return {
    label: p.XAyatanaLabel,
    icon: p.IconName,
    menu: st.menu.filter((m) => m.type !== 'separator'),
    first: st.menu[0],
  };
}

/** Waits until the tray's first menu line reads `line`; returns the state. */
async function waitForTray(host, line, timeout = 15_000) {
  let last;
  return waitFor(
    async () => {
      last = await trayState(host);
      return last.first.label === line ? last : null;
    },
    { timeout, interval: 250, message: () => `the tray to say ${JSON.stringify(line)}; it says ${JSON.stringify(last?.first)}` },
  );
}

/** "viewable", "unmapped", or null when there is no Keyport window. */
function windowState() {
  const [line] = keyportWindows();
  if (!line) return null;
  const id = line.split(/\s+/)[0];
  const r = spawnSync('xwininfo', ['-id', id], { encoding: 'utf8', timeout: 5_000 });
  const m = /Map State:\s*(\w+)/.exec(r.stdout);
  return m?.[1] === 'IsViewable' ? 'viewable' : 'unmapped';
}

function waitForWindow(state, what) {
  let last;
  return waitFor(() => (last = windowState()) === state, {
    timeout: 15_000,
    interval: 200,
    message: () => `${what}: the window to be ${state}; it is ${last}`,
  });
}

/** Closes the Keyport window as a window manager's close button does. */
function closeWindow() {
  const r = spawnSync(PYTHON, [HOST, 'close-window', 'Keyport'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `close-window: ${r.stdout}${r.stderr}`);
}

// --------------------------------------------------------------------------

test('the tray counts who needs you, and Keyport lives on in the background', { timeout: 240_000 }, async (t) => {
  checkEnvironment();
  assertNoRunningInstance();
  const dirs = makeIsolatedDirs('tray');
  const marker = ['KEYPORT_DATA_DIR', dirs.dataDir];
  const autostartEntry = path.join(process.env.HOME, '.config', 'autostart', 'Keyport.desktop');
  let host, provider, driver, session, loginStart;
  t.after(async () => {
    if (session) await session.delete();
    if (driver) await driver.stop();
    if (loginStart) await stopProcess(loginStart);
    if (provider) await stopProcess(provider.proc);
    host?.stop();
    fs.rmSync(autostartEntry, { force: true });
    dirs.remove();
  });

  // 1. The desktop's tray, the fake provider, two accounts connected with the CLI.
  host = await startTrayHost();
  provider = await startFakeProvider(['KEYPORT_E2E_PROVIDER', dirs.root]);
  writeCatalog(dirs.configDir, provider.base_url);
  const set = cli(dirs, ['client', 'set', 'google', '--client-id', provider.client_id, '--client-secret-stdin'], provider.client_secret);
  assert.equal(set.status, 0, set.stderr);
  assert.equal(cli(dirs, ['client', 'trust', 'gmail', '--yes']).status, 0);
  const browser = writeBrowserScript(dirs, 0);
  const withBrowser = { ...dirs, env: { ...dirs.env, BROWSER: browser.script } };
  for (const account of [ACCOUNT, OTHER]) {
    const r = cli(withBrowser, ['connect', 'gmail', '--login-hint', account, '--timeout', '20']);
    assert.equal(r.status, 0, `keyport connect gmail (${account}):\n${r.stdout}${r.stderr}\n${readText(browser.log)}`);
  }
  const ids = Object.fromEntries(JSON.parse(cli(dirs, ['list', '--json']).stdout).map((c) => [c.email, c.id]));
  assert.deepEqual(Object.keys(ids).sort(), [ACCOUNT, OTHER]);

  driver = await startTauriDriver({ env: dirs.env, marker });
  const context = () => `\n--- app log ---\n${tail(readText(dirs.logFile))}\n--- driver ---\n${tail(driver.proc.output, 15)}`;
  try {
    session = await Session.create(driver.url, { application: KEYPORT_APP });
    await session.waitForAll('[data-testid="integration-card"]', { timeout: 30_000 });

    // 2. The tray: everything works; the menu.
    const fine = await waitForTray(host, 'All connections work');
    assert.equal(fine.first.enabled, false, 'the count line is not a button');
    assert.deepEqual(
      fine.menu.map((m) => [m.label.replace(/_/g, ''), m.enabled]),
      [['All connections work', false], ['Open Keyport', true], ['Check all', true], ['Quit', true]],
    );
    assert.equal(fine.label, '', 'nothing beside the icon while everything works');
    const plainIcon = fs.readFileSync(fine.icon);

    // 3. Ana's access is revoked; `keyport check` in another process finds out.
    const revoke = async (who) => {
      const token = cli(dirs, ['token', ids[who]]).stdout.trim();
      const r = await fetch(`${provider.base_url}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      });
      assert.equal(r.status, 200, `the provider revoked ${who}`);
    };
    await revoke(ACCOUNT);
    assert.equal(cli(dirs, ['check', ACCOUNT]).status, 3, 'the CLI check finds Ana needs you');
    const one = await waitForTray(host, '1 connection needs you');
    assert.equal(one.label, '1', 'the count beside the icon');
    assert.notEqual(one.icon, fine.icon, 'a new icon');
    const badged = fs.readFileSync(one.icon);
    assert.ok(badged.subarray(1, 4).toString() === 'PNG' && !badged.equals(plainIcon), 'the icon carries a badge');

    // 4. Bo's access is revoked; the tray's Check all finds out.
    await revoke(OTHER);
    await host.request({ cmd: 'click', label: 'Check all' });
    const two = await waitForTray(host, '2 connections need you');
    assert.equal(two.label, '2');
    const statuses = JSON.parse(cli(dirs, ['list', '--json']).stdout).map((c) => c.status);
    assert.deepEqual(statuses, ['needs_reauth', 'needs_reauth']);
    await waitFor(async () => (await trayState(host)).menu.find((m) => m.label.replace(/_/g, '') === 'Check all')?.enabled, {
      timeout: 10_000,
      message: '"Check all" to be offered again',
    });

    // 5. Closing the window leaves Keyport running in the tray (on by default).
    assert.equal(windowState(), 'viewable');
    const apps = () => appPidsWithEnv(...marker).filter((p) => readText(`/proc/${p}/comm`).trim() === 'keyport-app');
    const running = apps();
    assert.equal(running.length, 1, describePids(running));
    closeWindow();
    await waitForWindow('unmapped', 'after closing');
    await new Promise((r) => setTimeout(r, 1_000));
    assert.deepEqual(apps(), running, 'the same app still runs');
    assert.equal((await trayState(host)).first.label, '2 connections need you', 'the tray is still there');

    // Starting Keyport again shows the window (the second process hands over and exits).
    const again = startProcess(KEYPORT_APP, [], { env: dirs.env, marker, label: 'keyport-app (again)' });
    const handed = await waitExit(again, 20_000);
    assert.ok(handed, `the second start exits:\n${again.output}`);
    assert.equal(handed.code, 0, again.output);
    await waitForWindow('viewable', 'after starting Keyport again');

    // Closed again, "Open Keyport" in the tray shows it.
    closeWindow();
    await waitForWindow('unmapped', 'after closing again');
    await host.request({ cmd: 'click', label: 'Open Keyport' });
    await waitForWindow('viewable', 'after Open Keyport');

    // 6. Settings: "Start Keyport when I log in" writes and removes the login entry.
    await execute(session, "location.hash = '#/settings';");
    const loginSwitch = '//label[normalize-space(.)="Start Keyport when I log in"]/input';
    await session.waitForAll(`${loginSwitch}[not(@disabled)]`, { using: 'xpath' });
    assert.equal(fs.existsSync(autostartEntry), false, `no ${autostartEntry} yet`);
    await click(session, loginSwitch);
    await waitFor(() => fs.existsSync(autostartEntry), { timeout: 10_000, message: autostartEntry });
    const exec = /^Exec=(.*)$/m.exec(readText(autostartEntry))?.[1];
    assert.equal(exec?.trim(), `${KEYPORT_APP} --background`, 'a login start runs in the background');
    await waitFor(() => execute(session, 'return document.evaluate(arguments[0], document).iterateNext()?.checked;', [loginSwitch]), {
      timeout: 5_000,
      message: 'the switch to show on',
    });
    await click(session, loginSwitch);
    await waitFor(() => !fs.existsSync(autostartEntry), { timeout: 10_000, message: `${autostartEntry} removed` });

    // 7. "Keep Keyport running…" off: closing the window quits.
    const keep = '//label[normalize-space(.)="Keep Keyport running in the background when I close the window"]/input';
    await click(session, keep);
    await waitFor(() => execute(session, 'return document.evaluate(arguments[0], document).iterateNext()?.checked === false;', [keep]), {
      timeout: 5_000,
      message: 'the switch to show off',
    });
    closeWindow();
    await waitFor(() => apps().length === 0, {
      timeout: 15_000,
      message: () => `the app to quit on close:\n${describePids(apps())}`,
    });
    await session.delete();
    session = undefined;

    // 8. A login start: the tray with the count, no window; Quit ends it.
    loginStart = startProcess(KEYPORT_APP, ['--background'], { env: dirs.env, marker, label: 'keyport-app --background' });
    const back = await waitForTray(host, '2 connections need you', 30_000);
    assert.equal(back.label, '2');
    await new Promise((r) => setTimeout(r, 1_000));
    assert.notEqual(windowState(), 'viewable', 'a login start opens no window');
    await host.request({ cmd: 'click', label: 'Quit' });
    const quit = await waitExit(loginStart, 15_000);
    assert.deepEqual(quit, { code: 0, signal: null }, `Quit ends Keyport:\n${tail(loginStart.output)}`);
    loginStart = undefined;

    // 9. A desktop that shows no tray icons (no host registered with the
    //    watcher, as stock GNOME without the AppIndicator extension): a login
    //    start shows its window rather than run unseen, and closing it quits.
    await host.request({ cmd: 'drop-host' });
    loginStart = startProcess(KEYPORT_APP, ['--background'], { env: dirs.env, marker, label: 'keyport-app --background, no tray host' });
    await waitForWindow('viewable', 'a login start where no tray shows');
    closeWindow();
    const closed = await waitExit(loginStart, 15_000);
    assert.deepEqual(closed, { code: 0, signal: null }, `closing quits without a tray host:\n${tail(loginStart.output)}`);
    loginStart = undefined;
  } catch (e) {
    e.message += context();
    throw e;
  }
});
