import { describe, expect, it } from 'vitest';
import type { IntegrationSummary, OAuthClient } from './api';
import { providersOf } from './providers';

const integration = (id: string, provider: string, configured: boolean, guide: string | null = null) =>
  ({ id, name: id.toUpperCase(), provider, configured, setup_guide: guide }) as IntegrationSummary;

describe('providers for Settings', () => {
  it('groups integrations by provider in catalog order, and keeps orphan clients', () => {
    const clients: OAuthClient[] = [
      { provider: 'google', client_id: 'g', has_secret: true, updated_at: 1 },
      { provider: 'old', client_id: 'o', has_secret: false, updated_at: 1 },
    ];
    const list = providersOf(
      [
        integration('gmail', 'google', true),
        integration('outlook', 'microsoft', false, 'https://ms.example/guide'),
        integration('drive', 'google', true, 'https://g.example/guide'),
      ],
      clients,
    );
    expect(list).toEqual([
      { provider: 'google', usedBy: ['GMAIL', 'DRIVE'], configured: true, setupGuide: 'https://g.example/guide' },
      { provider: 'microsoft', usedBy: ['OUTLOOK'], configured: false, setupGuide: 'https://ms.example/guide' },
      { provider: 'old', usedBy: [], configured: true, setupGuide: null },
    ]);
  });
});
