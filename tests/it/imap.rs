//! Real mail clients log in to a real IMAP server with what Keyport gives
//! them: Debian's Dovecot with its `oauth2` passdb, checking every token
//! against the fake provider's RFC 7662 introspection endpoint, started on
//! a loopback port with its own configuration and mail folder. Python's
//! `imaplib` (XOAUTH2, from `keyport token --xoauth2`) and curl (XOAUTH2
//! and OAUTHBEARER, from `keyport token`) fetch a message put in the
//! mailbox; once the grant is revoked at the provider the login fails, and
//! Keyport says the connection needs the person. Dovecot's submission
//! service takes mail from msmtp (OAUTHBEARER, `passwordeval`) and Python's
//! `smtplib` (XOAUTH2) and relays it to a local sink; mbsync (XOAUTH2
//! through Cyrus SASL, `PassCmd`) copies the mailbox to a Maildir, and
//! neomutt (`imap_oauth_refresh_command`, over STARTTLS) opens it — each
//! with the lines docs/BROKER.md gives, Dovecot's host and ports for Gmail's.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyport_core::store::Status;

use crate::common::{connect_as, stderr, stdout, Env};

const SUBJECT: &str = "Invoice 2026-117 from Acme";

/// A Dovecot of this test's own: config, runtime and mail under `dir`, a
/// folder its unprivileged processes can reach (the test's own folder is
/// private to this user).
struct Dovecot {
    child: Child,
    port: u16,
    /// The submission (SMTP) port.
    submission: u16,
    /// The relay Dovecot's submission service hands mail to: a Python SMTP
    /// sink appending every message to `relayed`.
    relay: Child,
    dir: PathBuf,
    /// Who owns the mail: uid, gid.
    owner: (u32, u32),
    _keep: tempfile::TempDir,
}

