import { describe, expect, it } from 'vitest';
import { problemInWords } from './problems';

describe('problemInWords', () => {
  it('words a refused grant with the provider name, keeping the backend text as the detail', () => {
    const raw = 'The provider did not accept the authorization ("grant request is invalid"). Access was revoked or has expired: sign in again.';
    const problem = problemInWords({ code: 'oauth.invalid_grant', message: raw }, 'Google');
    expect(problem.text).toBe('Google no longer accepts this sign-in. It was revoked or has expired; sign in again to reconnect.');
    expect(problem.detail).toBe(raw);
  });

  it('names the provider when it could not be reached', () => {
    expect(problemInWords({ code: 'provider.unreachable', message: 'The provider could not be reached: dns error.' }, 'Microsoft').text).toBe(
      'Couldn’t reach Microsoft. Check the internet connection; Keyport tries again by itself.',
    );
  });

  it('keeps a message already written for the case, with no detail', () => {
    const mfa = 'Your organisation now requires a multi-factor sign-in for this account. Sign in again and complete the extra step.';
    expect(problemInWords({ code: 'oauth.mfa_required', message: mfa }, 'Microsoft')).toEqual({ text: mfa, detail: null });
  });

  it('has words without a message, and no detail when the message says the same', () => {
    expect(problemInWords({ code: null, message: null }, 'Google')).toEqual({ text: 'Something went wrong.', detail: null });
    const same = 'Sign in again to keep this connection working.';
    expect(problemInWords({ code: 'connection.needs_reauth', message: same }, 'Google').detail).toBeNull();
  });
});
