// What is going on with single connections right now ("Checking…") and how the
// last check went, shared by the list row and the detail pane.
import * as api from './api';
import { connections } from './stores.svelte';

export type CheckOutcome = { ok: true } | { ok: false; error: api.KeyportError };

export const activity = $state<{
  /** Connection ids with a check under way. */
  checking: Record<string, boolean>;
  /** How the last "Check now" of a connection went (this session). */
  checks: Record<string, CheckOutcome>;
}>({ checking: {}, checks: {} });

/** Put a command's reply in the list at once (the connections-changed event confirms it). */
export function replaceConnection(updated: api.Connection) {
  const list = connections.value;
  if (list) connections.set(list.map((c) => (c.id === updated.id ? updated : c)));
}

/** Take a disconnected connection out of the list without waiting for the refetch. */
export function dropConnection(id: string) {
  const list = connections.value;
  if (list) connections.set(list.filter((c) => c.id !== id));
  delete activity.checks[id];
  delete activity.checking[id];
  // And ask the backend for the list as it now is.
  void connections.reload({ quiet: true });
}

/** "Check all" under way: how far it got. */
export const checkingAll = $state<{ done: number; total: number; running: boolean }>({
  done: 0,
  total: 0,
  running: false,
});

/**
 * "Check all": every connected account, one after another (a provider sees
 * one call at a time from this window). Returns how many checks failed.
 */
export async function checkAll(ids: readonly string[]): Promise<number> {
  if (checkingAll.running) return 0;
  checkingAll.running = true;
  checkingAll.done = 0;
  checkingAll.total = ids.length;
  let failed = 0;
  for (const id of ids) {
    const outcome = await checkNow(id);
    if (!outcome.ok) failed += 1;
    checkingAll.done += 1;
  }
  checkingAll.running = false;
  return failed;
}

/**
 * "Check now": ask the provider whether the connection still works. A failed
 * check is stored on the connection by the backend, so the list is refetched
 * either way.
 */
export async function checkNow(id: string): Promise<CheckOutcome> {
  if (activity.checking[id]) return activity.checks[id] ?? { ok: true };
  activity.checking[id] = true;
  delete activity.checks[id];
  let outcome: CheckOutcome;
  try {
    replaceConnection(await api.checkConnection(id));
    outcome = { ok: true };
  } catch (raw) {
    outcome = { ok: false, error: api.toKeyportError(raw) };
  }
  activity.checks[id] = outcome;
  delete activity.checking[id];
  void connections.reload({ quiet: true });
  return outcome;
}
