// Builds the mocked-IPC test page with the app's own Vite config and serves it.
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { rmSync } from 'node:fs';
import { build } from 'vite';
import type { TestProject } from 'vitest/node';
import { appCsp, serveStatic } from './server';

const ui = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const outDir = resolve(ui, '.harness-dist');

declare module 'vitest' {
  export interface ProvidedContext {
    harnessUrl: string;
    csp: string;
  }
}

export default async function setup(project: TestProject) {
  // Each test file merges its part into this one; start it afresh.
  rmSync(resolve(ui, 'test-results/ipc-log.json'), { force: true });
  await build({
    root: ui,
    configFile: resolve(ui, 'vite.config.ts'),
    logLevel: 'warn',
    build: {
      outDir,
      emptyOutDir: true,
      reportCompressedSize: false,
      rolldownOptions: { input: resolve(ui, 'tests/browser/harness/index.html') },
    },
  });
  const csp = appCsp(resolve(ui, '../tauri.conf.json'));
  const { server, origin } = await serveStatic(outDir, csp);
  project.provide('harnessUrl', `${origin}/tests/browser/harness/index.html`);
  project.provide('csp', csp);
  return () => new Promise<void>((done) => server.close(() => done()));
}
