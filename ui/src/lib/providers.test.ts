import { describe, expect, it } from 'vitest';
import type { ClientSummary, IntegrationSummary, OAuthClient } from './api';
import { providersOf } from './providers';

const integration = (id: string, provider: string, configured: boolean, guide: string | null = null) =>
  ({ id, name: id.toUpperCase(), provider, configured, setup_guide: guide }) as IntegrationSummary;

describe('providers for Settings', () => {
  it('groups integrations by provider in catalog order, and keeps orphan clients', () => {
    const clients: OAuthClient[] = [
      { provider: 'google', client_id: 'g', has_secret: true, updated_at: 1 },
      { provider: 'old', client_id: 'o', has_secret: false, updated_at: 1 },
    ];
    const sources: ClientSummary[] = [
      { provider: 'google', client_id: 'g', source: 'personal', has_secret: true, locked: false },
      { provider: 'microsoft', client_id: null, source: null, has_secret: false, locked: false },
    ];
    const list = providersOf(
      [
        integration('gmail', 'google', true),
        integration('outlook', 'microsoft', false, 'https://ms.example/guide'),
        integration('drive', 'google', true, 'https://g.example/guide'),
      ],
      clients,
      sources,
    );
    expect(list).toEqual([
      {
        provider: 'google',
        usedBy: ['GMAIL', 'DRIVE'],
        firstIntegration: 'gmail',
        configured: true,
        setupGuide: 'https://g.example/guide',
        client: sources[0],
      },
      {
        provider: 'microsoft',
        usedBy: ['OUTLOOK'],
        firstIntegration: 'outlook',
        configured: false,
        setupGuide: 'https://ms.example/guide',
        client: sources[1],
      },
      {
        provider: 'old',
        usedBy: [],
        firstIntegration: null,
        configured: true,
        setupGuide: null,
        client: { provider: 'old', client_id: 'o', source: 'personal', has_secret: false, locked: false },
      },
    ]);
  });

  it('takes the client from client_sources (built in, locked) over a saved one, and none without either', () => {
    const locked: ClientSummary = { provider: 'google', client_id: 'org.apps.googleusercontent.com', source: 'organisation', has_secret: true, locked: true };
    const list = providersOf(
      [integration('gmail', 'google', true), integration('acme-mail', 'acme', false)],
      [{ provider: 'google', client_id: 'mine', has_secret: true, updated_at: 1 }],
      [locked],
    );
    expect(list.map((p) => p.client)).toEqual([
      locked,
      { provider: 'acme', client_id: null, source: null, has_secret: false, locked: false },
    ]);
  });
});
