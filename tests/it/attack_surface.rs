//! The local attack surface: the loopback listener, deep links with
//! valid-looking but unknown states, and the window's CSP and capabilities.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use keyport_core::catalog::RedirectMode;
use keyport_core::service::ConnectOptions;

use crate::common::Env;

/// Sends `request` as raw bytes (no client normalises its path) and
/// returns the status code and the whole reply.
async fn raw(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("a reply")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP reply: {reply:?}"));
    (status, reply)
}

fn get(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
}

/// Whether this machine has an IPv6 loopback to listen on.
fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_listens_on_loopback_only_serves_one_success_then_closes() {
    let (env, kp) = Env::ready().await;
    let started = kp
        .initiate(
            "gmail",
            ConnectOptions {
                redirect: Some(RedirectMode::Loopback),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let addrs = started.loopback_addrs();
    assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    let port = addrs[0].port();
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let mut want = vec![v4];
    if ipv6_loopback() {
        want.push(v6);
    }
    assert_eq!(addrs, want, "127.0.0.1 and, where IPv6 exists, [::1]");
    assert!(
        started
            .redirect_uri
            .starts_with(&format!("http://127.0.0.1:{port}/")),
        "never \"localhost\""
    );

    let auth_url = started.auth_url.clone();
    let kp2 = kp.clone();
    let serve = tokio::spawn(async move {
        kp2.await_flow(
            started,
            Duration::from_secs(20),
            Arc::new(tokio::sync::Notify::new()),
        )
        .await
    });
    // Probes that must not end the flow, sent as raw bytes on every listener.
    for &addr in &want {
        for (target, status) in [
            ("/", 404),
            ("/callback/../admin", 404),
            ("/callback/..%2Fadmin", 404),
            (
                "/admin/../callback?state=AAAAAAAAAAAAAAAAAAAAAA&code=x",
                404,
            ),
            ("/%63allback?state=AAAAAAAAAAAAAAAAAAAAAA&code=x", 404),
            ("/callback/?state=AAAAAAAAAAAAAAAAAAAAAA&code=x", 404),
            ("http://evil.example/callback?state=A&code=x", 400),
        ] {
            let (got, reply) = raw(addr, &get(target)).await;
            assert_eq!(got, status, "{addr} GET {target}: {reply}");
        }
        let (got, _) = raw(
            addr,
            "POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert_eq!(got, 400, "{addr}: POST");
        let (got, page) = raw(
            addr,
            &get("/callback?state=AAAAAAAAAAAAAAAAAAAAAA&code=stolen"),
        )
        .await;
        assert_eq!(got, 400, "{addr}: another state");
        assert!(page.contains("does not belong"), "{page}");
    }
    // The real redirect completes it and gets the success page.
    let redirect = env.provider.follow_authorize(&auth_url).unwrap();
    let target = redirect
        .strip_prefix(&format!("http://127.0.0.1:{port}"))
        .unwrap();
    let (got, ok) = raw(v4, &get(target)).await;
    assert_eq!(got, 200);
    assert!(
        ok.to_ascii_lowercase()
            .contains("\r\nreferrer-policy: no-referrer\r\n"),
        "{ok}"
    );
    assert!(ok.contains("You can close this tab — Keyport is connected"));
    let connection = serve.await.unwrap().expect("connected");
    assert_eq!(connection.email.as_deref(), Some("ana@firm.example"));
    // Closed afterwards, on every address: connecting is refused (polled:
    // the listener closes as the flow's task ends).
    for addr in want {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let attempt =
                tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr));
            match attempt.await {
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                other => assert!(
                    std::time::Instant::now() < deadline,
                    "{addr} is still open after the success: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_link_with_an_unknown_state_changes_nothing() {
    let (env, kp) = Env::ready().await;
    let c = crate::common::connect_as(&env, &kp, "ana@firm.example").await;
    let started = kp
        .initiate(
            "gmail",
            ConnectOptions {
                redirect: Some(RedirectMode::DeepLink),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let before_rows = kp.list().unwrap();
    let before_flows = env.store().with(|db| db.flows()).unwrap();
    let before_events = env.store().with(|db| db.events(None, 1000)).unwrap().len();
    let forged = format!(
        "dev.keyport:/oauth/callback?state={}x&code=4%2F0Aforged",
        started.state().expose()
    );
    let err = kp.handle_deep_link(&forged).await.unwrap_err();
    assert_eq!(err.code(), "oauth.state_mismatch");
    assert_eq!(kp.list().unwrap(), before_rows);
    assert_eq!(env.store().with(|db| db.flows()).unwrap(), before_flows);
    assert_eq!(
        env.store().with(|db| db.events(None, 1000)).unwrap().len(),
        before_events
    );
    assert_eq!(
        env.provider.token_requests("authorization_code"),
        1,
        "only the real connect redeemed a code"
    );
    // The real flow still completes.
    let link = env.provider.follow_authorize(&started.auth_url).unwrap();
    assert_eq!(kp.handle_deep_link(&link).await.unwrap().id, c.id);
    env.assert_no_secrets_leaked();
}

fn read_json(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}/{path}", crate::common::REPO)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn csp_and_capabilities_match_the_allow_list() {
    let conf = read_json("tauri.conf.json");
    let csp = conf["app"]["security"]["csp"]
        .as_object()
        .expect("a CSP object");
    let expected = serde_json::json!({
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "ipc: http://ipc.localhost",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'"
    });
    assert_eq!(
        &serde_json::Value::Object(csp.clone()),
        &expected,
        "the CSP changed: review it and update this allow-list"
    );
    assert!(conf["app"]["security"]["dangerousDisableAssetCspModification"].is_null());
    assert_eq!(conf["app"]["security"]["freezePrototype"], true);
    assert_eq!(conf["app"]["withGlobalTauri"], false);

    let caps = read_json("src-tauri/keyport-app/capabilities/default.json");
    assert_eq!(caps["windows"], serde_json::json!(["main"]));
    let perms: Vec<&str> = caps["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let (core, app): (Vec<&str>, Vec<&str>) = perms.iter().partition(|p| p.starts_with("core:"));
    assert_eq!(
        core,
        ["core:event:allow-listen", "core:event:allow-unlisten"],
        "no shell, filesystem or opener for the UI"
    );
    // Exactly the commands the UI calls, each through its own permission.
    let read =
        |path: &str| std::fs::read_to_string(format!("{}/{path}", crate::common::REPO)).unwrap();
    let api = read("ui/src/lib/api.ts");
    let mut called: Vec<String> = api
        .split("call")
        .filter_map(|rest| rest.split_once("('").map(|(_, r)| r))
        .filter_map(|r| r.split_once('\'').map(|(name, _)| name.to_string()))
        .filter(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    called.sort();
    called.dedup();
    assert!(called.len() > 15, "{called:?}");
    let mut granted: Vec<String> = app
        .iter()
        .map(|p| {
            p.strip_prefix("allow-")
                .expect("only allow- permissions")
                .replace('-', "_")
        })
        .collect();
    granted.sort();
    assert_eq!(
        granted, called,
        "the capability grants exactly what api.ts calls"
    );
    let shell = read("src-tauri/keyport-app/src/shell.rs");
    let mut registered: Vec<String> = shell
        .split("commands::")
        .skip(1)
        .filter_map(|r| {
            r.split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .next()
        })
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    registered.sort();
    registered.dedup();
    assert_eq!(
        registered, called,
        "every registered command is one the UI calls"
    );
    let defined = read("src-tauri/keyport-app/permissions/commands.toml");
    for p in &app {
        assert!(
            defined.contains(&format!("identifier = \"{p}\"")),
            "{p} is not defined in permissions/commands.toml"
        );
    }
    assert!(
        caps.get("remote").is_none(),
        "no remote URLs get IPC access"
    );
    let dir = std::fs::read_dir(format!(
        "{}/src-tauri/keyport-app/capabilities",
        crate::common::REPO
    ))
    .unwrap();
    assert_eq!(dir.count(), 1, "one capability file, checked here");
}
