import type { IntegrationSummary } from './api';

/** Lower-case, accent-free text for forgiving matching ("Outlóok" finds "outlook"). */
function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{Diacritic}/gu, '').toLowerCase();
}

/**
 * Integrations whose name, description or provider contain every word of
 * `query` (case- and accent-insensitive). An empty query keeps them all, in order.
 */
export function filterIntegrations(
  integrations: readonly IntegrationSummary[],
  query: string,
): IntegrationSummary[] {
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...integrations];
  return integrations.filter((integration) => {
    const haystack = fold(
      [integration.name, integration.description, integration.provider].join('\n'),
    );
    return words.every((word) => haystack.includes(word));
  });
}
