// Settings lists OAuth clients per provider: several integrations share one.
import type { ClientSummary, IntegrationSummary, OAuthClient } from './api';
import { noClient } from './clients';

export interface ProviderInfo {
  provider: string;
  /** Names of the integrations that use this provider's client. */
  usedBy: string[];
  /** The provider's first integration (Google → Gmail): what "Test sign-in" connects. */
  firstIntegration: string | null;
  /** Some integration of the provider can connect (a client is set, or the catalog has one). */
  configured: boolean;
  setupGuide: string | null;
  /** The client Connect uses and where it comes from; never a secret. */
  client: ClientSummary;
}

/**
 * Providers in catalog order, then any with a saved client but no integration left.
 * The client is the backend's `client_sources` entry; a provider it does not list
 * falls back to the person's saved client, or none.
 */
export function providersOf(
  integrations: readonly IntegrationSummary[],
  clients: readonly OAuthClient[],
  sources: readonly ClientSummary[],
): ProviderInfo[] {
  const sourceOf = new Map(sources.map((s) => [s.provider, s]));
  const savedOf = new Map(clients.map((c) => [c.provider, c]));
  const clientOf = (provider: string): ClientSummary => {
    const source = sourceOf.get(provider);
    if (source) return source;
    const saved = savedOf.get(provider);
    if (!saved) return noClient(provider);
    return { provider, client_id: saved.client_id, source: 'personal', has_secret: saved.has_secret, locked: false };
  };
  const byProvider = new Map<string, ProviderInfo>();
  for (const integration of integrations) {
    const info = byProvider.get(integration.provider) ?? {
      provider: integration.provider,
      usedBy: [],
      firstIntegration: integration.id,
      configured: false,
      setupGuide: null,
      client: clientOf(integration.provider),
    };
    info.usedBy.push(integration.name);
    info.configured ||= integration.configured;
    info.setupGuide ??= integration.setup_guide;
    byProvider.set(integration.provider, info);
  }
  for (const client of clients) {
    if (!byProvider.has(client.provider)) {
      byProvider.set(client.provider, {
        provider: client.provider,
        usedBy: [],
        firstIntegration: null,
        configured: true,
        setupGuide: null,
        client: clientOf(client.provider),
      });
    }
  }
  return [...byProvider.values()];
}
