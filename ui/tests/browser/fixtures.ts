import type {
  ClientSummary,
  Connection,
  ConnectionEvent,
  DisconnectPlan,
  BackendDiagnostics,
  ConnectStarted,
  IntegrationSummary,
  OAuthClient,
  ScopePreset,
  Settings,
  Usage,
} from '../../src/lib/api';
import type { HarnessConfig } from './harness/protocol';

function preset(id: string, label: string, scopes: string[], isDefault = false, description = label): ScopePreset {
  return { id, label, description, scopes, default: isDefault };
}

export const GMAIL_READ = 'https://www.googleapis.com/auth/gmail.readonly';
export const GMAIL_MODIFY = 'https://www.googleapis.com/auth/gmail.modify';
export const GMAIL_FULL = 'https://mail.google.com/';

export const integrations: IntegrationSummary[] = [
  {
    id: 'gmail',
    name: 'Gmail',
    provider: 'google',
    description: 'Email in a Google account or Workspace mailbox.',
    icon: 'gmail',
    access: 'Read your mail',
    presets: [
      preset('read', 'Read only', [GMAIL_READ], true, 'Read messages and settings. Can’t send or delete.'),
      preset('send', 'Read & send', [GMAIL_MODIFY], false, 'Read, label and send mail. Can’t delete for good.'),
      preset('full', 'Full mailbox (IMAP/SMTP)', [GMAIL_FULL], false, 'Everything, for mail programs that use IMAP and SMTP.'),
    ],
    redirect: 'loopback',
    redirect_modes: ['loopback', 'deep-link', 'relay'],
    configured: true,
    setup_guide: 'https://developers.google.com/identity/protocols/oauth2/native-app',
    custom: false,
    overridden: false,
    pkce: true,
    unconfirmed_origins: [],
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
    overridden: false,
    pkce: true,
    unconfirmed_origins: [],
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
    overridden: false,
    pkce: true,
    unconfirmed_origins: [],
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
    overridden: false,
    pkce: true,
    unconfirmed_origins: [],
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
  overridden: false,
  pkce: true,
  unconfirmed_origins: [],
};

export const appInfo = { version: '0.1.0', data_dir: '/tmp/keyport/data', config_dir: '/tmp/keyport/config' };

export const notConfigured = {
  code: 'integration.not_configured',
  message: 'Outlook needs an OAuth client. Add one with “keyport client set microsoft”.',
  detail: { provider: 'microsoft' },
};

export const started: ConnectStarted = {
  connection_id: 'conn-1',
  flow_id: 'flow-1',
  auth_url: 'https://accounts.example/o/oauth2/auth?client_id=abc&state=xyz',
  redirect_mode: 'loopback',
  browser_opened: true,
};

const HOUR = 3_600_000;
/** A fixed "now" would need a fake clock; rows are placed relative to the real one. */
const now = Date.now();

export function connection(overrides: Partial<Connection> = {}): Connection {
  return {
    id: 'conn-1',
    integration: 'gmail',
    provider: 'google',
    status: 'active',
    label: null,
    subject: '1001',
    email: 'ana@firm.example',
    display_name: 'Ana Ruiz',
    requested_scopes: [GMAIL_READ],
    granted_scopes: ['openid', 'email', GMAIL_READ],
    missing_scopes: [],
    redirect_mode: 'loopback',
    profile: { emailAddress: 'ana@firm.example', messagesTotal: 18234, threadsTotal: 9120 },
    last_error_code: null,
    last_error_message: null,
    last_checked_at: now - 5 * 60_000,
    last_check_ok: true,
    created_at: now - 40 * 24 * HOUR,
    updated_at: now - 5 * 60_000,
    refresh_failures: 0,
    retry_after: null,
    last_refreshed_at: null,
    grant_id: overrides.id ?? 'conn-1',
    ...overrides,
  };
}

/** A bookkeeper's morning: one mailbox needs a sign-in again, one lacks access, the rest fine. */
export const connections: Connection[] = [
  connection(),
  connection({
    id: 'conn-2',
    email: 'billing@firm.example',
    display_name: null,
    label: 'Shared billing inbox',
    subject: '1002',
    profile: { emailAddress: 'billing@firm.example', messagesTotal: 52877, threadsTotal: 40310 },
    granted_scopes: ['openid', 'email', GMAIL_MODIFY],
    requested_scopes: [GMAIL_MODIFY],
    last_checked_at: now - 3 * HOUR,
  }),
  connection({
    id: 'conn-3',
    email: 'zoe@client-co.example',
    display_name: 'Zoe Park',
    subject: '1003',
    status: 'needs_reauth',
    profile: { emailAddress: 'zoe@client-co.example', messagesTotal: 4210, threadsTotal: 1988 },
    last_error_code: 'oauth.invalid_grant',
    last_error_message: 'Google no longer accepts this sign-in. Sign in again to reconnect.',
    last_checked_at: now - 26 * HOUR,
    last_check_ok: false,
  }),
  connection({
    id: 'conn-4',
    // Ana's Calendar is on the same Google sign-in as her Gmail (conn-1).
    grant_id: 'conn-1',
    integration: 'google-calendar',
    email: 'ana@firm.example',
    subject: '1001',
    granted_scopes: ['openid', 'email'],
    requested_scopes: ['https://www.googleapis.com/auth/calendar.readonly'],
    missing_scopes: ['https://www.googleapis.com/auth/calendar.readonly'],
    profile: null,
    last_checked_at: null,
    last_check_ok: null,
  }),
];

export const events: ConnectionEvent[] = [
  { id: 3, connection_id: 'conn-3', integration: 'gmail', at: now - 26 * HOUR, kind: 'check_failed', code: 'oauth.invalid_grant', message: 'Google no longer accepts this sign-in.' },
  { id: 2, connection_id: 'conn-3', integration: 'gmail', at: now - 30 * 24 * HOUR, kind: 'connected', code: null, message: null },
  { id: 1, connection_id: 'conn-3', integration: 'gmail', at: now - 30 * 24 * HOUR - 60_000, kind: 'connect_started', code: null, message: null },
];

/** Programs that took conn-3's tokens, newest first. */
export const usage: Usage[] = [
  { connection_id: 'conn-3', at: now - 2 * 60_000, kind: 'xoauth2', program: 'neomutt', program_path: '/usr/bin/neomutt' },
  { connection_id: 'conn-3', at: now - 3 * HOUR, kind: 'token', program: 'python3.11', program_path: '/usr/bin/python3.11' },
];

export const clients: OAuthClient[] = [
  { provider: 'google', client_id: '4711-desktop.apps.googleusercontent.com', has_secret: true, updated_at: now - 90 * 24 * HOUR },
];

/** What `client_sources` answers when the only clients are the person's own (`saved`). */
export function sourcesOf(saved: OAuthClient[]): ClientSummary[] {
  const providers = [...new Set(integrations.map((i) => i.provider))];
  return providers.map((provider) => {
    const own = saved.find((c) => c.provider === provider);
    return own
      ? { provider, client_id: own.client_id, source: 'personal', has_secret: own.has_secret, locked: false }
      : { provider, client_id: null, source: null, has_secret: false, locked: false };
  });
}

export const settings: Settings = { default_redirect: null, relay_url: null, close_to_tray: true };

export const backendDiagnostics: BackendDiagnostics = {
  version: '0.1.0',
  os: 'linux',
  arch: 'x86_64',
  keyring: 'available',
  keyring_service: 'dev.keyport.app',
  pending_revocations: 2,
};

/** What disconnecting Ana's Gmail would do: her Calendar shares the sign-in. */
export const plan: DisconnectPlan = {
  connection_id: 'conn-1',
  integration: 'Gmail',
  account: 'ana@firm.example',
  keeps: ['Google Calendar'],
  revokes: false,
  summary:
    "Gmail for ana@firm.example stops working. Google Calendar keeps working: they share the account's sign-in, which is not revoked.",
};

/** The mocked backend as a fresh install with Google's client set up. */
export function backend(overrides: HarnessConfig['replies'] = {}): HarnessConfig {
  return {
    replies: {
      list_integrations: { ok: integrations },
      app_info: { ok: appInfo },
      list_connections: { ok: [] },
      list_clients: { ok: clients },
      client_sources: { ok: sourcesOf(clients) },
      start_connect: { ok: started },
      cancel_connect: { ok: null },
      connection_events: { ok: events },
      connection_usage: { ok: usage },
      disconnect_plan: { ok: plan },
      get_settings: { ok: settings },
      autostart_enabled: { ok: false },
      diagnostics: { ok: backendDiagnostics },
      open_data_folder: { ok: null },
      ...overrides,
    },
  };
}
