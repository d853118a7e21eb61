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

  it('start_connect passes the integration id as `integration`', async () => {
    invoke.mockResolvedValue({ connection_id: 'c1', auth_url: 'https://x' });
    await api.startConnect('gmail');
    expect(invoke).toHaveBeenCalledWith('start_connect', { integration: 'gmail' });
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

  it('onConnectFlow listens to `connect-flow` and hands over the payload', async () => {
    const unlisten = () => {};
    listen.mockResolvedValue(unlisten);
    const seen: unknown[] = [];
    await expect(api.onConnectFlow((update) => seen.push(update))).resolves.toBe(unlisten);
    expect(listen).toHaveBeenCalledWith('connect-flow', expect.any(Function));
    const deliver = listen.mock.calls[0]![1] as (event: { payload: unknown }) => void;
    deliver({ payload: { integration: 'gmail', state: 'active' } });
    expect(seen).toEqual([{ integration: 'gmail', state: 'active' }]);
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
