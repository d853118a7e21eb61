//! The local attack paths: another user on the same machine, a planted
//! catalog entry, callbacks on the wrong channel, a shared data folder,
//! verbose logging, idle connections, stray child processes.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use keyport_core::catalog::RedirectMode;
use keyport_core::service::{ConnectOptions, Keyport, SignIn};
use keyport_core::store::FlowStatus;

use crate::common::{stderr, stdout, Env};
use fake_provider::{Config, Endpoint, FakeProvider};

async fn loopback_sign_in(kp: &Keyport) -> SignIn {
    kp.initiate(
        "gmail",
        ConnectOptions {
            redirect: Some(RedirectMode::Loopback),
            ..Default::default()
        },
    )
    .await
    .expect("initiate")
}

fn wait_in_background(
    kp: &Keyport,
    sign_in: SignIn,
) -> tokio::task::JoinHandle<keyport_core::Result<keyport_core::store::Connection>> {
    let kp = kp.clone();
    tokio::spawn(async move {
        kp.await_flow(
            sign_in,
            Duration::from_secs(20),
            Arc::new(tokio::sync::Notify::new()),
        )
        .await
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_callback_from_another_local_user_is_refused_and_the_real_one_completes() {
    assert!(
        is_root(),
        "this test sends a callback as another user (setpriv): run the suite as root, as `make test` in CI does"
    );
    let (env, kp) = Env::ready().await;
    let sign_in = loopback_sign_in(&kp).await;
    let link = env.provider.follow_authorize(&sign_in.auth_url).unwrap();
    let flow_id = sign_in.flow_id.clone();
    let waiting = wait_in_background(&kp, sign_in);

    // Another user (nobody) who read the URL delivers the code first.
    let other = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &link,
        ])
        .output()
        .expect("run curl as nobody");
    assert_eq!(
        String::from_utf8_lossy(&other.stdout),
        "403",
        "another user's callback is refused: {}",
        String::from_utf8_lossy(&other.stderr)
    );
    let flow = env.store().with(|db| db.flow(&flow_id)).unwrap().unwrap();
    assert_eq!(flow.status, FlowStatus::Pending, "the flow goes on");
    assert!(!waiting.is_finished());

    // The person's own browser then completes it.
    let own = reqwest::get(&link).await.unwrap();
    assert_eq!(own.status(), 200);
    let c = waiting.await.unwrap().expect("the real callback completes");
    assert_eq!(c.email.as_deref(), Some("ana@firm.example"));
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_idle_local_connections_do_not_starve_the_callback() {
    let (env, kp) = Env::ready().await;
    let sign_in = loopback_sign_in(&kp).await;
    let link = env.provider.follow_authorize(&sign_in.auth_url).unwrap();
    let port = sign_in.loopback_addrs()[0].port();
    let waiting = wait_in_background(&kp, sign_in);
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    let started = std::time::Instant::now();
    let reply = reqwest::Client::new()
        .get(&link)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the callback is answered while 20 connections sit idle");
    assert_eq!(reply.status(), 200);
    waiting.await.unwrap().expect("connected");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "served in {:?}",
        started.elapsed()
    );
    drop(idle);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_link_carrying_a_loopback_flows_state_is_refused_before_claiming_it() {
    let (env, kp) = Env::ready().await;
    let sign_in = loopback_sign_in(&kp).await;
    let link = env.provider.follow_authorize(&sign_in.auth_url).unwrap();
    let query = link.split_once('?').unwrap().1.to_string();
    let flow_id = sign_in.flow_id.clone();
    let waiting = wait_in_background(&kp, sign_in);

    let forged = format!("dev.keyport:/oauth/callback?{query}");
    let err = kp.handle_deep_link(&forged).await.unwrap_err();
    assert_eq!(err.code(), "oauth.wrong_channel", "{err}");
    let flow = env.store().with(|db| db.flow(&flow_id)).unwrap().unwrap();
    assert_eq!(flow.status, FlowStatus::Pending, "nothing was claimed");
    assert_eq!(
        env.provider.token_requests("authorization_code"),
        0,
        "no code was redeemed"
    );

    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);
    waiting
        .await
        .unwrap()
        .expect("the loopback callback still completes");
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_and_grant_keep_to_the_integrations_redirect_modes() {
    let (env, kp) = Env::ready().await;
    let c = crate::common::connect_as(&env, &kp, "ana@firm.example").await;
    env.write_catalog("redirect = \"deep-link\"\nredirect_modes = [\"deep-link\"]\n");
    let kp = env.keyport();
    let loopback = ConnectOptions {
        redirect: Some(RedirectMode::Loopback),
        ..Default::default()
    };
    let err = kp.reconnect(&c.id, loopback.clone()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not allow the loopback redirect"),
        "{err}"
    );
    let err = kp.grant_more(&c.id, None, loopback).await.unwrap_err();
    assert_eq!(err.code(), "input.invalid");
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_entry_pointing_elsewhere_gets_no_client_until_the_person_confirms_it() {
    let env = Env::new();
    let kp = env.keyport();
    // The client is saved as a person does; the catalog already points
    // Gmail at another server (the fake provider on 127.0.0.1).
    kp.set_client(
        "google",
        &env.provider.client_id(),
        Some(keyport_core::secrets::Secret::new(
            env.provider.client_secret(),
        )),
    )
    .await
    .unwrap();
    let err = kp
        .initiate("gmail", ConnectOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "integration.untrusted_endpoints", "{err}");
    let origin = env.provider.base_url();
    assert!(err.to_string().contains(&origin), "{err}");
    assert_eq!(err.to_json()["detail"]["origins"][0], origin);
    assert_eq!(env.provider.requests(Endpoint::Token), 0);

    // `keyport integrations` says so plainly.
    let table = stdout(&env.cli(&["integrations"]));
    let gmail = table.lines().find(|l| l.starts_with("gmail ")).unwrap();
    assert!(gmail.contains("overridden by your catalog file"), "{gmail}");
    assert!(gmail.contains("keyport client trust gmail"), "{gmail}");
    let json: serde_json::Value =
        serde_json::from_slice(&env.cli(&["integrations", "--json"]).stdout).unwrap();
    let entry = json
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "gmail")
        .unwrap();
    assert_eq!(entry["overridden"], true);
    assert_eq!(entry["unconfirmed_origins"][0], origin);

    // Without a terminal the CLI wants --yes; with it the person confirms.
    let refused = env.cli(&["client", "trust", "gmail"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let ok = env.cli(&["client", "trust", "gmail", "--yes"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let c = crate::common::connect_as(&env, &kp, "ana@firm.example").await;
    assert_eq!(c.email.as_deref(), Some("ana@firm.example"));

    // A later edit sends the access token to yet another server on every
    // check: refused until confirmed again, and nothing is sent there.
    let elsewhere = FakeProvider::start(Config::default());
    let text = std::fs::read_to_string(env.paths.user_catalog()).unwrap();
    let moved = text
        .lines()
        .map(|l| {
            if l.starts_with("check_url") {
                format!(
                    "check_url = \"{}/gmail/v1/users/me/profile\"",
                    elsewhere.base_url()
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(env.paths.user_catalog(), moved).unwrap();
    let kp = env.keyport();
    let err = kp.check(&c.id).await.unwrap_err();
    assert_eq!(err.code(), "integration.untrusted_endpoints", "{err}");
    assert_eq!(elsewhere.requests(Endpoint::GmailProfile), 0);
    env.assert_no_secrets_leaked();
}

#[test]
fn a_custom_entry_naming_a_stored_clients_provider_cannot_take_its_secret() {
    let env = Env::new();
    let thief = FakeProvider::start(Config::default());
    env.write_catalog(&format!(
        "\n[[integration]]\nid = \"look-alike\"\nname = \"Look-alike\"\nprovider = \"google\"\n\
         authorize_url = \"https://accounts.google.com/o/oauth2/v2/auth\"\n\
         token_url = \"{}/token\"\nredirect = \"deep-link\"\n",
        thief.base_url()
    ));
    let set = env.cli_stdin(
        &[
            "client",
            "set",
            "google",
            "--client-id",
            "1-x.apps.googleusercontent.com",
            "--client-secret-stdin",
        ],
        "not-for-thieves\n",
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let out = env.cli(&["connect", "look-alike", "--no-browser", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["code"], "integration.untrusted_endpoints");
    assert_eq!(thief.requests(Endpoint::Token), 0);
    let table = stdout(&env.cli(&["integrations"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("look-alike") && l.contains("custom")),
        "{table}"
    );
}

#[test]
fn a_catalog_file_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let file = env.paths.user_catalog();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = env.cli(&["integrations", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["code"], "catalog.unsafe_permissions");
    assert!(
        err["message"].as_str().unwrap().contains("chmod go-w"),
        "{err}"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(env.cli(&["integrations"]).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_removes_only_keyports_files_and_refuses_a_relative_folder() {
    let (env, kp) = Env::ready().await;
    crate::common::connect_as(&env, &kp, "ana@firm.example").await;
    // The person pointed KEYPORT_DATA_DIR at a folder with other files.
    let notes = env.paths.data_dir.join("notes.txt");
    std::fs::write(&notes, "mine").unwrap();
    std::fs::create_dir_all(env.paths.data_dir.join("photos")).unwrap();
    std::fs::write(env.paths.data_dir.join("photos/a.jpg"), "jpg").unwrap();

    let relative = env
        .command()
        .env("KEYPORT_DATA_DIR", ".")
        .args(["reset", "--yes"])
        .output()
        .unwrap();
    assert_eq!(relative.status.code(), Some(1));
    assert!(
        stderr(&relative).contains("must be an absolute path"),
        "{}",
        stderr(&relative)
    );

    let out = env.cli(&["reset", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
    assert!(env.paths.data_dir.join("photos/a.jpg").exists());
    for own in env.paths.own_files() {
        assert!(!own.exists(), "{} is still there", own.display());
    }
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_verbose_log_holds_no_secret_and_no_other_crates_lines() {
    let (env, kp) = Env::ready().await;
    let connect = env.run(env.command().env("KEYPORT_LOG", "trace").args([
        "connect",
        "gmail",
        "--timeout",
        "30",
        "--json",
    ]));
    assert!(connect.status.success(), "{}", stderr(&connect));
    let c: serde_json::Value = serde_json::from_slice(&connect.stdout).unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    crate::common::expire_locally(&env, &id);
    let token = env
        .command()
        .env("KEYPORT_LOG", "trace")
        .args(["token", &id])
        .output()
        .unwrap();
    assert!(token.status.success(), "{}", stderr(&token));
    assert!(env.provider.token_requests("refresh_token") >= 1);
    drop(kp);

    let log = std::fs::read_to_string(env.paths.log_file()).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log is at its most verbose"
    );
    // Lines start with their time; a message may continue on the next line.
    for line in log
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
    {
        let target = line
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .trim_end_matches(':');
        assert!(
            target.starts_with("keyport"),
            "a line from another crate: {line}"
        );
    }
    for secret in env.provider.issued_secrets() {
        for form in [
            secret.clone(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
            serde_json::to_string(&secret)
                .unwrap()
                .trim_matches('"')
                .to_string(),
        ] {
            assert!(
                !log.contains(&form),
                "a secret ({}…) is in the log",
                &secret[..6.min(secret.len())]
            );
        }
    }
    env.assert_no_secrets_leaked();
}

#[test]
fn browser_children_are_reaped() {
    let pid = std::process::id();
    for _ in 0..6 {
        keyport_core::browser::open_with("true", "https://example.test/")
            .expect("a command")
            .expect("started");
    }
    let zombies = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                // pid (comm) state ppid …
                let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
                let mut f = after.split_whitespace();
                stat.contains("(true)")
                    && f.next() == Some("Z")
                    && f.next() == Some(pid.to_string().as_str())
            })
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while zombies() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(zombies(), 0, "browser children left as zombies");
}

/// A stand-in for xdg-desktop-portal's OpenURI on the test session bus: it
/// records the URI and, like a browser, follows it.
struct Portal {
    opened: std::sync::mpsc::Sender<String>,
}

#[zbus::interface(name = "org.freedesktop.portal.OpenURI")]
impl Portal {
    #[zbus(name = "OpenURI")]
    fn open_uri(
        &self,
        _parent_window: &str,
        uri: &str,
        _options: std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
    ) -> zbus::zvariant::OwnedObjectPath {
        let _ = self.opened.send(uri.to_string());
        zbus::zvariant::ObjectPath::try_from("/org/freedesktop/portal/desktop/request/1/keyport")
            .unwrap()
            .into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_browser_the_url_goes_through_the_desktop_portal_not_a_command_line() {
    let (env, _kp) = Env::ready().await;
    let (opened, received) = std::sync::mpsc::channel();
    let _portal = zbus::blocking::connection::Builder::session()
        .unwrap()
        .name("org.freedesktop.portal.Desktop")
        .unwrap()
        .serve_at("/org/freedesktop/portal/desktop", Portal { opened })
        .unwrap()
        .build()
        .expect("the test session bus takes the portal's name");
    let mut cli = env.command();
    cli.env_remove("BROWSER")
        .args([
            "connect",
            "gmail",
            "--redirect",
            "loopback",
            "--timeout",
            "20",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cli.spawn().unwrap();
    let url = tokio::task::spawn_blocking(move || received.recv_timeout(Duration::from_secs(15)))
        .await
        .unwrap()
        .expect("the portal was asked to open the authorization URL");
    assert!(
        url.starts_with(&env.provider.url(Endpoint::Authorize)),
        "{url}"
    );
    // The person's browser consents and returns to the listener.
    let link = env.provider.follow_authorize(&url).unwrap();
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["status"], "active");
    env.assert_no_secrets_leaked();
}
