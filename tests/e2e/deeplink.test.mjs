// Deep links on Linux, without WebDriver: a `dev.keyport:` URL given to a
// second process is forwarded over D-Bus (tauri-plugin-single-instance) to
// the running instance, which rejects unknown/invalid links in its log and
// keeps running. A cold start with the URL handles it itself.
//
// The second processes get their OWN data dir: only the first instance can
// write the rejection into the first instance's log, so a second process
// that failed to forward (and started as its own app) cannot make this pass.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  KEYPORT_APP,
  KEYPORT_CLI,
  assertNoRunningInstance,
  checkEnvironment,
  fatal,
  describePids,
  isAlive,
  keyportPidsOnThisBus,
  keyportWindows,
  makeIsolatedDirs,
  pidsWithEnv,
  readText,
  singleInstanceOwners,
  startProcess,
  stopProcess,
  tail,
  waitExit,
  waitFor,
} from './support.mjs';

const UNKNOWN_CALLBACK = 'dev.keyport:/oauth/callback?state=unknownstate123&code=y';
const INVALID_LINK = 'dev.keyport:/bogus';
const STARTED = 'Keyport window started';
const FORWARD_TIMEOUT = 15_000; // a forwarding second instance exits well within this
const LOG_TIMEOUT = 8_000;

/** Starts the GUI app in `dirs`, waits until its window is up. */
async function startApp(dirs, args = []) {
  const app = startProcess(KEYPORT_APP, args, {
    env: dirs.env,
    marker: ['KEYPORT_DATA_DIR', dirs.dataDir],
    label: 'keyport-app',
  });
  await waitFor(
    () => {
      if (app.exited) {
        throw fatal(
          `the app exited during start-up (code ${app.exitCode}, signal ${app.signal}):\n${tail(app.output)}`,
        );
      }
      return readText(dirs.logFile).includes(STARTED);
    },
    { timeout: 30_000, message: () => `"${STARTED}" in ${dirs.logFile}\napp output:\n${tail(app.output)}` },
  );
  return app;
}

/** Waits until the log file of `dirs` contains every string in `needles`. */
async function waitForLog(dirs, needles, what, app) {
  await waitFor(() => needles.every((n) => readText(dirs.logFile).includes(n)), {
    timeout: LOG_TIMEOUT,
    message: () =>
      `${what}: ${needles.map((n) => JSON.stringify(n)).join(' and ')} in ${dirs.logFile}\n` +
      `--- log ---\n${tail(readText(dirs.logFile))}\n` +
      (app ? `--- app output ---\n${tail(app.output)}` : ''),
  });
}

/** Log lines (of a file's text) that contain `needle`. */
function linesWith(text, needle) {
  return text.split('\n').filter((l) => l.includes(needle));
}

/** Runs `keyport <url>` as a second instance; it must forward and exit 0 quickly. */
async function forward(url, label) {
  const dirs = makeIsolatedDirs(`second-${label}`);
  const marker = ['KEYPORT_DATA_DIR', dirs.dataDir];
  const started = Date.now();
  const second = startProcess(KEYPORT_CLI, [url], { env: dirs.env, marker, label: `keyport ${url}` });
  let ok = false;
  try {
    const exit = await waitExit(second, FORWARD_TIMEOUT);
    const ms = Date.now() - started;
    if (!exit) {
      throw new Error(
        `second instance \`keyport '${url}'\` still running after ${FORWARD_TIMEOUT} ms: ` +
          `it did not forward to the running instance (started as its own app?).\n` +
          `bus names: ${JSON.stringify(singleInstanceOwners())}\n--- its output ---\n${tail(second.output)}\n` +
          `--- its log ---\n${tail(readText(dirs.logFile))}`,
      );
    }
    assert.equal(
      exit.code,
      0,
      `second instance \`keyport '${url}'\` exited with code ${exit.code} signal ${exit.signal} ` +
        `(expected 0 after forwarding)\n--- its output ---\n${tail(second.output)}`,
    );
    // It forwarded: it did not handle the link itself.
    const ownLog = readText(dirs.logFile);
    assert.ok(
      !ownLog.includes('deep link rejected') && !ownLog.includes(STARTED),
      `the second instance handled the link itself instead of forwarding:\n${tail(ownLog)}`,
    );
    ok = true;
    return { ms };
  } finally {
    const stragglers = await stopProcess(second, { grace: 2_000 });
    dirs.remove();
    if (ok && stragglers.length) {
      throw new Error(`processes of the second instance outlived it:\n${stragglers.join('\n')}`);
    }
  }
}

/**
 * Instead of waiting a while to see whether the app dies: it must handle
 * one more link (forwarded by a second instance) after the ones before —
 * its rejection, with this link's own state prefix, reaches the log.
 */
let probes = 0;
async function stillHandlesLinks(dirs, app) {
  probes += 1;
  const prefix = `alive${probes}`; // the log shows a state's first 6 characters
  await forward(`dev.keyport:/oauth/callback?state=${prefix}-probe&code=y`, `probe-${probes}`);
  await waitForLog(dirs, [`state="${prefix}"`], 'the app to handle a link after the earlier ones', app);
}

