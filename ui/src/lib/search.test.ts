import { describe, expect, it } from 'vitest';
import type { IntegrationSummary } from './api';
import { filterIntegrations } from './search';

function integration(
  id: string,
  name: string,
  provider: string,
  description: string,
): IntegrationSummary {
  return {
    id,
    name,
    provider,
    description,
    icon: id,
    access: 'Read',
    presets: [],
    redirect: 'loopback',
    redirect_modes: ['loopback'],
    configured: true,
    setup_guide: null,
    custom: false,
    overridden: false,
    pkce: true,
    unconfirmed_origins: [],
  };
}

const catalog = [
  integration('gmail', 'Gmail', 'google', 'Email from a Google account'),
  integration('google-calendar', 'Google Calendar', 'google', 'Events and calendars'),
  integration('google-drive', 'Google Drive', 'google', 'Files and folders'),
  integration('outlook', 'Outlook', 'microsoft', 'Mail from Microsoft 365 and Outlook.com'),
];
const ids = (list: IntegrationSummary[]) => list.map((i) => i.id);

describe('filterIntegrations', () => {
  it('keeps everything, in order, for an empty or blank query', () => {
    expect(ids(filterIntegrations(catalog, ''))).toEqual(ids(catalog));
    expect(ids(filterIntegrations(catalog, '   '))).toEqual(ids(catalog));
  });

  it('returns a new array, leaving the input alone', () => {
    const result = filterIntegrations(catalog, '');
    expect(result).not.toBe(catalog);
  });

  it('matches the name, case-insensitively', () => {
    expect(ids(filterIntegrations(catalog, 'DRIVE'))).toEqual(['google-drive']);
  });

  it('matches the description', () => {
    expect(ids(filterIntegrations(catalog, 'events'))).toEqual(['google-calendar']);
  });

  it('matches the provider', () => {
    expect(ids(filterIntegrations(catalog, 'microsoft'))).toEqual(['outlook']);
    expect(ids(filterIntegrations(catalog, 'google'))).toEqual([
      'gmail',
      'google-calendar',
      'google-drive',
    ]);
  });

  it('needs every word to match somewhere', () => {
    expect(ids(filterIntegrations(catalog, 'google files'))).toEqual(['google-drive']);
    expect(ids(filterIntegrations(catalog, 'google  mail'))).toEqual(['gmail']);
    expect(ids(filterIntegrations(catalog, 'microsoft files'))).toEqual([]);
  });

  it('ignores accents', () => {
    expect(ids(filterIntegrations(catalog, 'Óutlook'))).toEqual(['outlook']);
  });

  it('does not match the id or access line', () => {
    expect(ids(filterIntegrations(catalog, 'google-drive'))).toEqual([]);
  });

  it('finds nothing for a query no field contains', () => {
    expect(filterIntegrations(catalog, 'zzz')).toEqual([]);
  });
});
