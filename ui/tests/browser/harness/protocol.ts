// What the browser tests and the mocked test page agree on. The test sets
// `window.__KEYPORT_TEST__` (via page.addInitScript) before any page script runs;
// the page answers each command from it and records every IPC call.

/** How the mocked backend answers one command. */
export type Reply =
  | { ok: unknown }
  | { error: unknown }
  /** Never answers until the test calls `__keyportTest.release(cmd)`; then answers from the config as it is then. */
  | { hold: true };

export interface HarnessConfig {
  /** Keyed by command name. A command with no entry rejects as Tauri does for an unknown command. */
  replies: Record<string, Reply>;
}

export interface IpcLogEntry {
  seq: number;
  cmd: string;
  args: unknown;
  outcome: 'pending' | 'resolved' | 'rejected';
  reply?: unknown;
  error?: unknown;
}

export interface HarnessControls {
  log: IpcLogEntry[];
  /** Answer the held calls of `cmd`. */
  release(cmd: string): void;
  /** Emit a backend event to the page (through the mocked event plugin). */
  emit(event: string, payload: unknown): Promise<void>;
}

declare global {
  interface Window {
    __KEYPORT_TEST__?: HarnessConfig;
    __keyportTest?: HarnessControls;
    __cspViolations?: string[];
  }
}
