// Entry of the test page: mock Tauri's IPC, record every call, then start the real app.
// Built only by the browser tests (into .harness-dist), never into ui/dist.
import { mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type { IpcLogEntry, Reply } from './protocol';

const log: IpcLogEntry[] = [];
const held = new Map<string, Array<() => void>>();

function snapshot(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function answer(cmd: string): Promise<unknown> {
  const reply: Reply | undefined = window.__KEYPORT_TEST__?.replies[cmd];
  if (!reply) return Promise.reject(`command ${cmd} not found`);
  if ('hold' in reply) {
    return new Promise((resolve, reject) => {
      const waiting = held.get(cmd) ?? [];
      waiting.push(() => {
        const now = window.__KEYPORT_TEST__?.replies[cmd];
        if (!now || 'hold' in now) reject(`command ${cmd} still held`);
        else if ('error' in now) reject(snapshot(now.error));
        else resolve(snapshot(now.ok));
      });
      held.set(cmd, waiting);
    });
  }
  if ('error' in reply) return Promise.reject(snapshot(reply.error));
  return Promise.resolve(snapshot(reply.ok));
}

mockIPC((cmd) => answer(cmd), { shouldMockEvents: true });

// Wrap the mocked invoke so event-plugin traffic is recorded too.
const internals = (window as unknown as { __TAURI_INTERNALS__: { invoke: Invoke } })
  .__TAURI_INTERNALS__;
type Invoke = (cmd: string, args?: unknown, options?: unknown) => Promise<unknown>;
const mocked = internals.invoke;
internals.invoke = async (cmd, args, options) => {
  const entry: IpcLogEntry = { seq: log.length + 1, cmd, args: snapshot(args), outcome: 'pending' };
  log.push(entry);
  try {
    const reply = await mocked(cmd, args, options);
    entry.outcome = 'resolved';
    entry.reply = snapshot(reply);
    return reply;
  } catch (error) {
    entry.outcome = 'rejected';
    entry.error = snapshot(error);
    throw error;
  }
};

window.__keyportTest = {
  log,
  release(cmd) {
    const waiting = held.get(cmd) ?? [];
    held.delete(cmd);
    for (const settle of waiting) settle();
  },
  emit: (event, payload) => emit(event, payload),
};

// Only now start the app, so its first calls already go to the mock.
await import('../../../src/main');
