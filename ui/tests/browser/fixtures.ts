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
    note: null,
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
    last_error_message: 'The provider did not accept the authorization ("Token has been expired or revoked."). Access was revoked or has expired: sign in again.',
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
  { id: 3, connection_id: 'conn-3', integration: 'gmail', at: now - 26 * HOUR, kind: 'check_failed', code: 'oauth.invalid_grant', message: 'The provider did not accept the authorization ("Token has been expired or revoked."). Access was revoked or has expired: sign in again.' },
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
      export_connections: { ok: { path: '/home/ana/Downloads/keyport-connections-2026-11-27.csv', count: 4 } },
      reveal_export: { ok: null },
      ...overrides,
    },
  };
}

const FIRMS = [
  'Müller',
  'Schmidt',
  'Schneider',
  'Fischer',
  'Weber',
  'Meyer',
  'Wagner',
  'Becker',
  'Schulz',
  'Hoffmann',
  'Koch',
  'Richter',
  'Klein',
  'Wolf',
  'Schröder',
  'Neumann',
  'Schwarz',
  'Zimmermann',
  'Braun',
  'Krüger',
];
const FORMS = ['GmbH', 'KG', 'AG', 'OHG', 'e.K.'];

/** "Müller GmbH" → "mueller-gmbh" for an address. */
function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/ä/g, 'ae')
    .replace(/ö/g, 'oe')
    .replace(/ü/g, 'ue')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * A bookkeeper's desk: `count` connections, a client mailbox each (every
 * fifth client also has Google Calendar on the same sign-in), labelled by
 * client, with a few needing a new sign-in, having trouble, lacking access or
 * never checked. The same list every time.
 */
export function desk(count = 200): Connection[] {
  const out: Connection[] = [];
  for (let i = 0; out.length < count; i++) {
    const client = `${FIRMS[i % FIRMS.length]} ${FORMS[Math.floor(i / FIRMS.length) % FORMS.length]}`;
    const email =
      i === 7
        ? 'lohnbuchhaltung-und-finanzen@mueller-und-soehne-steuerberatung.example'
        : `buchhaltung@${slug(client)}-${String(i).padStart(3, '0')}.example`;
    const id = `desk-${i}`;
    const shared = {
      email,
      subject: `s-${i}`,
      display_name: `Buchhaltung ${client}`,
      label: i % 9 === 4 ? null : client,
      note: i % 6 === 0 ? `Client since ${2010 + (i % 15)}, VAT returns monthly` : null,
      grant_id: id,
      last_checked_at: i % 31 === 0 ? null : now - ((i * 37) % 72) * HOUR - 60_000,
      last_check_ok: true,
      created_at: now - (400 - i) * 24 * HOUR,
    };
    const trouble: Partial<Connection> =
      i % 17 === 3
        ? {
            status: 'needs_reauth',
            last_check_ok: false,
            last_error_code: 'oauth.invalid_grant',
            last_error_message: 'The provider did not accept the authorization ("Token has been expired or revoked."). Access was revoked or has expired: sign in again.',
          }
        : i % 23 === 5
          ? { status: 'degraded', last_check_ok: false, last_error_code: 'provider.unreachable', last_error_message: 'Couldn’t reach Google.' }
          : {};
    out.push(connection({ id, ...shared, ...trouble }));
    if (i % 5 === 0 && out.length < count) {
      out.push(
        connection({
          id: `${id}-cal`,
          integration: 'google-calendar',
          requested_scopes: ['https://www.googleapis.com/auth/calendar.readonly'],
          granted_scopes: ['openid', 'email', 'https://www.googleapis.com/auth/calendar.readonly'],
          ...shared,
          ...trouble,
        }),
      );
    }
  }
  return out;
}
