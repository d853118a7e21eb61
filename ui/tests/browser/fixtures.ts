import type { IntegrationSummary, ScopePreset } from '../../src/lib/api';
import type { HarnessConfig } from './harness/protocol';

function preset(id: string, label: string, scopes: string[], isDefault = false): ScopePreset {
  return { id, label, description: label, scopes, default: isDefault };
}

export const integrations: IntegrationSummary[] = [
  {
    id: 'gmail',
    name: 'Gmail',
    provider: 'google',
    description: 'Email in a Google account or Workspace mailbox.',
    icon: 'gmail',
    access: 'Read your mail',
    presets: [
      preset('read', 'Read only', ['https://www.googleapis.com/auth/gmail.readonly'], true),
      preset('send', 'Read & send', ['https://www.googleapis.com/auth/gmail.modify']),
      preset('full', 'Full mailbox (IMAP/SMTP)', ['https://mail.google.com/']),
    ],
    redirect: 'loopback',
    redirect_modes: ['loopback', 'deep-link', 'relay'],
    configured: true,
    setup_guide: 'https://developers.google.com/identity/protocols/oauth2/native-app',
    custom: false,
  },
  {
    id: 'google-calendar',
    name: 'Google Calendar',
    provider: 'google',
    description: 'Calendars and events in a Google account.',
    icon: 'google-calendar',
    access: 'See your calendars and events',
    presets: [preset('read', 'Read only', ['https://www.googleapis.com/auth/calendar.readonly'], true)],
    redirect: 'loopback',
    redirect_modes: ['loopback', 'deep-link', 'relay'],
    configured: true,
    setup_guide: null,
    custom: false,
  },
  {
    id: 'google-drive',
    name: 'Google Drive',
    provider: 'google',
    description: 'Files and folders stored in a Google account.',
    icon: 'google-drive',
    access: 'See the files you open with Keyport',
    presets: [preset('file', 'Files you pick', ['https://www.googleapis.com/auth/drive.file'], true)],
    redirect: 'loopback',
    redirect_modes: ['loopback', 'deep-link', 'relay'],
    configured: true,
    setup_guide: null,
    custom: false,
  },
  {
    id: 'outlook',
    name: 'Outlook',
    provider: 'microsoft',
    description: 'Mail in Outlook.com or a Microsoft 365 mailbox.',
    icon: 'outlook',
    access: 'Read your mail',
    presets: [preset('read', 'Read only', ['offline_access', 'Mail.Read'], true)],
    redirect: 'deep-link',
    redirect_modes: ['deep-link', 'loopback'],
    configured: false,
    setup_guide: 'https://learn.microsoft.com/entra/identity-platform/quickstart-register-app',
    custom: false,
  },
];

export const acmeMail: IntegrationSummary = {
  id: 'acme-mail',
  name: 'Acme Mail',
  provider: 'acme',
  description: 'Mail on the Acme sandbox server.',
  icon: 'acme',
  access: 'Read your mail',
  presets: [preset('read', 'Read', ['mail.read'], true)],
  redirect: 'deep-link',
  redirect_modes: ['deep-link'],
  configured: true,
  setup_guide: null,
  custom: true,
};

export const appInfo = { version: '0.1.0', data_dir: '/tmp/keyport/data', config_dir: '/tmp/keyport/config' };

export const notConfigured = {
  code: 'integration.not_configured',
  message: 'Outlook needs an OAuth client. Add one with “keyport client set microsoft”.',
  detail: { provider: 'microsoft' },
};

/** The mocked backend as a fresh install with Google's client set up. */
export function backend(overrides: HarnessConfig['replies'] = {}): HarnessConfig {
  return {
    replies: {
      list_integrations: { ok: integrations },
      app_info: { ok: appInfo },
      start_connect: { ok: { connection_id: 'conn-1', auth_url: 'https://accounts.example/authorize?x=1' } },
      ...overrides,
    },
  };
}
