// What went wrong, in words a bookkeeper can act on. The backend's message
// is exact but written for every case ("The provider did not accept the
// authorization ("grant request is invalid")…"); here the error's code and the
// provider's name make the sentence, and the backend's message stays
// available as the details.
export interface Problem {
  /** The sentence to show. */
  text: string;
  /** The backend's own message, when `text` replaced it (for "Details"). */
  detail: string | null;
}

const SENTENCES: Record<string, (p: string) => string> = {
  'oauth.invalid_grant': (p) =>
    `${p} no longer accepts this sign-in. It was revoked or has expired; sign in again to reconnect.`,
  'connection.needs_reauth': () => 'Sign in again to keep this connection working.',
  'keyring.secret_missing': () =>
    'This connection’s sign-in is missing from the system keyring. Sign in again to reconnect.',
  'keyring.unavailable': () =>
    'The system keyring, where Keyport keeps sign-ins, is not available. Unlock it (or log in to your desktop again) and try again.',
  'provider.unreachable': (p) =>
    `Couldn’t reach ${p}. Check the internet connection; Keyport tries again by itself.`,
  'provider.error': (p) => `${p} had a problem on its side. Keyport tries again by itself.`,
  'provider.rate_limited': (p) => `${p} asked Keyport to slow down. Keyport tries again by itself in a moment.`,
  'provider.cooldown': (p) => `${p} failed a moment ago, so Keyport waits a little before trying again.`,
  'provider.malformed': (p) =>
    `${p} sent an answer Keyport couldn’t read. Keyport tries again by itself; if it keeps happening, copy the diagnostics in Settings for support.`,
  'oauth.invalid_client': (p) =>
    `${p} doesn’t accept the OAuth client Keyport uses. Check the client id and secret in Settings.`,
  'oauth.token_exchange': (p) => `${p} didn’t finish the sign-in. Try again.`,
  'oauth.authorization_failed': (p) => `${p} refused the sign-in. Try again, or check the account.`,
  'identity.failed': (p) => `Keyport couldn’t find out which ${p} account signed in. Try again.`,
  'api.status': (p) => `${p} answered the check with an error. Keyport tries again by itself.`,
};

/** `error` as the person should read it, naming the provider (`providerName`: "Google"). */
export function problemInWords(error: { code: string | null; message: string | null }, providerName: string): Problem {
  const raw = error.message?.trim() || null;
  const sentence = error.code ? SENTENCES[error.code] : undefined;
  if (!sentence) return { text: raw ?? 'Something went wrong.', detail: null };
  const text = sentence(providerName);
  return { text, detail: raw && raw !== text ? raw : null };
}
