import { describe, expect, it } from 'vitest';
import type { IntegrationSummary } from './api';
import { TIMED_OUT, connectOptions, defaultPresetId, flowProblem, parseScopes } from './flow';

const gmail = {
  id: 'gmail',
  redirect: 'loopback',
  redirect_modes: ['loopback', 'deep-link', 'relay'],
  presets: [
    { id: 'read', label: 'Read only', description: '', scopes: ['r'], default: false },
    { id: 'send', label: 'Read & send', description: '', scopes: ['r', 's'], default: true },
  ],
} as unknown as IntegrationSummary;

describe('what start_connect is asked for', () => {
  it('preselects the default preset, else the first, else none', () => {
    expect(defaultPresetId(gmail)).toBe('send');
    expect(defaultPresetId({ ...gmail, presets: gmail.presets.map((p) => ({ ...p, default: false })) })).toBe('read');
    expect(defaultPresetId({ ...gmail, presets: [] })).toBeNull();
  });

  it('splits custom scopes on commas and whitespace, once each', () => {
    expect(parseScopes(' a, b  c,,d\n a ')).toEqual(['a', 'b', 'c', 'd']);
    expect(parseScopes(' , ')).toEqual([]);
  });

  it('sends the preset, and the redirect mode only when it is not the default', () => {
    expect(connectOptions(gmail, { preset: 'read', redirect: 'loopback', customScopes: '' })).toEqual({
      preset: 'read',
      scopes: null,
      redirect: null,
    });
    expect(connectOptions(gmail, { preset: 'read', redirect: 'deep-link', customScopes: '  ' })).toEqual({
      preset: 'read',
      scopes: null,
      redirect: 'deep-link',
    });
  });

  it('custom scopes override the preset', () => {
    expect(connectOptions(gmail, { preset: 'read', redirect: 'loopback', customScopes: 'x y' })).toEqual({
      preset: null,
      scopes: ['x', 'y'],
      redirect: null,
    });
  });
});

describe('how a sign-in ended, in words', () => {
  it('says nothing when the user cancelled', () => {
    expect(flowProblem({ code: 'oauth.cancelled', message: 'cancelled' }, 'Gmail')).toBeNull();
  });

  it('explains a declined consent', () => {
    expect(flowProblem({ code: 'oauth.access_denied', message: 'access_denied' }, 'Gmail')?.text).toMatch(
      /^You declined access/,
    );
  });

  it.each(['oauth.flow_expired', 'oauth.timeout'])('%s is an expired sign-in', (code) => {
    const problem = flowProblem({ code, message: 'raw' }, 'Gmail');
    expect(problem?.title).toBe('The sign-in expired');
    expect(problem?.text).toMatch(/expired/);
  });

  it('anything else shows the backend’s message', () => {
    expect(flowProblem({ code: 'oauth.failed', message: 'The sign-in did not finish.' }, 'Gmail')).toEqual({
      title: 'Couldn’t connect Gmail',
      text: 'The sign-in did not finish.',
    });
  });

  it('a provider’s refusal is worded with the provider’s name', () => {
    expect(flowProblem({ code: 'oauth.token_exchange', message: 'invalid_request' }, 'Gmail', 'connect', 'Google')).toEqual({
      title: 'Couldn’t connect Gmail',
      text: 'Google didn’t finish the sign-in. Try again.',
    });
  });

  it('a reconnect as another account shows the backend’s sentence naming both', () => {
    const message = 'You signed in as b@x.com; this connection is a@x.com. Sign in as a@x.com.';
    expect(flowProblem({ code: 'connection.wrong_account', message }, 'Gmail', 'reconnect')).toEqual({
      title: 'That was a different account',
      text: message,
    });
  });

  it('says who must act when the organisation blocks the sign-in', () => {
    const message = 'An administrator of your organisation must approve Keyport for this account.';
    expect(flowProblem({ code: 'oauth.admin_approval_required', message }, 'Outlook')).toEqual({
      title: 'Your organisation must approve Keyport',
      text: message,
    });
    expect(flowProblem({ code: 'oauth.mfa_required', message: 'm' }, 'Outlook')?.title).toBe(
      'Your organisation wants a second step',
    );
    expect(flowProblem({ code: 'oauth.issuer_mismatch', message: 'names evil.example' }, 'Gmail')).toEqual({
      title: 'The answer came from another server',
      text: 'names evil.example',
    });
  });

  it('titles a failure by what the sign-in was for', () => {
    expect(flowProblem({ code: 'oauth.token_exchange', message: 'm' }, 'Gmail', 'reconnect')?.title).toBe(
      'Couldn’t reconnect Gmail',
    );
    expect(flowProblem({ code: 'oauth.token_exchange', message: 'm' }, 'Gmail', 'grant')?.title).toBe('Access wasn’t granted');
    expect(flowProblem({ code: 'oauth.access_denied', message: 'm' }, 'Gmail', 'grant')?.text).toMatch(/stays as it was/);
  });

  it('the client-side timeout says how long it waited', () => {
    expect(TIMED_OUT.text).toMatch(/10 minutes/);
  });
});
