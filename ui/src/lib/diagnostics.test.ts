import { describe, expect, it } from 'vitest';
import type { AppInfo, BackendDiagnostics, Connection, IntegrationSummary, OAuthClient } from './api';
import {
  engineOf,
  BACKEND_UNAVAILABLE,
  buildDiagnostics,
  maskClientId,
  maskEmail,
  maskEmailsIn,
  type DiagnosticsInput,
} from './diagnostics';
import { connection as base } from './testing';

const SECRETS = ['s3cr3t-client', 'ya29.access-token', '1//refresh-token', 'hunter2'];

/** Ana's Gmail as these tests know it (label, profile, a check), with `overrides`. */
function connection(overrides: Partial<Connection> = {}): Connection {
  return base({
    label: 'Ana at the firm',
    subject: '1001',
    display_name: 'Ana Ruiz',
    requested_scopes: ['r'],
    granted_scopes: ['r'],
    profile: { emailAddress: 'ana@firm.example', messagesTotal: 3 },
    last_checked_at: Date.UTC(2025, 5, 15, 11, 0, 0),
    last_check_ok: true,
    ...overrides,
  });
}

/** Rows as a careless backend might send them: with secrets in extra fields. */
function leaky<T extends object>(value: T): T {
  return {
    ...value,
    client_secret: SECRETS[0],
    access_token: SECRETS[1],
    refresh_token: SECRETS[2],
    password: SECRETS[3],
  };
}

const app: AppInfo = { version: '0.3.1', data_dir: '/home/ana/.local/share/keyport', config_dir: '/home/ana/.config/keyport' };

function input(overrides: Partial<DiagnosticsInput> = {}): DiagnosticsInput {
  return {
    app: leaky(app),
    connections: [
      leaky(connection()),
      leaky(
        connection({
          id: 'c2',
          email: 'zoe@client-co.example',
          status: 'needs_reauth',
          last_error_code: 'oauth.invalid_grant',
          last_error_message: 'Google no longer accepts the sign-in of zoe@client-co.example (token 1//refresh-token)',
          last_check_ok: false,
        }),
      ),
      leaky(connection({ id: 'c3', email: 'bo@firm.example', status: 'needs_reauth', missing_scopes: ['x', 'y'] })),
    ],
    clients: [leaky({ provider: 'google', client_id: '4711-desktop.apps.googleusercontent.com', has_secret: true, updated_at: 1 } as OAuthClient)],
    integrations: [
      leaky({ id: 'gmail', provider: 'google', redirect: 'loopback', configured: true, custom: false } as IntegrationSummary),
      leaky({ id: 'acme-mail', provider: 'acme', redirect: 'deep-link', configured: false, custom: true } as IntegrationSummary),
    ],
    platform: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko)',
    maskEmails: true,
    now: Date.UTC(2025, 5, 15, 12, 0, 0),
    ...overrides,
  };
}

describe('masking', () => {
  it('keeps the first letter and the domain of an email address', () => {
    expect(maskEmail('ana@firm.example')).toBe('a***@firm.example');
    expect(maskEmail('not an email')).toBe('not an email');
    expect(maskEmailsIn('from ana@firm.example and b.o+x@a.co')).toBe('from a***@firm.example and b***@a.co');
  });

  it('shortens client ids to their first six characters', () => {
    expect(maskClientId('4711-desktop.apps.googleusercontent.com')).toBe('4711-d…');
    expect(maskClientId('abc')).toBe('abc');
  });
});

