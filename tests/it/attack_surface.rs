//! The local attack surface: the loopback listener, deep links with
//! valid-looking but unknown states, and the window's CSP and capabilities.

use std::sync::Arc;
use std::time::Duration;

use keyport_core::catalog::RedirectMode;
use keyport_core::service::ConnectOptions;

use crate::common::Env;

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
    assert!(!addrs.is_empty());
    assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    let port = addrs[0].port();
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
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    // Probes that must not end the flow.
    assert_eq!(
        http.get(format!("{base}/")).send().await.unwrap().status(),
        404
    );
    assert_eq!(
        http.get(format!("{base}/callback/../admin"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http.post(format!("{base}/callback"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let other = http
        .get(format!(
            "{base}/callback?state=AAAAAAAAAAAAAAAAAAAAAA&code=stolen"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 400);
    let page = other.text().await.unwrap();
    assert!(page.contains("does not belong"), "{page}");
    // The real redirect completes it and gets the success page.
    let redirect = env.provider.follow_authorize(&auth_url).unwrap();
    let ok = http.get(&redirect).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["referrer-policy"], "no-referrer");
    assert!(ok
        .text()
        .await
        .unwrap()
        .contains("You can close this tab — Keyport is connected"));
    let connection = serve.await.unwrap().expect("connected");
    assert_eq!(connection.email.as_deref(), Some("ana@firm.example"));
    // Closed afterwards.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(
        after.is_err(),
        "the listener must be closed after the success"
    );
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
