//! Fixtures built in code: an isolated Keyport (data + config folders), the
//! fake provider wired in through the user catalog file, the CLI binary, a
//! scripted browser, and the secret-hygiene check.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use keyport_core::paths::Paths;
use keyport_core::secrets::{Secret, SecretStore};
use keyport_core::service::{keyring_service, Keyport};
use keyport_core::store::Store;

use fake_provider::{Config, FakeProvider};

/// The repository's root (this crate is src-tauri/keyport-cli).
pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

pub const RELAY_URL: &str = "https://relay.keyport.test/callback/";

pub struct Env {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub paths: Paths,
    pub provider: FakeProvider,
    /// Everything the CLI printed, for the secret-hygiene check.
    outputs: Mutex<Vec<String>>,
}

impl Env {
    /// A fresh Keyport whose Gmail points at a fresh fake provider.
    pub fn new() -> Env {
        Env::with_config(Config {
            expand_scope_aliases: true,
            ..Config::default()
        })
    }

    pub fn with_config(config: Config) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        // Its own policy folder (empty: no policy), never the machine's.
        let paths =
            Paths::at(root.join("data"), root.join("config")).with_policy_dir(root.join("policy"));
        std::fs::create_dir_all(&paths.config_dir).unwrap();
        let provider = FakeProvider::start(config);
        let env = Env {
            _dir: dir,
            root,
            paths,
            provider,
            outputs: Mutex::new(Vec::new()),
        };
        env.write_catalog("");
        env
    }

    /// Writes the user catalog: Gmail at the fake provider, plus `extra`.
    pub fn write_catalog(&self, extra: &str) {
        let base = self.provider.base_url();
        let text = format!(
            r#"[[integration]]
id = "gmail"
authorize_url = "{base}/authorize"
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
        let env = Env::new();
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

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyport"));
        c.env("KEYPORT_DATA_DIR", &self.paths.data_dir)
            .env("KEYPORT_CONFIG_DIR", &self.paths.config_dir)
            .env(
                "KEYPORT_POLICY_DIR",
                self.paths.policy_dir.as_ref().expect("a policy folder"),
            )
            .env_remove("KEYPORT_CRASH_AT")
            .env("BROWSER", self.browser_script())
            .stdin(Stdio::null());
        c
    }

    /// Runs the CLI and records what it printed.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.run(self.command().args(args))
    }

    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
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
        self.record(&out);
        out
    }

    pub fn run(&self, cmd: &mut Command) -> Output {
        let out = cmd.output().expect("run keyport");
        self.record(&out);
        out
    }

    fn record(&self, out: &Output) {
        let mut o = self.outputs.lock().unwrap();
        o.push(String::from_utf8_lossy(&out.stdout).into_owned());
        o.push(String::from_utf8_lossy(&out.stderr).into_owned());
    }

    /// A `$BROWSER` that behaves like a person who approves: it follows the
    /// provider's redirect and delivers the callback the way the OS would
    /// (loopback: an HTTP request; deep link and relay: `keyport open-url`).
    pub fn browser_script(&self) -> PathBuf {
        let path = self.root.join("browser.sh");
        if !path.exists() {
            let script = format!(
                r#"#!/bin/sh
# Scripted browser for Keyport's tests.
set -u
bin='{bin}'
loc=$(curl -s -o /dev/null -w '%{{redirect_url}}' "$1")
case "$loc" in
  http://127.0.0.1:*|http://\[::1\]:*) curl -s -o /dev/null "$loc" ;;
  dev.keyport:*) "$bin" open-url "$loc" >/dev/null 2>&1 ;;
  {relay}*) "$bin" open-url "dev.keyport:/oauth/callback?${{loc#*\?}}" >/dev/null 2>&1 ;;
  *) echo "browser: unexpected redirect '$loc'" >&2; exit 1 ;;
esac
"#,
                bin = env!("CARGO_BIN_EXE_keyport"),
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

    /// No token, code or client secret the provider issued appears in the
    /// database, the logs or anything the CLI printed (except `token`).
    pub fn assert_no_secrets_leaked(&self) {
        self.check_secrets(false)
    }

    /// As above, but CLI output is skipped (a test that ran `keyport token`,
    /// whose stdout is the token by design).
    pub fn assert_no_secrets_leaked_except_token_output(&self) {
        self.check_secrets(true)
    }

    fn check_secrets(&self, skip_cli: bool) {
        let secrets = self.provider.issued_secrets();
        assert!(
            !secrets.is_empty(),
            "the provider issued nothing to look for"
        );
        let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in walk(&self.paths.data_dir) {
            haystacks.push((
                entry.display().to_string(),
                std::fs::read(&entry).unwrap_or_default(),
            ));
        }
        for (i, o) in self.outputs.lock().unwrap().iter().enumerate() {
            if skip_cli {
                break;
            }
            haystacks.push((format!("CLI output #{i}"), o.as_bytes().to_vec()));
        }
        for secret in &secrets {
            for (name, bytes) in &haystacks {
                assert!(
                    !contains(bytes, secret.as_bytes()),
                    "a secret the provider issued ({}…) appears in {name}",
                    &secret[..secret.len().min(6)]
                );
            }
        }
    }
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

/// Asserts the stored-state invariants: every connection with secrets has
/// its keyring entry; every other connection has none.
pub fn assert_invariants(env: &Env, kp: &Keyport) {
    let secrets = env.secrets();
    for c in kp.list().unwrap() {
        let tokens = secrets.get_tokens(&c.id).unwrap();
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
    let started = kp
        .initiate(
            "gmail",
            keyport_core::service::ConnectOptions {
                redirect: Some(keyport_core::catalog::RedirectMode::DeepLink),
                ..Default::default()
            },
        )
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