describe('buildDiagnostics', () => {
  it('never includes a secret field, in either mode', () => {
    for (const maskEmails of [true, false]) {
      const text = buildDiagnostics(input({ maskEmails }));
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(text).not.toMatch(/secret:|token:|password/i);
    }
  });

  it('masks email addresses by default and shows them when asked', () => {
    const masked = buildDiagnostics(input());
    expect(masked).toContain('a***@firm.example');
    expect(masked).toContain('z***@client-co.example');
    expect(masked).not.toContain('ana@firm.example');
    expect(masked).not.toContain('zoe@');
    expect(masked).toContain('Data folder: ~/.local/share/keyport');
    expect(masked).not.toContain('/home/ana');

    const plain = buildDiagnostics(input({ maskEmails: false }));
    expect(plain).toContain('ana@firm.example');
    expect(plain).toContain('/home/ana/.local/share/keyport');
  });

  it('has the version, platform, counts per status and error codes (codes only)', () => {
    const text = buildDiagnostics(input());
    expect(text).toContain('Version: 0.3.1');
    expect(text).toContain('Window engine: WebKitGTK (WebKit 605.1.15)');
    expect(text).not.toContain('Mozilla');
    expect(text).toContain('Connections: 3 (active 1, needs_reauth 2)');
    expect(text).toContain('last error oauth.invalid_grant');
    expect(text).toContain('missing scopes 2');
    expect(text).not.toContain('no longer accepts'); // messages are left out
    expect(text).not.toContain('Ana at the firm'); // labels too
    expect(text).toContain('Generated: 2025-06-15T12:00:00.000Z');
  });

  it('names the window engine in words', () => {
    expect(engineOf('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)')).toBe(
      'WKWebView (WebKit 605.1.15)',
    );
    expect(engineOf('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0')).toBe(
      'Microsoft Edge WebView2 131',
    );
    expect(engineOf('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/141.0.0.0 Safari/537.36')).toBe(
      'Chromium 141',
    );
    expect(engineOf('')).toBe('unknown');
  });

  it('lists clients with masked ids and integrations with their setup', () => {
    const text = buildDiagnostics(input());
    expect(text).toContain('google: client id 4711-d…, secret set');
    expect(text).not.toContain('googleusercontent');
    expect(text).toContain('gmail (google, redirect loopback, client set)');
    expect(text).toContain('acme-mail (acme, redirect deep-link, no client, custom)');
  });

  it('says what was not loaded instead of failing', () => {
    const text = buildDiagnostics(input({ app: undefined, connections: undefined, clients: [], integrations: undefined }));
    expect(text).toContain('Version: unknown');
    expect(text).toContain('(connections not loaded)');
    expect(text).toContain('(none set)');
    expect(text).toContain('(integrations not loaded)');
  });
  describe('merged with the backend’s diagnostics', () => {
    const backend: BackendDiagnostics = {
      version: '0.3.1',
      os: 'linux',
      arch: 'x86_64',
      keyring: 'No Secret Service provider found.\nIs gnome-keyring running for ana@firm.example?',
      keyring_service: 'dev.keyport.app',
      pending_revocations: 3,
    };

    it('adds OS/arch, keyring status and service, and pending revocations', () => {
      const text = buildDiagnostics(input({ backend: leaky(backend) }));
      expect(text).toContain('OS: linux (x86_64)');
      expect(text).toContain('Keyring: No Secret Service provider found. Is gnome-keyring running for a***@firm.example?');
      expect(text).toContain('Keyring service: dev.keyport.app');
      expect(text).toContain('Pending revocations: 3');
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(buildDiagnostics(input({ backend: { ...backend, keyring: 'available' } }))).toContain('Keyring: available\n');
    });

    it('keeps email masking off only when asked', () => {
      expect(buildDiagnostics(input({ backend, maskEmails: false }))).toContain('running for ana@firm.example?');
    });

    it('uses the backend version when app_info is missing', () => {
      expect(buildDiagnostics(input({ app: undefined, backend }))).toContain('Version: 0.3.1');
    });

    it('builds the rest and notes it when the backend part is unavailable', () => {
      const text = buildDiagnostics(input({ backend: BACKEND_UNAVAILABLE }));
      expect(text).toContain('backend diagnostics unavailable');
      expect(text).toContain('Connections: 3');
      expect(text).toContain('google: client id 4711-d…, secret set');
      expect(text).not.toContain('Pending revocations');
    });
  });
});