impl Dovecot {
    fn start(env: &Env) -> Dovecot {
        let keep = tempfile::Builder::new()
            .prefix("keyport-dovecot-")
            .tempdir()
            .unwrap();
        let dir = keep.path().to_path_buf();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let [port, submission, relay_port] = free_ports();
        let relay = Command::new("python3")
            .arg("-c")
            .arg(RELAY_SINK)
            .arg(relay_port.to_string())
            .arg(dir.join("relayed.eml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        // Dovecot's login and internal processes never run as root: as
        // root, the users Debian's package made; else this user.
        // Mail is never read as root either: as the `dovecot` user then.
        let (internal, login, mail) = if id(&["-u"]) == "0" {
            (
                "dovecot".to_string(),
                "dovenull".to_string(),
                "dovecot".to_string(),
            )
        } else {
            let me = id(&["-un"]);
            (me.clone(), me.clone(), me)
        };
        let (uid, gid) = (id(&["-u", &mail]), id(&["-g", &mail]));
        let base = env.provider.base_url();
        let d = dir.display();
        // A certificate for STARTTLS (neomutt sends a token only over TLS).
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .expect("openssl");
        assert!(made.status.success(), "openssl: {}", stderr(&made));
        std::fs::write(
            dir.join("oauth2.conf.ext"),
            format!(
                "introspection_mode = post\n\
                 introspection_url = {base}/introspect\n\
                 username_attribute = username\n\
                 active_attribute = active\n\
                 active_value = true\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("dovecot.conf"),
            format!(
                "base_dir = {d}/run\n\
                 state_dir = {d}/state\n\
                 log_path = {d}/dovecot.log\n\
                 protocols = imap submission\n\
                 hostname = keyport-test.localhost\n\
                 submission_relay_host = 127.0.0.1\n\
                 submission_relay_port = {relay_port}\n\
                 submission_relay_trusted = yes\n\
                 listen = 127.0.0.1\n\
                 ssl = yes\n\
                 ssl_cert = <{d}/cert.pem\n\
                 ssl_key = <{d}/key.pem\n\
                 disable_plaintext_auth = no\n\
                 auth_mechanisms = xoauth2 oauthbearer\n\
                 default_internal_user = {internal}\n\
                 default_login_user = {login}\n\
                 first_valid_uid = 0\n\
                 first_valid_gid = 0\n\
                 mail_location = maildir:~/Maildir\n\
                 passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {d}/oauth2.conf.ext\n}}\n\
                 userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/mail/%u\n}}\n\
                 service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
                 service submission-login {{\n  chroot =\n  inet_listener submission {{\n    address = 127.0.0.1\n    port = {submission}\n  }}\n}}\n\
                 service anvil {{\n  chroot =\n}}\n\
                 service imap-login {{\n  chroot =\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/dovecot")
            .args(["-F", "-c"])
            .arg(dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("Dovecot (dovecot-imapd) is installed: scripts/install-deps.sh");
        let dovecot = Dovecot {
            child,
            port,
            submission,
            relay,
            dir,
            owner: (uid.parse().unwrap(), gid.parse().unwrap()),
            _keep: keep,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for listening in [port, submission, relay_port] {
            while std::net::TcpStream::connect(("127.0.0.1", listening)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "nothing listens on {listening}: {}",
                    dovecot.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        dovecot
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    /// Every message the submission service relayed so far.
    fn relayed(&self) -> String {
        std::fs::read_to_string(self.dir.join("relayed.eml")).unwrap_or_default()
    }

    /// The logins Dovecot accepted for `user` by `mechanism`, as it logged them.
    fn logins(&self, user: &str, mechanism: &str) -> usize {
        let needle = format!("Login: user=<{user}>, method={mechanism}");
        self.log().matches(&needle).count()
    }

    /// Puts a message in `user`'s INBOX.
    fn deliver(&self, user: &str, subject: &str) {
        let home = self.dir.join("mail").join(user);
        let maildir = home.join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let message = maildir.join("new").join("1764000000.M1P1.keyport-test");
        std::fs::write(
            &message,
            format!(
                "From: billing@acme.example\r\nTo: {user}\r\nSubject: {subject}\r\n\
                 Date: Fri, 27 Nov 2026 09:00:00 +0000\r\nMessage-ID: <1@acme.example>\r\n\r\n\
                 Please find the invoice attached.\r\n"
            ),
        )
        .unwrap();
        let (uid, gid) = self.owner;
        let mail = self.dir.join("mail");
        for path in [&mail, &home, &maildir, &message]
            .into_iter()
            .cloned()
            .chain(["cur", "new", "tmp"].map(|s| maildir.join(s)))
        {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        for child in [&mut self.child, &mut self.relay] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An SMTP server that keeps what it is given: Dovecot's submission relay.
const RELAY_SINK: &str = r#"
import asyncore, smtpd, sys, warnings
warnings.simplefilter("ignore")
class Sink(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        with open(sys.argv[2], "ab") as out:
            out.write(data + b"\n")
Sink(("127.0.0.1", int(sys.argv[1])), None, decode_data=False)
asyncore.loop()
"#;

/// Three free loopback ports.
fn free_ports() -> [u16; 3] {
    let held: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    [ports[0], ports[1], ports[2]]
}

fn id(args: &[&str]) -> String {
    let out = Command::new("id").args(args).output().unwrap();
    assert!(out.status.success(), "id {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// Python's imaplib logs in with `keyport token --xoauth2` (run by the
/// script, as a mail tool would) and prints the first message's subject.
fn python_fetch(env: &Env, port: u16, account: &str) -> Output {
    let script = r#"
import base64, imaplib, subprocess, sys
keyport, port, account = sys.argv[1], int(sys.argv[2]), sys.argv[3]
raw = subprocess.run([keyport, "token", account, "--xoauth2"],
                     capture_output=True, check=True).stdout.strip()
imap = imaplib.IMAP4("127.0.0.1", port)
imap.authenticate("XOAUTH2", lambda _: base64.b64decode(raw))
imap.select("INBOX", readonly=True)
typ, data = imap.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print(data[0][1].decode().strip())
imap.logout()
"#;
    let out = env
        .command_of("python3")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_keyport"))
        .arg(port.to_string())
        .arg(account)
        .output()
        .unwrap();
    env.record(&out, false);
    out
}

/// curl fetches the first message's subject with a bearer token, by SASL
/// `mechanism` (XOAUTH2 or OAUTHBEARER).
fn curl_fetch(env: &Env, port: u16, account: &str, token: &str, mechanism: &str) -> Output {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .arg(format!(
            "imap://127.0.0.1:{port}/INBOX;MAILINDEX=1;SECTION=HEADER.FIELDS%20(SUBJECT)"
        ))
        .args(["--login-options", &format!("AUTH={mechanism}")])
        .args(["--user", &format!("{account}:")])
        .args(["--oauth2-bearer", token])
        .output()
        .unwrap();
    env.record(&out, false);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_clients_log_in_to_dovecot_with_keyports_tokens_until_the_grant_is_revoked() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    let dovecot = Dovecot::start(&env);
    dovecot.deliver("ana@firm.example", SUBJECT);

    let out = python_fetch(&env, dovecot.port, "ana@firm.example");
    assert!(
        out.status.success(),
        "imaplib: {}\n{}",
        stderr(&out),
        dovecot.log()
    );
    assert_eq!(stdout(&out).trim(), format!("Subject: {SUBJECT}"));

    let token = env.cli(&["token", &c.id]);
    assert!(token.status.success(), "{}", stderr(&token));
    let token = stdout(&token).trim().to_string();
    for mechanism in ["XOAUTH2", "OAUTHBEARER"] {
        let out = curl_fetch(&env, dovecot.port, "ana@firm.example", &token, mechanism);
        assert!(
            out.status.success(),
            "curl {mechanism}: {}\n{}",
            stderr(&out),
            dovecot.log()
        );
        assert!(
            stdout(&out).contains(SUBJECT),
            "curl {mechanism}: {}",
            stdout(&out)
        );
    }
    // Another account's token does not open this mailbox.
    let bo = connect_as(&env, &kp, "bo@firm.example").await;
    let bo_token = kp.access_token(&bo.id).await.unwrap();
    let out = curl_fetch(
        &env,
        dovecot.port,
        "ana@firm.example",
        bo_token.expose(),
        "XOAUTH2",
    );
    // curl's 67: the server refused the login (not a connection failure).
    assert_eq!(out.status.code(), Some(67), "bo's token: {}", stderr(&out));

    // The person removes Keyport's access at Google: logins fail at once,
    // a check finds it, and `keyport token` says the person is needed.
    env.provider.revoke_all_for("ana@firm.example");
    let out = python_fetch(&env, dovecot.port, "ana@firm.example");
    assert!(
        !out.status.success(),
        "imaplib logged in with a revoked grant"
    );
    assert!(
        stderr(&out).contains("AUTHENTICATIONFAILED"),
        "{}",
        stderr(&out)
    );
    let out = curl_fetch(&env, dovecot.port, "ana@firm.example", &token, "XOAUTH2");
    assert_eq!(out.status.code(), Some(67), "revoked: {}", stderr(&out));
    let out = env.cli(&["check", &c.id]);
    assert!(!out.status.success());
    let list = env.cli(&["list", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&stdout(&list)).unwrap();
    let row = list.iter().find(|r| r["id"] == c.id.as_str()).unwrap();
    assert_eq!(row["status"], "needs_reauth", "{row}");
    assert_eq!(kp.get(&c.id).unwrap().status, Status::NeedsReauth);
    assert_eq!(
        env.cli(&["token", &c.id, "--xoauth2"]).status.code(),
        Some(3)
    );
    env.assert_no_secrets_leaked();
}

const KEYPORT: &str = env!("CARGO_BIN_EXE_keyport");

/// Runs a mail program with this test's Keyport and records what it printed.
fn run_client(env: &Env, cmd: &mut Command, what: &str, dovecot: &Dovecot) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    env.record(&out, false);
    assert!(
        out.status.success(),
        "{what}: {}\n{}\n--- dovecot ---\n{}",
        stdout(&out),
        stderr(&out),
        dovecot.log()
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msmtp_smtplib_mbsync_and_neomutt_use_keyport_as_documented() {
    let (env, kp) = Env::ready().await;
    connect_as(&env, &kp, "ana@firm.example").await;
    connect_as(&env, &kp, "bo@firm.example").await;
    let dovecot = Dovecot::start(&env);
    dovecot.deliver("ana@firm.example", SUBJECT);
    dovecot.deliver("bo@firm.example", SUBJECT);
    let dir = dovecot.dir.clone();

    // msmtp sends with OAUTHBEARER; the password is `keyport token`.
    let msmtprc = dir.join("msmtprc");
    std::fs::write(
        &msmtprc,
        format!(
            "account ana\n\
             host 127.0.0.1\n\
             port {port}\n\
             tls off\n\
             auth oauthbearer\n\
             user ana@firm.example\n\
             from ana@firm.example\n\
             passwordeval \"{KEYPORT} token ana@firm.example\"\n\
             account default : ana\n",
            port = dovecot.submission
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &msmtprc,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut msmtp = env.command_of("msmtp");
    msmtp
        .arg("-C")
        .arg(&msmtprc)
        .arg("books@client.example")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = msmtp.spawn().expect("msmtp (scripts/install-deps.sh)");
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"From: ana@firm.example\r\nTo: books@client.example\r\nSubject: Sent by msmtp\r\n\r\nThe invoice.\r\n",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    env.record(&out, false);
    assert!(
        out.status.success(),
        "msmtp: {}\n{}",
        stderr(&out),
        dovecot.log()
    );
    assert!(dovecot.relayed().contains("Subject: Sent by msmtp"));
    assert_eq!(dovecot.logins("ana@firm.example", "OAUTHBEARER"), 1);

    // Python's smtplib sends with XOAUTH2 from `keyport token --xoauth2`.
    let script = r#"
import smtplib, subprocess, sys
keyport, port = sys.argv[1], int(sys.argv[2])
xoauth2 = subprocess.run([keyport, "token", "ana@firm.example", "--xoauth2"],
                         capture_output=True, text=True, check=True).stdout.strip()
smtp = smtplib.SMTP("127.0.0.1", port)
smtp.ehlo()
code, _ = smtp.docmd("AUTH", "XOAUTH2 " + xoauth2)
assert code == 235, code
smtp.sendmail("ana@firm.example", ["books@client.example"],
              "From: ana@firm.example\r\nSubject: Sent by smtplib\r\n\r\nThe invoice.\r\n")
smtp.quit()
"#;
    run_client(
        &env,
        env.command_of("python3")
            .arg("-c")
            .arg(script)
            .arg(KEYPORT)
            .arg(dovecot.submission.to_string()),
        "smtplib",
        &dovecot,
    );
    assert!(dovecot.relayed().contains("Subject: Sent by smtplib"));
    assert_eq!(dovecot.logins("ana@firm.example", "XOAUTH2"), 1);

    // mbsync copies the mailbox with XOAUTH2 (Cyrus SASL's plugin); its
    // password command is `keyport token`.
    let mbsyncrc = dir.join("mbsyncrc");
    let local = dir.join("synced");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        &mbsyncrc,
        format!(
            "IMAPAccount ana\n\
             Host 127.0.0.1\n\
             Port {port}\n\
             User ana@firm.example\n\
             PassCmd \"{KEYPORT} token ana@firm.example\"\n\
             AuthMechs XOAUTH2\n\
             SSLType None\n\
             \n\
             IMAPStore ana-remote\n\
             Account ana\n\
             \n\
             MaildirStore ana-local\n\
             Path {local}/\n\
             Inbox {local}/INBOX\n\
             \n\
             Channel ana\n\
             Far :ana-remote:\n\
             Near :ana-local:\n\
             Patterns INBOX\n\
             Create Near\n\
             Sync Pull\n\
             SyncState *\n",
            port = dovecot.port,
            local = local.display()
        ),
    )
    .unwrap();
    run_client(
        &env,
        env.command_of("mbsync").arg("-c").arg(&mbsyncrc).arg("ana"),
        "mbsync",
        &dovecot,
    );
    let synced: Vec<_> = std::fs::read_dir(local.join("INBOX").join("new"))
        .expect("mbsync made the local INBOX")
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(synced.len(), 1, "{synced:?}");
    assert!(synced[0].contains(SUBJECT), "{}", synced[0]);
    assert_eq!(dovecot.logins("ana@firm.example", "XOAUTH2"), 2);

    // neomutt opens bo's INBOX with OAUTHBEARER from
    // `imap_oauth_refresh_command`, on a terminal (script(1) gives it one),
    // and quits.
    let muttrc = dir.join("neomuttrc");
    std::fs::write(
        &muttrc,
        format!(
            "set imap_user = \"bo@firm.example\"\n\
             set imap_authenticators = \"oauthbearer\"\n\
             set imap_oauth_refresh_command = \"{KEYPORT} token bo@firm.example\"\n\
             set folder = \"imap://127.0.0.1:{port}/\"\n\
             set spoolfile = \"+INBOX\"\n\
             set ssl_starttls = yes\n\
             set ssl_force_tls = yes\n\
             set certificate_file = \"{cert}\"\n\
             set header_cache = \"\"\n\
             set quit = yes\n\
             push <quit>\n",
            port = dovecot.port,
            cert = dir.join("cert.pem").display()
        ),
    )
    .unwrap();
    run_client(
        &env,
        env.command_of("timeout")
            .args(["30", "script", "-qec"])
            .arg(format!(
                "neomutt -n -d 2 -l {} -F {}",
                dir.join("neomutt.log").display(),
                muttrc.display()
            ))
            .arg("/dev/null")
            .env("TERM", "xterm")
            .env("HOME", &dir),
        "neomutt",
        &dovecot,
    );
    assert_eq!(
        dovecot.logins("bo@firm.example", "OAUTHBEARER"),
        1,
        "{}\n--- neomutt ---\n{}",
        dovecot.log(),
        std::fs::read_to_string(dir.join("neomutt.log0")).unwrap_or_default()
    );

    // Every program is in the usage history, by name.
    let log = env.cli(&["log", "--json"]);
    let log: Vec<serde_json::Value> = serde_json::from_slice(&log.stdout).unwrap();
    for program in ["msmtp", "python3", "mbsync", "neomutt"] {
        assert!(
            log.iter().any(|u| u["program"]
                .as_str()
                .is_some_and(|p| p.starts_with(program))),
            "{program} not in the history: {log:?}"
        );
    }
    env.assert_no_secrets_leaked();
}
