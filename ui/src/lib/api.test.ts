import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
const listen = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...args: unknown[]) => invoke(...args) }));
vi.mock('@tauri-apps/api/event', () => ({ listen: (...args: unknown[]) => listen(...args) }));

const api = await import('./api');
const { KeyportError, IPC_ERROR, BAD_REPLY } = api;

beforeEach(() => {
  invoke.mockReset();
  listen.mockReset();
});

async function rejection(promise: Promise<unknown>): Promise<InstanceType<typeof KeyportError>> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(KeyportError);
    return error as InstanceType<typeof KeyportError>;
  }
  throw new Error('expected the call to reject');
}

describe('commands', () => {
  it('list_integrations is called without arguments and its array returned', async () => {
    const list = [{ id: 'gmail', name: 'Gmail' }];
    invoke.mockResolvedValue(list);
    await expect(api.listIntegrations()).resolves.toBe(list);
    expect(invoke).toHaveBeenCalledTimes(1);
    expect(invoke).toHaveBeenCalledWith('list_integrations', undefined);
  });

  it('a non-array integrations reply is a bad-reply error', async () => {
    invoke.mockResolvedValue({ integrations: [] });
    const error = await rejection(api.listIntegrations());
    expect(error.code).toBe(BAD_REPLY);
  });

  it('start_connect sends the integration and every option, null when not chosen', async () => {
    invoke.mockResolvedValue({ connection_id: 'c1', flow_id: 'f1', auth_url: 'https://x', browser_opened: true });
    await api.startConnect('gmail');
    expect(invoke).toHaveBeenLastCalledWith('start_connect', {
      integration: 'gmail',
      preset: null,
      scopes: null,
      redirect: null,
      account: null,
    });
    await api.startConnect('gmail', { preset: 'send', redirect: 'deep-link' });
    expect(invoke).toHaveBeenLastCalledWith('start_connect', {
      integration: 'gmail',
      preset: 'send',
      scopes: null,
      redirect: 'deep-link',
      account: null,
    });
    await api.startConnect('gmail', { scopes: ['a', 'b'] });
    expect(invoke).toHaveBeenLastCalledWith('start_connect', {
      integration: 'gmail',
      preset: null,
      scopes: ['a', 'b'],
      redirect: null,
      account: null,
    });
    await api.startConnect('google-calendar', { account: 'c1' });
    expect(invoke).toHaveBeenLastCalledWith('start_connect', {
      integration: 'google-calendar',
      preset: null,
      scopes: null,
      redirect: null,
      account: 'c1',
    });
  });

  it('multi-word arguments are camelCase (Tauri maps them to snake_case)', async () => {
    invoke.mockResolvedValue(null);
    await api.cancelConnect('flow-1');
    expect(invoke).toHaveBeenLastCalledWith('cancel_connect', { flowId: 'flow-1' });
    invoke.mockResolvedValue([]);
    await api.connectionEvents('conn-1');
    expect(invoke).toHaveBeenLastCalledWith('connection_events', { connectionId: 'conn-1' });
    invoke.mockResolvedValue(null);
    await api.setClient('google', ' id-1 ', 's3cret');
    expect(invoke).toHaveBeenLastCalledWith('set_client', {
      provider: 'google',
      clientId: 'id-1',
      clientSecret: 's3cret',
    });
    await api.setClient('google', 'id-1', null);
    expect(invoke).toHaveBeenLastCalledWith('set_client', { provider: 'google', clientId: 'id-1', clientSecret: null });
    invoke.mockResolvedValue(true);
    await expect(api.removeClient('google')).resolves.toBe(true);
    expect(invoke).toHaveBeenLastCalledWith('remove_client', { provider: 'google' });
    invoke.mockResolvedValue(null);
    await api.openExternal('https://example.org/guide');
    expect(invoke).toHaveBeenLastCalledWith('open_external', { url: 'https://example.org/guide' });
  });

  it('connection actions send camelCase ids (and nulls for defaults)', async () => {
    invoke.mockResolvedValue({ id: 'conn-1' });
    await api.checkConnection('conn-1');
    expect(invoke).toHaveBeenLastCalledWith('check_connection', { connectionId: 'conn-1' });
    await api.reconnectConnection('conn-1');
    expect(invoke).toHaveBeenLastCalledWith('reconnect_connection', { connectionId: 'conn-1', redirect: null });
    await api.grantAccess('conn-1');
    expect(invoke).toHaveBeenLastCalledWith('grant_access', { connectionId: 'conn-1', scopes: null, redirect: null });
    await api.grantAccess('conn-1', ['a'], 'deep-link');
    expect(invoke).toHaveBeenLastCalledWith('grant_access', { connectionId: 'conn-1', scopes: ['a'], redirect: 'deep-link' });
    await api.disconnectConnection('conn-1');
    expect(invoke).toHaveBeenLastCalledWith('disconnect_connection', { connectionId: 'conn-1' });
    invoke.mockResolvedValue(true);
    await expect(api.openAuthUrl('flow-1')).resolves.toBe(true);
    expect(invoke).toHaveBeenLastCalledWith('open_auth_url', { flowId: 'flow-1' });
    invoke.mockResolvedValue(false);
    await expect(api.openAuthUrl('flow-1')).resolves.toBe(false);
  });

  it('a failed check rejects with the backend’s code', async () => {
    invoke.mockRejectedValue({ code: 'provider.unreachable', message: 'Google could not be reached.' });
    const error = await rejection(api.checkConnection('conn-1'));
    expect([error.code, error.message]).toEqual(['provider.unreachable', 'Google could not be reached.']);
  });

  it('rename_connection trims the label and sends null for a blank one', async () => {
    invoke.mockResolvedValue({ id: 'conn-1' });
    await api.renameConnection('conn-1', '  Shared inbox ');
    expect(invoke).toHaveBeenLastCalledWith('rename_connection', { connectionId: 'conn-1', label: 'Shared inbox' });
    await api.renameConnection('conn-1', '   ');
    expect(invoke).toHaveBeenLastCalledWith('rename_connection', { connectionId: 'conn-1', label: null });
    await api.renameConnection('conn-1', null);
    expect(invoke).toHaveBeenLastCalledWith('rename_connection', { connectionId: 'conn-1', label: null });
  });

  it.each([
    ['listConnections', 'list_connections'],
    ['listClients', 'list_clients'],
  ] as const)('%s calls %s and rejects a non-array reply', async (fn, command) => {
    invoke.mockResolvedValue([]);
    await expect(api[fn]()).resolves.toEqual([]);
    expect(invoke).toHaveBeenLastCalledWith(command, undefined);
    invoke.mockResolvedValue({ items: [] });
    expect((await rejection(api[fn]())).code).toBe(BAD_REPLY);
  });

  it('app_info is called without arguments', async () => {
    invoke.mockResolvedValue({ version: '0.1.0', data_dir: '/d', config_dir: '/c' });
    await expect(api.appInfo()).resolves.toEqual({
      version: '0.1.0',
      data_dir: '/d',
      config_dir: '/c',
    });
    expect(invoke).toHaveBeenCalledWith('app_info', undefined);
  });

  it('onFlow listens to `keyport://flow` and hands over the payload', async () => {
    const unlisten = () => {};
    listen.mockResolvedValue(unlisten);
    const seen: unknown[] = [];
    await expect(api.onFlow((event) => seen.push(event))).resolves.toBe(unlisten);
    expect(listen).toHaveBeenCalledWith('keyport://flow', expect.any(Function));
    const deliver = listen.mock.calls[0]![1] as (event: { payload: unknown }) => void;
    const payload = { flow_id: 'f1', connection: null, error: { code: 'oauth.access_denied', message: 'No' } };
    deliver({ payload });
    expect(seen).toEqual([payload]);
  });

  it('onConnectionsChanged listens to `keyport://connections-changed`', async () => {
    listen.mockResolvedValue(() => {});
    let calls = 0;
    await api.onConnectionsChanged(() => (calls += 1));
    expect(listen).toHaveBeenCalledWith('keyport://connections-changed', expect.any(Function));
    const deliver = listen.mock.calls[0]![1] as (event: { payload: unknown }) => void;
    deliver({ payload: null });
    expect(calls).toBe(1);
  });

  it('onCatalogChanged listens to `keyport://catalog-changed`', async () => {
    listen.mockResolvedValue(() => {});
    let calls = 0;
    await api.onCatalogChanged(() => (calls += 1));
    expect(listen).toHaveBeenLastCalledWith('keyport://catalog-changed', expect.any(Function));
    const deliver = listen.mock.calls.at(-1)![1] as (event: { payload: unknown }) => void;
    deliver({ payload: null });
    expect(calls).toBe(1);
  });
});

