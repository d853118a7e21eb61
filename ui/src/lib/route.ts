// Sections are addressed by the URL hash: "#/settings?provider=google".

export type ViewId = 'integrations' | 'connections' | 'settings';

export const VIEW_IDS: readonly ViewId[] = ['integrations', 'connections', 'settings'];

export interface Route {
  view: ViewId;
  params: URLSearchParams;
}

/** Unknown or empty hashes land on the first section. */
export function parseHash(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const id = path.replace(/\/+$/, '');
  const view = (VIEW_IDS as readonly string[]).includes(id) ? (id as ViewId) : VIEW_IDS[0]!;
  return { view, params: new URLSearchParams(query) };
}

export function hrefOf(view: ViewId, params: Record<string, string> = {}): string {
  const query = new URLSearchParams(params).toString();
  return `#/${view}${query ? `?${query}` : ''}`;
}
