// The whole connect journey in the real app, through WebDriver, against the
// fake provider (target/debug/fake-provider): Connect Gmail →
// the "browser" (a $BROWSER script that follows the provider's auto-approve
// redirect and delivers it like a browser would) → "Connected as
// ana@firm.example" → the Connections list → Check now → Disconnect (revoked
// at the provider) → the CLI sees nothing left. Then once more with the
// deep-link return (Advanced), delivered by a second `keyport <url>` process
// through single-instance forwarding; then "Add Google Calendar" on that
// account: one more sign-in, one account grant with two integrations.
//
// Leaves docs/screenshots/waiting.png and docs/screenshots/connected.png.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  KEYPORT_APP,
  REPO_ROOT,
  appPidsWithEnv,
  assertNoRunningInstance,
  checkEnvironment,
  describePids,
  makeIsolatedDirs,
  readText,
  startProcess,
  stopProcess,
  tail,
  waitFor,
} from './support.mjs';
import { Session, startTauriDriver } from './webdriver.mjs';
import {
  ACCOUNT,
  BUILTIN,
  buttonNamed,
  click,
  cli,
  execute,
  startFakeProvider,
  textOf,
  waitForText,
  writeBrowserScript,
  writeCatalog,
} from './journey.mjs';

const SHOTS = path.join(REPO_ROOT, 'docs', 'screenshots');
/** How long the fake browser "takes" before it hands the sign-in back (time to see the waiting state). */
const BROWSER_DELAY_S = 2;

/** The app's state, for failure messages. */
function context(dirs, driver, browser) {
  return (
    `\n--- app log ---\n${tail(readText(dirs.logFile))}` +
    `\n--- browser script log ---\n${tail(readText(browser.log))}` +
    `\n--- driver output ---\n${tail(driver.proc.output, 15)}`
  );
}

// --------------------------------------------------------------------------
// The journey

async function connectGmail(session, { redirect, screenshot } = {}) {
  await click(session, buttonNamed('Connect Gmail'));
  await session.waitForAll('[data-testid="connect-dialog"]');
  // The default access (the preset marked default) is already chosen.
  const chosen = await execute(session, 'return document.querySelector(\'input[name="preset"]:checked\')?.value ?? null;');
  assert.ok(chosen, 'a preset is chosen by default');
  if (redirect) {
    await click(session, '//dialog//summary[normalize-space(.)="Advanced"]');
    // WebKitWebDriver cannot click an <option> of a closed <select> ("not
    // interactable"): choose it the way the select itself reports a choice.
    await execute(
      session,
      `const select = document.querySelector('#connect-redirect');
       select.value = arguments[0];
       select.dispatchEvent(new Event('change', { bubbles: true }));`,
      [redirect],
    );
    const value = await execute(session, "return document.querySelector('#connect-redirect').value;");
    assert.equal(value, redirect, 'the redirect mode is chosen');
  }
  await click(session, buttonNamed('Continue in browser', '//dialog'));
  await waitForText(session, '[data-testid="connect-dialog"]', 'Waiting for you to finish in your browser', {
    timeout: 10_000,
    what: 'the connect dialog',
  });
  if (screenshot) await session.screenshot(screenshot);
  return waitForText(session, '[data-testid="connect-dialog"]', `Connected as ${ACCOUNT}`, {
    timeout: 30_000,
    what: 'the connect dialog',
  });
}

