import { describe, expect, it } from 'vitest';
import type { ClientSummary } from './api';
import {
  SOURCE_LABEL,
  clientIdProblem,
  importsJson,
  keepsSavedSecret,
  missingSecret,
  noClient,
  readClientJson,
  secretProblem,
  secretState,
} from './clients';

const summary = (overrides: Partial<ClientSummary> = {}): ClientSummary => ({
  provider: 'google',
  client_id: '1-a.apps.googleusercontent.com',
  source: 'personal',
  has_secret: true,
  locked: false,
  ...overrides,
});

describe('OAuth clients in Settings', () => {
  it('names every source as the card shows it', () => {
    expect(SOURCE_LABEL).toEqual({
      built_in: 'Built into Keyport',
      organisation: 'Set by your organisation',
      personal: 'Yours',
      catalog: 'From your catalog file',
    });
  });

  it('checks a client id’s shape per provider, as the backend does', () => {
    expect(clientIdProblem('google', ' 1234-abc.apps.googleusercontent.com ')).toBeNull();
    expect(clientIdProblem('google', '1234-abc')).toContain('is not a Google client ID: it ends in .apps.googleusercontent.com');
    expect(clientIdProblem('microsoft', '3fa85f64-5717-4562-B3FC-2c963f66afa6')).toBeNull();
    expect(clientIdProblem('microsoft', '3fa85f64')).toContain('is not a Microsoft application (client) ID');
    expect(clientIdProblem('acme', 'any-id')).toBeNull();
    expect(clientIdProblem('acme', 'two words')).toBe('A client ID is one word of at most 256 characters.');
    expect(clientIdProblem('acme', 'x'.repeat(257))).toBe('A client ID is one word of at most 256 characters.');
    expect(clientIdProblem('google', '   ')).toBe('Enter the client ID.');
  });

  it('requires Google’s secret unless the person’s own client has one saved', () => {
    const none = noClient('google');
    expect(secretProblem(none, '')).toContain('Google needs the client secret too');
    expect(secretProblem(none, 'GOCSPX-x')).toBeNull();
    expect(secretProblem(summary(), '')).toBeNull();
    expect(secretProblem(summary({ has_secret: false }), '')).not.toBeNull();
    // A built-in client's secret is not one the person's client keeps.
    expect(secretProblem(summary({ source: 'built_in' }), '')).not.toBeNull();
    expect(secretProblem(noClient('microsoft'), '')).toBeNull();
    expect(keepsSavedSecret(summary({ source: 'organisation' }))).toBe(false);
  });

  it('says “set” only when there is a secret, and flags a Google client without one', () => {
    expect(secretState(summary())).toBe('Set (kept in your system keyring)');
    expect(secretState(summary({ source: 'built_in' }))).toBe('Set');
    expect(secretState(summary({ has_secret: false }))).toBe('Not set');
    expect(secretState(summary({ provider: 'microsoft', source: 'built_in', has_secret: false }))).toBe('None');
    expect(missingSecret(summary({ has_secret: false }))).toBe(true);
    expect(missingSecret(summary({ source: 'catalog', has_secret: false }))).toBe(true);
    expect(missingSecret(summary())).toBe(false);
    expect(missingSecret(noClient('google'))).toBe(false);
    expect(missingSecret(summary({ provider: 'microsoft', has_secret: false }))).toBe(false);
  });

  it('imports JSON for Google only, reading small files and refusing big ones', async () => {
    expect(importsJson('google')).toBe(true);
    expect(importsJson('microsoft')).toBe(false);
    const json = '{"installed":{"client_id":"1-a.apps.googleusercontent.com"}}';
    await expect(readClientJson(new File([json], 'client_secret_1.json'))).resolves.toBe(json);
    const big = new File(['x'.repeat(70_000)], 'video.json');
    await expect(readClientJson(big)).rejects.toThrow('“video.json” is too big to be the client JSON Google downloads.');
  });
});
