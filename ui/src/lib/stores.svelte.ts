// State the sections share: loaded once, refreshed when the backend says so.
// Views read `.load` / `.value`; only this module and api.ts know where data comes from.
import * as api from './api';
import { parseHash, hrefOf, type Route, type ViewId } from './route';

export type Load<T> =
  | { kind: 'loading' }
  | { kind: 'failed'; error: api.KeyportError }
  | { kind: 'ready'; value: T };

export interface Resource<T> {
  readonly load: Load<T>;
  readonly value: T | undefined;
  /** Fetch on first use only. */
  ensure(): void;
  /** Fetch again. `quiet` keeps showing what is there (no loading state, old data kept on failure). */
  reload(options?: { quiet?: boolean }): Promise<void>;
  /**
   * Put a newer value in place (e.g. a command's reply) without a round trip.
   * A fetch under way still lands: the backend's list is the truth, and a
   * local edit never hides a newer one.
   */
  set(value: T): void;
}

function resource<T>(fetch: () => Promise<T>): Resource<T> {
  let load = $state.raw<Load<T>>({ kind: 'loading' });
  let started = false;
  let latest = 0;

  async function reload({ quiet = false } = {}) {
    started = true;
    const mine = ++latest;
    if (!quiet || load.kind !== 'ready') load = { kind: 'loading' };
    try {
      const value = await fetch();
      if (mine === latest) load = { kind: 'ready', value };
    } catch (raw) {
      if (mine !== latest) return;
      if (quiet && load.kind === 'ready') return;
      load = { kind: 'failed', error: api.toKeyportError(raw) };
    }
  }

  return {
    get load() {
      return load;
    },
    get value() {
      return load.kind === 'ready' ? load.value : undefined;
    },
    ensure() {
      if (!started) void reload();
    },
    reload,
    set(value: T) {
      load = { kind: 'ready', value };
    },
  };
}

export const integrations = resource(api.listIntegrations);
export const connections = resource(api.listConnections);
export const clients = resource(api.listClients);
/** Each provider's client and where it comes from (built in, organisation, yours, catalog). */
export const clientSources = resource(api.clientSources);
export const appInfo = resource(api.appInfo);
/** The app-wide preferences; each Settings section saves its part of them. */
export const settings = resource(api.getSettings);

/** The current section and its parameters, following the URL hash. */
export const route = $state<{ current: Route }>({ current: parseHash(location.hash) });

export function followHash(): () => void {
  const update = () => (route.current = parseHash(location.hash));
  window.addEventListener('hashchange', update);
  return () => window.removeEventListener('hashchange', update);
}

export function navigate(view: ViewId, params: Record<string, string> = {}) {
  location.hash = hrefOf(view, params);
}

/**
 * The integration whose connect dialog is open (App shows it over any section):
 * Connect on the Integrations view, Test sign-in in Settings.
 */
export const connectDialog = $state<{ integration: string | null }>({ integration: null });

export function openConnect(integration: string) {
  connectDialog.integration = integration;
}

export function closeConnect() {
  connectDialog.integration = null;
}

/** Follow `keyport://connections-changed` for the app's lifetime. */
export function followConnections(): () => void {
  let stopped = false;
  let unlisten: (() => void) | undefined;
  api.onConnectionsChanged(() => void connections.reload({ quiet: true })).then(
    (fn) => (stopped ? fn() : (unlisten = fn)),
    () => {
      // No event channel: the list is still right after each reload.
    },
  );
  return () => {
    stopped = true;
    unlisten?.();
  };
}
