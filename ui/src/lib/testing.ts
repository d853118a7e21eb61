// A connection record for unit tests: an active Gmail of ana@firm.example,
// with the fields a test names replaced.
import type { Connection } from './api';

export const GMAIL_READ = 'https://www.googleapis.com/auth/gmail.readonly';

export function connection(overrides: Partial<Connection> = {}): Connection {
  return {
    id: 'c1',
    integration: 'gmail',
    provider: 'google',
    status: 'active',
    label: null,
    subject: 's1',
    email: 'ana@firm.example',
    display_name: 'Ana',
    requested_scopes: [GMAIL_READ],
    granted_scopes: ['openid', 'email', GMAIL_READ],
    missing_scopes: [],
    redirect_mode: 'loopback',
    profile: null,
    last_error_code: null,
    last_error_message: null,
    last_checked_at: null,
    last_check_ok: null,
    created_at: 1,
    updated_at: 1,
    refresh_failures: 0,
    retry_after: null,
    last_refreshed_at: null,
    grant_id: overrides.id ?? 'c1',
    note: null,
    ...overrides,
  };
}
