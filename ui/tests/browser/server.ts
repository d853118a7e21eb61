// A tiny static server for the built test page, on 127.0.0.1 only, sending the
// app's real Content-Security-Policy so a CSP break shows up in the tests.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

/** The policy the app ships with: read from ../tauri.conf.json, or the agreed one if that is missing. */
export function appCsp(tauriConfPath: string): string {
  const agreed = {
    'default-src': "'self'",
    'script-src': "'self'",
    'style-src': "'self'",
    'img-src': "'self' data:",
  };
  let csp: Record<string, string> = agreed;
  if (existsSync(tauriConfPath)) {
    const conf = JSON.parse(readFileSync(tauriConfPath, 'utf8')) as {
      app?: { security?: { csp?: string | Record<string, string | string[]> | null } };
    };
    const configured = conf.app?.security?.csp;
    if (typeof configured === 'string') return configured;
    if (configured) {
      csp = Object.fromEntries(
        Object.entries(configured).map(([k, v]) => [k, Array.isArray(v) ? v.join(' ') : v]),
      );
    }
  }
  return Object.entries(csp)
    .map(([directive, value]) => `${directive} ${value}`)
    .join('; ');
}

export async function serveStatic(
  root: string,
  csp: string,
): Promise<{ server: Server; origin: string }> {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const file = normalize(join(base, path.endsWith('/') ? `${path}index.html` : path));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Security-Policy': csp,
        'Cache-Control': 'no-store',
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('server has no port');
  return { server, origin: `http://127.0.0.1:${address.port}` };
}
