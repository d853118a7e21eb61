import { describe, expect, it } from 'vitest';
import { hrefOf, parseHash } from './route';

describe('routes', () => {
  it.each([
    ['', 'integrations'],
    ['#/', 'integrations'],
    ['#/connections', 'connections'],
    ['#connections', 'connections'],
    ['#/settings/', 'settings'],
    ['#/nope', 'integrations'],
  ])('%j shows %s', (hash, view) => {
    expect(parseHash(hash).view).toBe(view);
  });

  it('reads parameters after ?', () => {
    const route = parseHash('#/settings?provider=microsoft');
    expect(route.view).toBe('settings');
    expect(route.params.get('provider')).toBe('microsoft');
  });

  it('hrefOf is the inverse', () => {
    expect(hrefOf('settings', { provider: 'a b' })).toBe('#/settings?provider=a+b');
    expect(parseHash(hrefOf('settings', { provider: 'a b' })).params.get('provider')).toBe('a b');
    expect(hrefOf('connections')).toBe('#/connections');
  });
});
