// The Connections view with 200 connections in Debian's Chromium (the
// mocked-IPC page the browser tests use): first render, and how long a
// search keystroke takes to re-render the list. Prints figures; asserts only
// that the list it timed was the right one (`make bench`, docs/PERFORMANCE.md).
import { expect, it } from 'vitest';
import { backend, desk } from '../browser/fixtures';
import { browserSession } from '../browser/session';

const { open } = browserSession('bench');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

it('200 connections: first render and search keystrokes', async () => {
  const page = await open(backend({ list_connections: { ok: desk(200) } }), { hash: '#/integrations' });
  await page.getByRole('heading', { name: 'Integrations' }).first().waitFor();

  // First render: from switching to the tab until 200 rows are laid out and
  // the next frame is painted. The first run also fetches the list (mocked
  // IPC); later runs render from the cached list, as a person switching tabs.
  const renders: number[] = [];
  for (let run = 0; run < 11; run++) {
    const took = await page.evaluate(
      () =>
        new Promise<number>((done) => {
          const start = performance.now();
          location.hash = '#/connections';
          const wait = () => {
            if (document.querySelectorAll('[data-testid="connection-row"]').length === 200) {
              document.body.getBoundingClientRect();
              requestAnimationFrame(() => done(performance.now() - start));
            } else requestAnimationFrame(wait);
          };
          requestAnimationFrame(wait);
        }),
    );
    renders.push(took);
    await page.evaluate(() => (location.hash = '#/integrations'));
    await page.getByRole('heading', { name: 'Integrations' }).first().waitFor();
  }

  // Keystrokes: each character of a search typed one at a time; the time from
  // the input event to the re-rendered, laid-out list (paint excluded).
  await page.evaluate(() => (location.hash = '#/connections'));
  await expect.poll(() => page.getByTestId('connection-row').count()).toBe(200);
  const typed = 'buchhaltung schmidt gmbh';
  const keystrokes = await page.evaluate(async (text) => {
    const input = document.querySelector<HTMLInputElement>('input[type="search"]')!;
    input.focus();
    const times: number[] = [];
    for (let i = 1; i <= text.length; i++) {
      const start = performance.now();
      input.value = text.slice(0, i);
      input.dispatchEvent(new Event('input', { bubbles: true }));
      await new Promise((done) => setTimeout(done, 0));
      document.body.getBoundingClientRect();
      times.push(performance.now() - start);
      await new Promise((done) => requestAnimationFrame(done));
    }
    return times;
  }, typed);
  const left = await page.getByTestId('connection-row').count();
  const expected = desk(200).filter((c) => c.display_name?.includes('Schmidt GmbH')).length;
  expect(left).toBe(expected);

  const [cold, ...warm] = renders;
  const lines = [
    'Connections view, 200 connections, Debian Chromium (headless)',
    `  first render, cold (with the list fetch)  ${ms(cold!)}`,
    `  first render, warm, ${warm.length} runs            median ${ms(median(warm))}, max ${ms(Math.max(...warm))}`,
    `  search keystroke, ${keystrokes.length} keys              median ${ms(median(keystrokes))}, max ${ms(Math.max(...keystrokes))}`,
    `  (the search "${typed}" leaves ${left} rows)`,
    `  per key: ${keystrokes.map((t) => t.toFixed(0)).join(" ")}`,
  ];
  console.log(`\n${lines.join('\n')}\n`);
}, 120_000);
