// Settings lists OAuth clients per provider: several integrations share one.
import type { IntegrationSummary, OAuthClient } from './api';

export interface ProviderInfo {
  provider: string;
  /** Names of the integrations that use this provider's client. */
  usedBy: string[];
  /** Some integration of the provider can connect (a client is set, or the catalog has one). */
  configured: boolean;
  setupGuide: string | null;
}

/** Providers in catalog order, then any with a saved client but no integration left. */
export function providersOf(
  integrations: readonly IntegrationSummary[],
  clients: readonly OAuthClient[],
): ProviderInfo[] {
  const byProvider = new Map<string, ProviderInfo>();
  for (const integration of integrations) {
    const info = byProvider.get(integration.provider) ?? {
      provider: integration.provider,
      usedBy: [],
      configured: false,
      setupGuide: null,
    };
    info.usedBy.push(integration.name);
    info.configured ||= integration.configured;
    info.setupGuide ??= integration.setup_guide;
    byProvider.set(integration.provider, info);
  }
  for (const client of clients) {
    if (!byProvider.has(client.provider)) {
      byProvider.set(client.provider, { provider: client.provider, usedBy: [], configured: true, setupGuide: null });
    }
  }
  return [...byProvider.values()];
}
