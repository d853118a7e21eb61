//! Fixtures built in code: an isolated Keyport (data + config folders), the
//! fake provider wired in through the user catalog file, the CLI binary, a
//! scripted browser, the secret-hygiene check and the stored-state
//! invariants.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use keyport_core::paths::Paths;
use keyport_core::secrets::{Secret, SecretStore};
use keyport_core::service::{keyring_service, Keyport};
use keyport_core::store::Store;

use fake_provider::{Config, FakeProvider};

/// The repository's root (this crate is src-tauri/keyport-cli).
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

pub const RELAY_URL: &str = "https://relay.keyport.test/callback/";

/// The redirect URIs the fake provider's client has registered (Google
/// refuses others): the deep link and the relay page; loopback on any port.
pub fn registered_redirect_uris() -> Vec<String> {
    vec![
        "dev.keyport:/oauth/callback".to_string(),
        RELAY_URL.to_string(),
    ]
}

pub struct Env {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub paths: Paths,
    pub provider: FakeProvider,
    /// What the CLI printed, for the secret-hygiene check: (what, text,
    /// whether it is `keyport token`'s stdout, the one place a token belongs).
    outputs: Mutex<Vec<(String, String, bool)>>,
    /// Where this test's part of the in-process log begins.
    log_start: u64,
    /// Whether the secret-hygiene check ran (see `Drop`).
    checked: AtomicBool,
}

/// The in-process log: one file for the whole test binary, every target at
/// TRACE, so what the in-process Keyports log is searched for secrets too.
pub fn test_log() -> &'static Path {
    static LOG: OnceLock<PathBuf> = OnceLock::new();
    LOG.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("keyport-it-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in-process.log");
        let file = std::fs::File::create(&path).unwrap();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .try_init()
            .expect("install the test log");
        path
    })
}

impl Env {
    /// A fresh Keyport whose Gmail points at a fresh fake provider.
    pub fn new() -> Env {
        Env::with_config(Config {
            expand_scope_aliases: true,
            ..Config::default()
        })
    }

    /// Any config gets the registered redirect URIs unless it names its own.
    pub fn with_config(mut config: Config) -> Env {
        if config.redirect_uris.is_empty() {
            config.redirect_uris = registered_redirect_uris();
        }
        let log_start = std::fs::metadata(test_log()).map(|m| m.len()).unwrap_or(0);
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        // Its own policy folder (empty: no policy), never the machine's.
        let paths =
            Paths::at(root.join("data"), root.join("config")).with_policy_dir(root.join("policy"));
        std::fs::create_dir_all(&paths.config_dir).unwrap();
        std::fs::create_dir_all(root.join("browser")).unwrap();
        let provider = FakeProvider::start(config);
        let env = Env {
            _dir: dir,
            root,
            paths,
            provider,
            outputs: Mutex::new(Vec::new()),
            log_start,
            checked: AtomicBool::new(false),
        };
        env.write_catalog("");
        env
    }

    /// This test's part of the in-process log (other tests' lines too).
    pub fn in_process_log(&self) -> String {
        let bytes = std::fs::read(test_log()).unwrap_or_default();
        String::from_utf8_lossy(&bytes[(self.log_start as usize).min(bytes.len())..]).into_owned()
    }

    /// Writes the user catalog: Google Calendar and Gmail at the fake
    /// provider, plus `extra` (which continues Gmail's entry).
    pub fn write_catalog(&self, extra: &str) {
        let base = self.provider.base_url();
        let text = format!(
            r#"[[integration]]
id = "google-calendar"
authorize_url = "{base}/authorize"
issuer = "{base}"
token_url = "{base}/token"
revocation_url = "{base}/revoke"
userinfo_url = "{base}/userinfo"
check_url = "{base}/calendar/v3/users/me/calendarList?maxResults=1"
api_origins = ["{base}"]
relay_url = "{RELAY_URL}"

[[integration]]
id = "gmail"
authorize_url = "{base}/authorize"
issuer = "{base}"
token_url = "{base}/token"
revocation_url = "{base}/revoke"
userinfo_url = "{base}/userinfo"
check_url = "{base}/gmail/v1/users/me/profile"
relay_url = "{RELAY_URL}"
{extra}"#
        );
        std::fs::write(self.paths.user_catalog(), text).unwrap();
    }

    /// A fresh environment with its Keyport and the Google client set.
    pub async fn ready() -> (Env, Keyport) {
        Env::set_up(Env::new()).await
    }

    /// [`Env::ready`] with a fake provider configured as `config`.
    pub async fn ready_with(config: Config) -> (Env, Keyport) {
        Env::set_up(Env::with_config(config)).await
    }

    async fn set_up(env: Env) -> (Env, Keyport) {
        let kp = env.keyport();
        env.set_google_client(&kp).await;
        (env, kp)
    }