test('connect Gmail, check it, disconnect it — the real app against the fake provider', { timeout: 240_000 }, async (t) => {
  checkEnvironment();
  assertNoRunningInstance();
  const dirs = makeIsolatedDirs('connect');
  const marker = ['KEYPORT_DATA_DIR', dirs.dataDir];
  let provider;
  let driver;
  let session;
  t.after(async () => {
    if (session) await session.delete();
    if (driver) await driver.stop();
    if (provider) await stopProcess(provider.proc);
    dirs.remove();
  });

  // 1. Fake provider, catalog override, the Google client (secret through stdin, into the keyring).
  provider = await startFakeProvider(['KEYPORT_E2E_PROVIDER', dirs.root]);
  t.diagnostic(`fake provider at ${provider.base_url}`);
  writeCatalog(dirs.configDir, provider.base_url);
  if (BUILTIN) {
    // No `client set`: the client built into the app is the one in use.
    const list = cli(dirs, ['client', 'list', '--json']);
    const google = JSON.parse(list.stdout).find((c) => c.provider === 'google');
    assert.equal(google?.source, 'built_in', `the built-in client is in use:\n${list.stdout}${list.stderr}`);
  } else {
    const set = cli(dirs, ['client', 'set', 'google', '--client-id', provider.client_id, '--client-secret-stdin'], provider.client_secret);
    assert.equal(set.status, 0, `keyport client set failed:\n${set.stderr}`);
  }
  // The catalog points Gmail at the fake provider: its writer confirms it.
  for (const id of ['gmail', 'google-calendar']) {
    const trust = cli(dirs, ['client', 'trust', id, '--yes']);
    assert.equal(trust.status, 0, `keyport client trust ${id} failed:\n${trust.stderr}`);
  }
  const browser = writeBrowserScript(dirs, BROWSER_DELAY_S);

  // 2. The app, with $BROWSER pointing at the script.
  driver = await startTauriDriver({ env: { ...dirs.env, BROWSER: browser.script }, marker });
  let failure;
  const timings = {};
  try {
    session = await Session.create(driver.url, { application: KEYPORT_APP });
    await session.waitForAll('[data-testid="integration-card"][data-integration="gmail"]', { timeout: 30_000 });

    // 3. Connect with the defaults (Gmail returns through loopback).
    let started = Date.now();
    const done = await connectGmail(session, { screenshot: path.join(SHOTS, 'waiting.png') });
    timings.connectLoopbackMs = Date.now() - started;
    assert.match(done, /Gmail · \S/, 'the dialog says what was granted');
    assert.match(readText(browser.log), /loopback callback: HTTP 200/, 'the browser script delivered the loopback redirect');

    // 4. The Connections list shows the account, active.
    await click(session, buttonNamed('See connections', '//dialog'));
    const rowCss = '[data-testid="connection-row"]';
    const row = await waitForText(session, rowCss, ACCOUNT, { what: 'the connection row' });
    assert.match(row, /Active/, `the row says Active: ${row}`);
    const health = await execute(session, `return document.querySelector('${rowCss}').dataset.health;`);
    assert.equal(health, 'active');
    const listed = JSON.parse(cli(dirs, ['list', '--json']).stdout);
    assert.equal(listed.length, 1, 'the CLI sees one connection');
    const id = listed[0].id;
    assert.equal(listed[0].email, ACCOUNT);

    // A local program takes a token (this test runner, as a mail client
    // would); the detail names it.
    const sasl = cli(dirs, ['token', id, '--xoauth2']);
    assert.equal(sasl.status, 0, sasl.stderr);

    // 5. Check now: still active, with a fresh "last checked" time.
    await click(session, `${rowCss} button.open`, 'css selector');
    await session.waitForAll('#connection-detail');
    const runner = path.basename(fs.realpathSync(process.execPath));
    const usedBy = await waitForText(session, '[data-testid="used-by"]', `${runner}, just now`, { what: 'who used it' });
    assert.equal(usedBy.trim(), `${runner}, just now`);
    started = Date.now();
    await click(session, buttonNamed('Check now', '//aside'));
    const checked = await waitForText(session, '[data-testid="check-result"]', 'Checked just now', { what: 'the check result' });
    timings.checkMs = Date.now() - started;
    assert.match(checked, /Gmail answered/);
    const after = await textOf(session, rowCss);
    assert.match(after, /Active/, `still Active after the check: ${after}`);
    assert.match(after, /Checked just now/, `the row shows the new check time: ${after}`);
    const history = await waitForText(session, '#connection-detail', 'Connected', { what: 'the history' });
    assert.match(history, /Sign-in started/);
    await execute(session, 'document.activeElement?.blur(); window.scrollTo(0, 0);');
    await session.screenshot(path.join(SHOTS, 'connected.png'));

    // 5b. Access is revoked at the provider and the CLI finds out: the open
    //     window posts one desktop notification (seen on the session bus),
    //     and not again for the next check.
    const monitor = startProcess(
      'dbus-monitor',
      ['--session', "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"],
      { label: 'dbus-monitor' },
    );
    t.after(() => stopProcess(monitor));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const bearer = cli(dirs, ['token', id]).stdout.trim();
    const revoked = await fetch(`${provider.base_url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: bearer }),
    });
    assert.equal(revoked.status, 200, 'the provider revoked the grant');
    assert.equal(cli(dirs, ['check', id]).status, 3, 'the CLI check finds the connection needs the person');
    const notified = await waitFor(
      () => (monitor.output.includes('Keyport: reconnect needed') ? monitor.output : null),
      { timeout: 8_000, message: () => `a Notify call on the session bus; dbus-monitor saw:\n${tail(monitor.output)}` },
    );
    assert.match(notified, /ana@firm\.example \(gmail\) needs you to sign in again/);
    await waitForText(session, rowCss, 'Needs attention', { what: 'the row after the CLI check' });
    assert.equal(cli(dirs, ['check', id]).status, 3);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal(monitor.output.split('Keyport: reconnect needed').length - 1, 1, 'one notification per change');

    // 6. Disconnect: the confirmation says what happens; confirm; the list is empty.
    await click(session, buttonNamed('Disconnect', '//aside'));
    const confirm = await waitForText(session, '[data-testid="disconnect-dialog"]', `Disconnect ${ACCOUNT}?`, {
      what: 'the disconnect dialog',
    });
    assert.match(confirm, /Disconnect ana@firm\.example\?/);
    const said = await waitForText(session, '[data-testid="disconnect-plan"]', 'is revoked', { what: 'the disconnect plan' });
    assert.match(said, /Gmail for ana@firm\.example stops working, and Keyport's access to ana@firm\.example is revoked\./);
    started = Date.now();
    await click(session, buttonNamed('Disconnect', '//dialog'));
    const result = await waitForText(session, '[data-testid="disconnect-result"]', 'Disconnected', { what: 'the disconnect result' });
    timings.disconnectMs = Date.now() - started;
    assert.match(result, /revoked Keyport's access/, `the provider confirmed the revocation (already revoked there): ${result}`);
    await waitForText(session, 'main', 'No connections yet', { what: 'the empty Connections view' });
    assert.equal((await session.findAll(rowCss)).length, 0, 'no rows left');

    // 7. Nothing left behind: the CLI lists nothing and has no token for it.
    assert.deepEqual(JSON.parse(cli(dirs, ['list', '--json']).stdout), [], 'keyport list --json is []');
    const token = cli(dirs, ['token', id]);
    assert.equal(token.status, 1, `keyport token ${id} fails`);
    assert.equal(token.stdout, '', 'no token printed');
    assert.match(token.stderr, /connection\.not_found/, `the connection is gone: ${token.stderr}`);

    // 8. Again, returning through the deep link (Advanced): `keyport <url>` forwards it to this app.
    await click(session, '//nav//a[starts-with(normalize-space(.), "Integrations")]');
    await session.waitForAll('[data-testid="integration-card"][data-integration="gmail"]');
    started = Date.now();
    await connectGmail(session, { redirect: 'deep-link' });
    timings.connectDeepLinkMs = Date.now() - started;
    assert.match(readText(browser.log), /authorize -> dev\.keyport:\/oauth\/callback\?/, 'the provider redirected to the deep link');
    assert.match(readText(browser.log), /deep link handed over: exit 0/, 'the second process forwarded the link and exited');
    const again = JSON.parse(cli(dirs, ['list', '--json']).stdout);
    assert.equal(again.length, 1);
    assert.equal(again[0].redirect_mode, 'deep-link');
    assert.equal(again[0].status, 'active');

    // 9. Add Google Calendar to the same account: one more sign-in, on its grant.
    await click(session, buttonNamed('See connections', '//dialog'));
    await waitForText(session, 'section.account', `${ACCOUNT} · Google`, { what: 'the account group' });
    await click(session, buttonNamed('Add Google Calendar', '//section[contains(@class, "account")]'));
    await waitForText(session, '[data-testid="connect-dialog"]', `Add Google Calendar to ${ACCOUNT}`, {
      what: 'the add dialog',
    });
    await click(session, buttonNamed('Continue in browser', '//dialog'));
    await waitForText(session, '[data-testid="connect-dialog"]', `Connected as ${ACCOUNT}`, {
      timeout: 30_000,
      what: 'the connect dialog',
    });
    await click(session, buttonNamed('See connections', '//dialog'));
    const group = await waitForText(session, 'section.account', 'Google Calendar', { what: 'the account group' });
    assert.match(group, /Gmail/, `Gmail and Calendar under one account: ${group}`);
    const groups = await execute(session, "return document.querySelectorAll('section.account').length;");
    assert.equal(groups, 1, 'one account');
    const rowsInGroup = await execute(
      session,
      "return document.querySelector('section.account').querySelectorAll('[data-testid=\"connection-row\"]').length;",
    );
    assert.equal(rowsInGroup, 2, 'two integrations on it');
    const both = JSON.parse(cli(dirs, ['list', '--json']).stdout);
    assert.equal(both.length, 2);
    assert.equal(both[0].grant_id, both[1].grant_id, 'one grant');
    const calendarId = both.find((c) => c.integration === 'google-calendar').id;
    const gmailId = both.find((c) => c.integration === 'gmail').id;
    const check = cli(dirs, ['check', calendarId]);
    assert.equal(check.status, 0, `Calendar checks at the provider: ${check.stderr}`);

    // 10. A connection made from the CLI shows in the open window by itself.
    started = Date.now();
    const other = 'bo@firm.example';
    const made = cli(
      { ...dirs, env: { ...dirs.env, BROWSER: browser.script } },
      ['connect', 'gmail', '--login-hint', other, '--timeout', '30'],
    );
    assert.equal(made.status, 0, `keyport connect from the CLI: ${made.stderr}`);
    await waitForText(session, 'main', other, { timeout: 5_000, what: 'the window, after a CLI connect' });
    timings.cliConnectShownMs = Date.now() - started;

    // 11. Turning Gmail off in the window: Calendar and bo's mailbox stay listed.
    await click(session, `[data-connection="${gmailId}"] button.open`, 'css selector');
    await session.waitForAll('#connection-detail');
    await click(session, buttonNamed('Disconnect', '//aside'));
    const plan = await waitForText(session, '[data-testid="disconnect-plan"]', 'keeps working', { what: 'the disconnect plan' });
    assert.match(plan, /Google Calendar keeps working/, plan);
    await click(session, buttonNamed('Disconnect', '//dialog'));
    await waitForText(session, '[data-testid="disconnect-result"]', 'Disconnected', { what: 'the disconnect result' });
    const left = await execute(
      session,
      "return [...document.querySelectorAll('[data-testid=\"connection-row\"]')].map((r) => r.dataset.connection);",
    );
    assert.equal(left.length, 2, `two rows left: ${left}`);
    assert.ok(left.includes(calendarId), 'Calendar stays');
    assert.ok(!left.includes(gmailId), 'Gmail is gone');
    const main = await textOf(session, 'main');
    assert.doesNotMatch(main, /No connections yet/);
    const calendarOnly = cli(dirs, ['check', calendarId]);
    assert.equal(calendarOnly.status, 0, `Calendar still works: ${calendarOnly.stderr}`);

    // 11b. The desk: search, a note, and an export the CLI and a spreadsheet can read.
    const searchBox = await session.find('input[type="search"]');
    await searchBox.sendKeys('calender');
    await waitFor(
      async () =>
        (await execute(session, "return document.querySelectorAll('[data-testid=\"connection-row\"]').length;")) === 1,
      { timeout: 5_000, message: 'the search "calender" (a typo) to leave the Calendar row' },
    );
    await searchBox.sendKeys('\uE003'.repeat('calender'.length)); // Backspace
    await waitFor(
      async () =>
        (await execute(session, "return document.querySelectorAll('[data-testid=\"connection-row\"]').length;")) === 2,
      { timeout: 5_000, message: 'both rows back after clearing the search' },
    );
    await click(session, `[data-connection="${calendarId}"] button.open`, 'css selector');
    await click(session, buttonNamed('Add a note', '//aside'));
    const note = 'Client: Müller GmbH, VAT returns';
    await (await session.find('#note-input')).sendKeys(note);
    await click(session, buttonNamed('Save note', '//aside'));
    await waitForText(session, '[data-testid="note"]', note, { what: 'the saved note' });
    const noted = JSON.parse(cli(dirs, ['list', '--json']).stdout).find((c) => c.id === calendarId);
    assert.equal(noted.note, note, 'the note is in the database');
    await click(session, '#connection-detail button[aria-label="Close details"]', 'css selector');
    await click(session, buttonNamed('Export CSV'));
    const saved = await waitForText(session, '[data-testid="export-result"]', 'Saved 2 connections to', {
      what: 'the export notice',
    });
    const exportPath = /Saved 2 connections to (\S+\.csv)/.exec(saved)?.[1];
    assert.ok(exportPath && fs.existsSync(exportPath), `the export file exists: ${saved}`);
    const csv = fs.readFileSync(exportPath, 'utf8');
    assert.match(csv, /^\uFEFFaccount,name,provider,integration,label,note,status,/, 'a CSV Excel reads as UTF-8');
    assert.ok(csv.includes(`"${note}"`) && csv.includes('Google Calendar'), csv);
    const bosToken = cli(dirs, ['token', other]).stdout.trim();
    assert.ok(bosToken.length > 10 && !csv.includes(bosToken), 'no token in the export');
    fs.rmSync(exportPath);

    // 12. integrations.toml is edited under the open window: it says a restart is needed.
    fs.appendFileSync(path.join(dirs.configDir, 'integrations.toml'), '\n# edited while Keyport runs\n');
    await waitForText(session, '[data-testid="catalog-changed"]', 'Quit Keyport and open it again', {
      timeout: 5_000,
      what: 'the restart notice',
    });

    const gone = cli(dirs, ['disconnect', ACCOUNT, '--account']);
    assert.equal(gone.status, 0, `keyport disconnect --account: ${gone.stderr}`);
    assert.match(gone.stderr, /Google Calendar for ana@firm\.example stops working/, gone.stderr);
    assert.equal(cli(dirs, ['disconnect', other]).status, 0);
    t.diagnostic(`timings: ${JSON.stringify(timings)}`);
  } catch (e) {
    e.message += context(dirs, driver, browser);
    failure = e;
  }

  // Cleanup, also on failure: deleting the session must close the app.
  const problems = [];
  const err = session ? await session.delete() : null;
  session = undefined;
  if (err) problems.push(`deleting the WebDriver session failed: ${err.message}`);
  const lingering = await waitFor(() => appPidsWithEnv(...marker).length === 0, {
    timeout: 10_000,
    message: 'the app to exit',
  }).then(
    () => null,
    () => describePids(appPidsWithEnv(...marker)),
  );
  if (lingering) problems.push(`app processes still running 10 s after the session was deleted:\n${lingering}`);
  const stragglers = await driver.stop();
  driver = undefined;
  if (stragglers.length) problems.push(`processes had to be killed after tauri-driver stopped:\n${stragglers.join('\n')}`);
  await stopProcess(provider.proc);
  provider = undefined;

  if (failure) {
    if (problems.length) failure.message += `\n(cleanup also reported: ${problems.join('; ')})`;
    throw failure;
  }
  if (problems.length) throw new Error(problems.join('\n'));
});
