//! Real mail clients log in to a real IMAP server with what Keyport gives
//! them: Debian's Dovecot with its `oauth2` passdb, checking every token
//! against the fake provider's RFC 7662 introspection endpoint, started on
//! a loopback port with its own configuration and mail folder. Python's
//! `imaplib` (XOAUTH2, from `keyport token --xoauth2`) and curl (XOAUTH2
//! and OAUTHBEARER, from `keyport token`) fetch a message put in the
//! mailbox; once the grant is revoked at the provider the login fails, and
//! Keyport says the connection needs the person.

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
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
                 protocols = imap\n\
                 listen = 127.0.0.1\n\
                 ssl = no\n\
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
            dir,
            owner: (uid.parse().unwrap(), gid.parse().unwrap()),
            _keep: keep,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Dovecot did not listen on {port}: {}",
                dovecot.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dovecot
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