describe('rejected invoke becomes a KeyportError', () => {
  it('keeps code, message and detail of a typed backend error', async () => {
    invoke.mockRejectedValue({
      code: 'integration.not_configured',
      message: 'Gmail needs an OAuth client first.',
      detail: { provider: 'google' },
    });
    const error = await rejection(api.startConnect('gmail'));
    expect(error.code).toBe('integration.not_configured');
    expect(error.message).toBe('Gmail needs an OAuth client first.');
    expect(error.detail).toEqual({ provider: 'google' });
    expect(error.name).toBe('KeyportError');
  });

  it('a typed error without a message still gets a readable one', async () => {
    invoke.mockRejectedValue({ code: 'store.busy' });
    const error = await rejection(api.listIntegrations());
    expect(error.code).toBe('store.busy');
    expect(error.message).toMatch(/\w/);
  });

  it('a plain string rejection (Tauri: unknown command) keeps its text', async () => {
    invoke.mockRejectedValue('command start_connect not found');
    const error = await rejection(api.startConnect('gmail'));
    expect(error.code).toBe(IPC_ERROR);
    expect(error.message).toBe('command start_connect not found');
  });

  it('an Error keeps its message', async () => {
    invoke.mockRejectedValue(new TypeError('window.__TAURI_INTERNALS__ is undefined'));
    const error = await rejection(api.appInfo());
    expect(error.code).toBe(IPC_ERROR);
    expect(error.message).toBe('window.__TAURI_INTERNALS__ is undefined');
  });

  it.each([[null], [undefined], [42], [{ message: 'no code' }], [{ code: '' }]])(
    'anything else (%j) becomes an ipc error with a fallback message',
    async (raw) => {
      invoke.mockRejectedValue(raw);
      const error = await rejection(api.listIntegrations());
      expect(error.code).toBe(IPC_ERROR);
      expect(error.message).toMatch(/\w/);
    },
  );

  it('toKeyportError returns an existing KeyportError unchanged', () => {
    const original = new KeyportError('oauth.access_denied', 'You declined.');
    expect(api.toKeyportError(original)).toBe(original);
  });
});
