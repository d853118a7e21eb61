// The real app through WebDriver (tauri-driver → WebKitWebDriver): the
// Integrations view shows the built-in catalog. Leaves a screenshot in
// docs/screenshots/catalog.png.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import {
  KEYPORT_APP,
  REPO_ROOT,
  assertNoRunningInstance,
  checkEnvironment,
  makeIsolatedDirs,
  appPidsWithEnv,
  describePids,
  readText,
  tail,
  waitFor,
} from './support.mjs';
import { Session, startTauriDriver } from './webdriver.mjs';

const SCREENSHOT = path.join(REPO_ROOT, 'docs', 'screenshots', 'catalog.png');
const EXPECTED = ['Gmail', 'Google Calendar', 'Google Drive', 'Outlook (Microsoft 365)'];

test('the Integrations view lists the built-in catalog', { timeout: 120_000 }, async (t) => {
  checkEnvironment();
  assertNoRunningInstance();
  const dirs = makeIsolatedDirs('smoke');
  const marker = ['KEYPORT_DATA_DIR', dirs.dataDir];
  let driver;
  let session;
  // Runs even if the test times out.
  t.after(async () => {
    if (session) await session.delete();
    if (driver) await driver.stop();
    dirs.remove();
  });

  driver = await startTauriDriver({ env: dirs.env, marker });
  let failure;
  try {
    session = await Session.create(driver.url, { application: KEYPORT_APP });
    await checkCatalog(session, dirs, driver);
  } catch (e) {
    failure = e;
  }

  // Cleanup, also on failure. Deleting the session must close the app.
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

  if (failure) {
    if (problems.length) failure.message += `\n(cleanup also reported: ${problems.join('; ')})`;
    throw failure;
  }
  if (problems.length) throw new Error(problems.join('\n'));
});

async function checkCatalog(session, dirs, driver) {
  const gmail = await session
    .waitForAll('[data-testid="integration-card"][data-integration="gmail"]', { timeout: 30_000 })
    .catch((e) => {
      throw new Error(`${e.message}\napp log:\n${tail(readText(dirs.logFile))}\ndriver output:\n${tail(driver.proc.output)}`);
    });
  assert.equal(gmail.length, 1, 'exactly one Gmail card');

  // All four built-in integrations, by the name in each card's heading.
  const names = await waitFor(
    async () => {
      const cards = await session.findAll('[data-testid="integration-card"]');
      const found = [];
      for (const card of cards) {
        const [h] = await card.findAll('h3');
        if (h) found.push((await h.text()).trim());
      }
      return EXPECTED.every((n) => found.includes(n)) ? found : null;
    },
    { timeout: 10_000, interval: 300, message: `cards named ${EXPECTED.join(', ')}` },
  );
  for (const name of EXPECTED) assert.ok(names.includes(name), `card "${name}" shown; cards: ${names.join(', ')}`);

  // The Gmail card's button says "Connect Gmail".
  const buttons = await gmail[0].findAll('button');
  const labels = await Promise.all(buttons.map(async (b) => (await b.text()).trim()));
  assert.ok(labels.includes('Connect Gmail'), `"Connect Gmail" button in the Gmail card; buttons: ${JSON.stringify(labels)}`);
  const anywhere = await session.findAll('//button[normalize-space(.)="Connect Gmail"]', 'xpath');
  assert.equal(anywhere.length, 1, 'one "Connect Gmail" button in the window');

  assert.equal(await session.title(), 'Keyport', 'document title');

  await session.screenshot(SCREENSHOT);
  const png = fs.readFileSync(SCREENSHOT);
  assert.ok(png.length > 1000 && png.subarray(1, 4).toString() === 'PNG', 'screenshot is a PNG');
}