    /// The core service for this environment (native keyring), with a short
    /// HTTP timeout so timeout cases run quickly.
    pub fn keyport(&self) -> Keyport {
        Keyport::open(self.paths.clone())
            .expect("open keyport")
            .with_http_timeout(Duration::from_secs(3))
    }

    /// The environment's database, opened on its own (as another process
    /// would): what the tests read to check rows, flows and events.
    pub fn store(&self) -> Store {
        Store::open(&self.paths.database()).expect("open the database")
    }

    /// Runs one SQL statement on the database file, to set up a state no
    /// command reaches by itself (an expired flow, a cooldown ended).
    pub fn sql(&self, statement: &str, params: impl rusqlite::Params) {
        let db = rusqlite::Connection::open(self.paths.database()).expect("open the database");
        db.execute(statement, params).expect(statement);
    }

    pub fn secrets(&self) -> SecretStore {
        SecretStore::native(keyring_service(&self.paths))
    }

    /// Registers the fake provider's client (id in SQLite, secret in the keyring).
    pub async fn set_google_client(&self, kp: &Keyport) {
        kp.set_client(
            "google",
            &self.provider.client_id(),
            Some(Secret::new(self.provider.client_secret())),
        )
        .await
        .expect("set client");
        self.confirm_catalog(kp);
    }

    /// Confirms the endpoints of every catalog entry that points elsewhere
    /// than its client was saved for (here: the fake provider on 127.0.0.1),
    /// as the person does in the window or with `keyport client trust`.
    pub fn confirm_catalog(&self, kp: &Keyport) {
        for i in kp.integrations().expect("integrations") {
            if !i.unconfirmed_origins.is_empty() {
                kp.trust_endpoints(&i.id).expect("trust endpoints");
            }
        }
    }

    /// The CLI, logging everything (`KEYPORT_LOG=trace`) to the data folder.
    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyport"));
        c.env("KEYPORT_DATA_DIR", &self.paths.data_dir)
            .env("KEYPORT_CONFIG_DIR", &self.paths.config_dir)
            .env(
                "KEYPORT_POLICY_DIR",
                self.paths.policy_dir.as_ref().expect("a policy folder"),
            )
            .env("KEYPORT_LOG", "trace")
            .env_remove("KEYPORT_CRASH_AT")
            .env_remove("KEYPORT_DEBUG_NO_REFRESH_LOCK")
            .env("BROWSER", self.browser_script())
            .stdin(Stdio::null());
        c
    }

    /// Another program (a stand-in for a mail client or script) run with
    /// this environment's variables, so the `keyport` it starts (the path
    /// is `CARGO_BIN_EXE_keyport`) uses this test's folders.
    pub fn command_of(&self, program: &str) -> Command {
        let base = self.command();
        let mut cmd = Command::new(program);
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    /// Runs the CLI and records what it printed.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.run(self.command().args(args))
    }

    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        assert_ne!(args.first(), Some(&"token"));
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        self.record(&out, false);
        out
    }

    pub fn run(&self, cmd: &mut Command) -> Output {
        let token = cmd.get_args().next().is_some_and(|a| a == "token");
        let out = cmd.output().expect("run keyport");
        self.record(&out, token);
        out
    }

    /// Records what a `keyport` process printed, for the secret-hygiene
    /// check; `token`: it was `keyport token`, whose stdout is skipped.
    pub fn record(&self, out: &Output, token: bool) {
        let mut o = self.outputs.lock().unwrap();
        let n = o.len();
        o.push((
            format!("CLI stdout #{n}"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            token,
        ));
        o.push((
            format!("CLI stderr #{n}"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            false,
        ));
    }

    /// A `$BROWSER` that behaves like a person who approves: it follows the
    /// provider's redirect and delivers the callback the way the OS would
    /// (loopback: an HTTP request; deep link and relay: `keyport open-url`).
    /// What it receives and what `open-url` prints are kept in
    /// `<root>/browser/` for the secret-hygiene check.
    pub fn browser_script(&self) -> PathBuf {
        let path = self.root.join("browser.sh");
        if !path.exists() {
            let script = format!(
                r#"#!/bin/sh
# Scripted browser for Keyport's tests.
set -u
bin='{bin}'
out='{out}'/$$
loc=$(curl -s -o /dev/null -w '%{{redirect_url}}' "$1")
case "$loc" in
  http://127.0.0.1:*|http://\[::1\]:*) curl -s -o "$out.page" "$loc" ;;
  dev.keyport:*) "$bin" open-url "$loc" >"$out.stdout" 2>"$out.stderr" ;;
  {relay}*) "$bin" open-url "dev.keyport:/oauth/callback?${{loc#*\?}}" >"$out.stdout" 2>"$out.stderr" ;;
  *) echo "browser: unexpected redirect '$loc'" >&2; exit 1 ;;
esac
"#,
                bin = env!("CARGO_BIN_EXE_keyport"),
                out = self.root.join("browser").display(),
                relay = RELAY_URL,
            );
            std::fs::write(&path, script).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        path
    }

    /// No secret the provider issued or saw (access and refresh tokens,
    /// codes, id_tokens, the client secret, PKCE verifiers) appears in the
    /// data folder (database, WAL, the CLI's log at TRACE), the in-process
    /// log (TRACE), anything the CLI or the scripted browser printed or
    /// received — except `keyport token`'s stdout — in any encoding.
    pub fn assert_no_secrets_leaked(&self) {
        self.checked.store(true, Ordering::SeqCst);
        let secrets = self.provider.issued_secrets();
        assert!(
            secrets.contains(&self.provider.client_secret()),
            "the client secret is always looked for"
        );
        let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
        for dir in [&self.paths.data_dir, &self.root.join("browser")] {
            for entry in walk(dir) {
                haystacks.push((
                    entry.display().to_string(),
                    std::fs::read(&entry).unwrap_or_default(),
                ));
            }
        }
        haystacks.push((
            format!("the in-process log {}", test_log().display()),
            self.in_process_log().into_bytes(),
        ));
        for (name, text, token_stdout) in self.outputs.lock().unwrap().iter() {
            if !token_stdout {
                haystacks.push((name.clone(), text.as_bytes().to_vec()));
            }
        }
        let needles = Needles::new(&secrets);
        for (name, bytes) in &haystacks {
            if let Some(secret) = needles.find_in(bytes) {
                panic!(
                    "a secret the provider issued ({}…) appears in {name}",
                    &secret[..secret.len().min(6)]
                );
            }
        }
    }
}