/** SIGTERMs the app and checks that it and its WebKit helpers are gone. */
async function stopAndCheckCleanup(app, dirs) {
  const marker = ['KEYPORT_DATA_DIR', dirs.dataDir];
  process.kill(app.pid, 'SIGTERM');
  const exit = await waitExit(app, 10_000);
  const problems = [];
  if (!exit) problems.push('the app did not exit within 10 s of SIGTERM');
  const left = await waitFor(() => pidsWithEnv(...marker).length === 0, { timeout: 10_000, message: 'helpers' }).then(
    () => null,
    () => describePids(pidsWithEnv(...marker)),
  );
  if (left) problems.push(`processes still running 10 s after the app got SIGTERM:\n${left}`);
  const owners = await waitFor(() => singleInstanceOwners().length === 0, { timeout: 5_000, message: 'bus name' }).then(
    () => null,
    () => singleInstanceOwners(),
  );
  if (owners) problems.push(`the single-instance D-Bus name is still owned: ${owners.join(', ')}`);
  await stopProcess(app, { grace: 1_000 }); // no-op when it is gone; kills stragglers otherwise
  if (problems.length) throw new Error(problems.join('\n'));
}

test('a second instance forwards deep links to the running one', { timeout: 120_000 }, async (t) => {
  checkEnvironment();
  assertNoRunningInstance();
  const dirs = makeIsolatedDirs('first');
  let app;
  t.after(async () => {
    if (app) await stopProcess(app);
    dirs.remove();
  });

  app = await startApp(dirs);
  await waitFor(() => singleInstanceOwners().length === 1, {
    timeout: 10_000,
    message: () => `the app to own ${'dev.keyport.desktop.SingleInstance'} on the session bus; names: ${singleInstanceOwners()}`,
  });

  await waitFor(() => keyportWindows().length === 1, {
    timeout: 10_000,
    message: () => `one "Keyport" window at start; have:\n${keyportWindows().join('\n')}`,
  });

  // 1. A callback for a flow this app never started.
  const before = linesWith(readText(dirs.logFile), 'oauth.state_mismatch').length;
  const cb = await forward(UNKNOWN_CALLBACK, 'callback');
  t.diagnostic(`callback forwarded; second instance exited after ${cb.ms} ms`);
  await waitForLog(dirs, ['code="oauth.state_mismatch"', 'callback for an unknown flow rejected'], 'the forwarded callback to be rejected', app);
  assert.ok(linesWith(readText(dirs.logFile), 'oauth.state_mismatch').length > before, 'a new state_mismatch line');
  // Its stderr says so too (same subscriber, so this is the first process itself).
  await waitFor(() => app.output.includes('oauth.state_mismatch'), {
    timeout: 3_000,
    message: () => `oauth.state_mismatch on the first instance's stderr:\n${tail(app.output)}`,
  });

  // 2. A link that is not a valid Keyport deep link.
  const bad = await forward(INVALID_LINK, 'bogus');
  t.diagnostic(`invalid link forwarded; second instance exited after ${bad.ms} ms`);
  await waitForLog(dirs, ['code="deeplink.invalid"', 'deep link rejected'], 'the forwarded invalid link to be rejected', app);

  // 3. The first instance survived both — it still handles a link after
  // them — and it is the only one.
  await stillHandlesLinks(dirs, app);
  assert.ok(
    !app.exited && isAlive(app.pid),
    `the first instance died (code ${app.exitCode}, signal ${app.signal}):\n${tail(app.output)}\n--- log ---\n${tail(readText(dirs.logFile))}`,
  );
  const apps = keyportPidsOnThisBus();
  assert.deepEqual(apps, [app.pid], `exactly one keyport process on this session bus:\n${describePids(apps)}`);
  const windowsAfter = keyportWindows();
  assert.equal(windowsAfter.length, 1, `still one "Keyport" window after forwarding:\n${windowsAfter.join('\n')}`);
  assert.equal(singleInstanceOwners().length, 1, 'one single-instance owner on the bus');
  assert.ok(!/panicked at/.test(readText(dirs.logFile) + app.output), `no panic:\n${tail(app.output)}`);

  // 4. SIGTERM: the app and its WebKit processes go away, the bus name is freed.
  const a = app;
  app = undefined;
  await stopAndCheckCleanup(a, dirs);
});

test('a cold start with a deep link handles it itself', { timeout: 90_000 }, async (t) => {
  checkEnvironment();
  assertNoRunningInstance();
  const dirs = makeIsolatedDirs('cold');
  let app;
  t.after(async () => {
    if (app) await stopProcess(app);
    dirs.remove();
  });

  app = await startApp(dirs, [UNKNOWN_CALLBACK]);
  await waitForLog(dirs, ['code="oauth.state_mismatch"', 'callback for an unknown flow rejected'], 'the cold-start callback to be rejected', app);
  await waitForLog(dirs, ['deep link rejected'], 'the shell to report the rejected deep link', app);

  await stillHandlesLinks(dirs, app);
  assert.ok(
    !app.exited && isAlive(app.pid),
    `the app died after rejecting the cold-start link (code ${app.exitCode}, signal ${app.signal}):\n${tail(app.output)}`,
  );
  assert.equal(singleInstanceOwners().length, 1, 'the cold-started app owns the single-instance name');
  assert.ok(!/panicked at/.test(readText(dirs.logFile) + app.output), `no panic:\n${tail(app.output)}`);

  const a = app;
  app = undefined;
  await stopAndCheckCleanup(a, dirs);
});
