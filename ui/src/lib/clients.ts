// OAuth clients in Settings: where a provider's client comes from, and the checks
// the form makes before anything is sent (the backend makes the same ones).
import type { ClientSource, ClientSummary } from './api';
import { providerName } from './connections';

/** What the card calls each source. */
export const SOURCE_LABEL: Record<ClientSource, string> = {
  built_in: 'Built into Keyport',
  organisation: 'Set by your organisation',
  personal: 'Yours',
  catalog: 'From your catalog file',
};

/** Providers whose client only works with its secret (Google's Desktop clients have one). */
const SECRET_REQUIRED = new Set(['google']);

/** Providers whose downloaded client JSON Keyport imports. */
const JSON_IMPORT = new Set(['google']);

export function secretRequired(provider: string): boolean {
  return SECRET_REQUIRED.has(provider);
}

export function importsJson(provider: string): boolean {
  return JSON_IMPORT.has(provider);
}

/** A provider with no client at all. */
export function noClient(provider: string): ClientSummary {
  return { provider, client_id: null, source: null, has_secret: false, locked: false };
}

/** A client is set but Connect would refuse it: the secret it needs is missing. */
export function missingSecret(client: ClientSummary): boolean {
  return client.client_id !== null && secretRequired(client.provider) && !client.has_secret;
}

/** What the card says about the secret (never the secret itself). */
export function secretState(client: ClientSummary): string {
  if (!client.has_secret) return secretRequired(client.provider) ? 'Not set' : 'None';
  return client.source === 'personal' ? 'Set (kept in your system keyring)' : 'Set';
}

/** A secret is saved with the person's own client: the form may leave the field empty to keep it. */
export function keepsSavedSecret(client: ClientSummary): boolean {
  return client.source === 'personal' && client.has_secret;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Why `clientId` can't be `provider`'s client id, or null when its shape fits:
 * a Google id ends in `.apps.googleusercontent.com`, a Microsoft one is a GUID.
 */
export function clientIdProblem(provider: string, clientId: string): string | null {
  const id = clientId.trim();
  if (id === '') return 'Enter the client ID.';
  if (id.length > 256 || /\s/.test(id)) return 'A client ID is one word of at most 256 characters.';
  if (provider === 'google' && !id.endsWith('.apps.googleusercontent.com')) {
    return `“${id}” is not a Google client ID: it ends in .apps.googleusercontent.com (Google Cloud console → APIs & Services → Credentials → your Desktop client).`;
  }
  if (provider === 'microsoft' && !GUID.test(id)) {
    return `“${id}” is not a Microsoft application (client) ID: it looks like 00000000-0000-0000-0000-000000000000 (Microsoft Entra admin center → App registrations → Overview).`;
  }
  return null;
}

/** Why the form can't be sent without a secret, or null. */
export function secretProblem(client: ClientSummary, secret: string): string | null {
  if (secret.trim() !== '' || !secretRequired(client.provider) || keepsSavedSecret(client)) return null;
  return `${providerName(client.provider)} needs the client secret too: it is next to the client ID in the console, and in the JSON file you can download.`;
}

/** A downloaded client JSON is a few hundred bytes; anything this big is another file. */
const MAX_JSON_BYTES = 64 * 1024;

/** The text of a client JSON file the person picked or dropped. */
export async function readClientJson(file: File): Promise<string> {
  if (file.size > MAX_JSON_BYTES) {
    throw new Error(`“${file.name}” is too big to be the client JSON Google downloads.`);
  }
  return file.text();
}