/// A test whose provider issued tokens must end with the secret-hygiene
/// check: forgetting it fails the test.
impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() || self.checked.load(Ordering::SeqCst) {
            return;
        }
        if self.provider.issued_secrets().len() > 1 {
            panic!("the provider issued tokens, but the test ended without Env::assert_no_secrets_leaked");
        }
    }
}

/// How long a secret's tail is searched for.
const TAIL: usize = 24;

fn url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The secrets to look for, by their random tail: the last characters of
/// each that are all in [A-Za-z0-9_-]. Percent-, form-, JSON- and HTML-
/// encoding never change those characters, so the tail is found whatever
/// the encoding (a code `4/0A…` logged from a URL is `4%2F0A…`).
struct Needles<'a> {
    by_tail: HashMap<&'a [u8], &'a str>,
    lengths: Vec<usize>,
    /// Secrets without a long enough tail: searched raw and encoded.
    short: Vec<(&'a str, Vec<Vec<u8>>)>,
}

impl<'a> Needles<'a> {
    fn new(secrets: &'a [String]) -> Needles<'a> {
        let mut by_tail = HashMap::new();
        let mut short = Vec::new();
        for secret in secrets {
            let bytes = secret.as_bytes();
            let safe = bytes.iter().rev().take_while(|b| url_safe(**b)).count();
            if safe >= 12 {
                by_tail.insert(&bytes[bytes.len() - safe.min(TAIL)..], secret.as_str());
            } else {
                short.push((secret.as_str(), encodings(secret)));
            }
        }
        let mut lengths: Vec<usize> = by_tail
            .keys()
            .map(|k| k.len())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        lengths.sort();
        Needles {
            by_tail,
            lengths,
            short,
        }
    }

    /// The first secret found in `hay`, if any.
    fn find_in(&self, hay: &[u8]) -> Option<&'a str> {
        // Every run of [A-Za-z0-9_-] long enough to hold a tail.
        let mut i = 0;
        while i < hay.len() {
            if !url_safe(hay[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < hay.len() && url_safe(hay[i]) {
                i += 1;
            }
            let run = &hay[start..i];
            for &len in &self.lengths {
                for w in run.windows(len) {
                    if let Some(secret) = self.by_tail.get(w) {
                        return Some(secret);
                    }
                }
            }
        }
        self.short
            .iter()
            .find_map(|(secret, forms)| forms.iter().any(|f| contains(hay, f)).then_some(*secret))
    }
}

/// A secret raw, percent-encoded (upper and lower case), form-encoded and
/// JSON-escaped.
fn encodings(secret: &str) -> Vec<Vec<u8>> {
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json = serde_json::to_string(secret).unwrap();
    let json = json[1..json.len() - 1].to_string();
    let mut forms = vec![
        secret.to_string(),
        form.clone(),
        form.replace('+', "%20"),
        json.replace('/', "\\/"),
        json,
    ];
    forms.push(percent_lower(&form));
    forms.into_iter().map(String::into_bytes).collect()
}

fn percent_lower(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the stored-state invariants, from the keyring's side too: every
/// entry of this data folder's keyring service is named by a row (a
/// connection that has secrets or an owed revocation, a client with a
/// secret, a flow whose verifier is not cleared), and every connection with
/// secrets has its entry while no other connection has one.
pub fn assert_invariants(env: &Env, kp: &Keyport) {
    let secrets = env.secrets();
    let store = env.store();
    let connections = kp.list().unwrap();
    let owed: Vec<String> = store
        .with(|db| db.due_revocations_all())
        .unwrap()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    let clients = store.with(|db| db.clients()).unwrap();
    let flows = store.with(|db| db.flows()).unwrap();
    let entries = secrets.list().expect("list the keyring entries");
    for entry in &entries {
        let (kind, id) = entry.split_once(':').unwrap_or(("", entry));
        // A part of a split token set (`connection:<id>#<generation>.<n>`)
        // belongs to its connection.
        let id = id.split_once('#').map_or(id, |(id, _)| id);
        let named = match kind {
            // A grant's tokens (`connection:<grant id>`): named by a grant
            // some connection with secrets is on, or by an owed revocation.
            "connection" => {
                connections
                    .iter()
                    .any(|c| c.holder() == id && c.status.has_secrets())
                    || owed.iter().any(|o| o == id)
            }
            "client" => clients.iter().any(|c| c.provider == id && c.has_secret),
            "flow" => {
                flows.iter().any(|f| f.id == id)
                    && !store.with(|db| db.flow_secret_cleared(id)).unwrap()
            }
            _ => false,
        };
        assert!(
            named,
            "the keyring entry {entry} is named by no row (orphan); entries: {entries:?}"
        );
    }
    let grants = store.with(|db| db.list_grants()).unwrap();
    for g in &grants {
        let on = store.with(|db| db.connections_on_grant(&g.id)).unwrap();
        assert!(!on.is_empty(), "the grant {} has no connection left", g.id);
    }
    for c in &connections {
        if c.status.has_secrets() {
            let grant = c.grant_id.as_deref().expect("a connected row has a grant");
            assert!(
                grants.iter().any(|g| g.id == grant),
                "{} is on a grant that does not exist",
                c.id
            );
        }
        // Rows on one grant that still have their own entry would be a
        // second refresh token for the account: only the holder has one.
        if c.holder() != c.id {
            assert!(
                secrets.get_tokens(&c.id).unwrap().is_none(),
                "{} has tokens of its own besides its grant's",
                c.id
            );
        }
        let tokens = secrets.get_tokens(c.holder()).unwrap();
        if c.status.has_secrets() {
            assert!(
                tokens.is_some(),
                "{} is {:?} but has no keyring entry",
                c.id,
                c.status
            );
        } else {
            assert!(
                tokens.is_none(),
                "{} is {:?} but left a keyring entry",
                c.id,
                c.status
            );
        }
    }
}

/// Connects Gmail in-process (deep-link mode), signing in as `account`.
pub async fn connect_as(
    env: &Env,
    kp: &keyport_core::service::Keyport,
    account: &str,
) -> keyport_core::store::Connection {
    env.provider.set_account(account);
    sign_in(env, kp, "gmail").await
}

/// Sign-in options for the deep-link redirect (the in-process tests follow
/// the provider's redirect themselves).
pub fn deep_link() -> keyport_core::service::ConnectOptions {
    keyport_core::service::ConnectOptions {
        redirect: Some(keyport_core::catalog::RedirectMode::DeepLink),
        ..Default::default()
    }
}

/// Connects `integration` in-process (deep-link mode) as the fake
/// provider's current account.
pub async fn sign_in(
    env: &Env,
    kp: &keyport_core::service::Keyport,
    integration: &str,
) -> keyport_core::store::Connection {
    let started = kp
        .initiate(integration, deep_link())
        .await
        .expect("initiate");
    let link = env
        .provider
        .follow_authorize(&started.auth_url)
        .expect("consent");
    kp.handle_deep_link(&link).await.expect("connect")
}

/// Makes the stored access token look expired to Keyport.
pub fn expire_locally(env: &Env, connection_id: &str) {
    let secrets = env.secrets();
    let mut t = secrets.get_tokens(connection_id).unwrap().expect("tokens");
    t.expires_at = Some(0);
    secrets.set_tokens(connection_id, &t).unwrap();
}

/// The test that stops the session's keyring daemon takes this for writing;
/// the five-process soak takes it for reading. Every test copes with a
/// daemon restart by itself, but the soak's CLI processes each fail a read
/// that finds no keyring for longer than their 1.3 s of retries, which a
/// loaded machine's D-Bus activation can take.
pub static KEYRING_DAEMON: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
