//! The real IPC commands, called through Tauri's IPC layer on its mock
//! runtime with the app's compiled context (`tauri.conf.json` and the
//! capability files, as `generate_context!` embeds them):
//! - no secret the provider issued, nor the client secret typed into
//!   Settings, appears in any serialised reply or emitted event;
//! - the compiled capabilities let the UI call nothing but Keyport's own
//!   commands and event listening.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody, Origin};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Listener, WebviewWindow, WebviewWindowBuilder};

use fake_provider::{Config, FakeProvider};
use keyport_core::paths::Paths;
use keyport_core::Keyport;

use crate::shell::{self, AppState, FLOW_EVENT};

fn context() -> tauri::Context<MockRuntime> {
    tauri::generate_context!("tauri.conf.json")
}

/// The app on the mock runtime with Keyport's commands over `kp`, and its
/// main window.
fn mock_app(
    builder: tauri::Builder<MockRuntime>,
    kp: Keyport,
) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let app = builder
        .manage(AppState::new(Ok(kp)))
        .invoke_handler(shell::handler())
        .build(context())
        .expect("the app builds");
    let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    (app, webview)
}

/// Calls one command as the UI would; the serialised reply (or error).
fn call(webview: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().expect("a JSON reply"))
}

/// Waits for the next `keyport://flow` event after `seen` of them.
fn next_event(events: &Mutex<Vec<String>>, seen: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(e) = events.lock().unwrap().get(seen) {
            return serde_json::from_str(e).unwrap();
        }
        assert!(Instant::now() < deadline, "no keyport://flow event");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last characters of each secret, which no JSON, URL or form
/// encoding changes (the secrets end in [A-Za-z0-9_-]).
fn leaked<'a>(secrets: &'a [String], text: &str) -> Option<&'a str> {
    secrets
        .iter()
        .find(|s| {
            let tail = &s[s.len().saturating_sub(24)..];
            text.contains(s.as_str()) || text.contains(tail)
        })
        .map(String::as_str)
}

/// Held by the tests that read or set `$HOME` (the export folder, the
/// autostart entry), so one never sees the other's.
static HOME_LOCK: Mutex<()> = Mutex::new(());

#[test]
fn the_real_commands_reply_without_secrets() {
    let _home = HOME_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    // `$BROWSER` first: `true` takes the URL and does nothing.
    std::env::set_var("BROWSER", "true");
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::at(dir.path().join("data"), dir.path().join("config"))
        .with_policy_dir(dir.path().join("policy"));
    std::fs::create_dir_all(&paths.config_dir).unwrap();
    let provider = FakeProvider::start(Config {
        client_id: "4711-keyport.apps.googleusercontent.com".into(),
        expand_scope_aliases: true,
        ..Config::default()
    });
    let base = provider.base_url();
    std::fs::write(
        paths.user_catalog(),
        format!(
            "[[integration]]\nid = \"gmail\"\nauthorize_url = \"{base}/authorize\"\nissuer = \"{base}\"\n\
             token_url = \"{base}/token\"\nrevocation_url = \"{base}/revoke\"\n\
             userinfo_url = \"{base}/userinfo\"\ncheck_url = \"{base}/gmail/v1/users/me/profile\"\n"
        ),
    )
    .unwrap();
    let kp = Keyport::open(paths).unwrap();
    let (app, webview) = mock_app(
        mock_builder()
            .plugin(tauri_plugin_opener::init())
            .plugin(tauri_plugin_notification::init()),
        kp,
    );
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    app.listen_any(FLOW_EVENT, move |e| {
        sink.lock().unwrap().push(e.payload().to_string())
    });

    let mut replies: Vec<(String, Value)> = Vec::new();
    let mut ok = |cmd: &str, args: Value| -> Value {
        let reply = call(&webview, cmd, args.clone())
            .unwrap_or_else(|e| panic!("{cmd} {args} failed: {e}"));
        replies.push((cmd.to_string(), reply.clone()));
        reply
    };
    // Settings: the client secret is typed in, and imported as Google's JSON.
    ok(
        "set_client",
        json!({"provider": "google", "clientId": provider.client_id(),
               "clientSecret": provider.client_secret()}),
    );
    let google_json = json!({"installed": {"client_id": provider.client_id(),
        "client_secret": provider.client_secret(), "project_id": "keyport-test",
        "redirect_uris": ["http://localhost"]}});
    ok(
        "import_client_json",
        json!({ "json": google_json.to_string() }),
    );
    // The catalog points Gmail at the fake provider: the person confirms it.
    ok("trust_endpoints", json!({"integration": "gmail"}));
    for cmd in [
        "client_sources",
        "list_clients",
        "app_info",
        "list_integrations",
        "get_settings",
        "diagnostics",
        "list_connections",
    ] {
        ok(cmd, json!({}));
    }
    // A whole sign-in; the callback arrives by the shell's deep-link intake.
    let mut sign_in = |cmd: &str, args: Value, n: usize| -> Value {
        let started = ok(cmd, args);
        let link = provider
            .follow_authorize(started["auth_url"].as_str().unwrap())
            .unwrap();
        shell::deep_link(app.handle(), link);
        let event = next_event(&events, n);
        assert!(event["error"].is_null(), "{cmd}: {event}");
        event
    };
    let done = sign_in(
        "start_connect",
        json!({"integration": "gmail", "redirect": "deep-link"}),
        0,
    );
    let id = done["connection"]["id"].as_str().unwrap().to_string();
    let c = json!({ "connectionId": id });
    sign_in(
        "grant_access",
        json!({"connectionId": id, "scopes": ["https://www.googleapis.com/auth/gmail.send"],
               "redirect": "deep-link"}),
        1,
    );
    sign_in(
        "reconnect_connection",
        json!({"connectionId": id, "redirect": "deep-link"}),
        2,
    );
    let started = ok(
        "start_connect",
        json!({"integration": "gmail", "redirect": "deep-link"}),
    );
    let flow = json!({ "flowId": started["flow_id"] });
    ok("open_auth_url", flow.clone());
    ok("cancel_connect", flow);
    ok("check_connection", c.clone());
    ok("connection_events", c.clone());
    ok("connection_usage", c.clone());
    ok(
        "disconnect_plan",
        json!({"connectionId": id, "account": false}),
    );
    ok(
        "rename_connection",
        json!({"connectionId": id, "label": "Work"}),
    );
    let noted = ok(
        "set_connection_note",
        json!({"connectionId": id, "note": "Client: Müller GmbH"}),
    );
    assert_eq!(noted["note"], "Client: Müller GmbH");
    // The export lands in Downloads (the headless session's own home) and
    // its text joins the replies checked for secrets below.
    let mut exported = Vec::new();
    for format in ["csv", "json"] {
        let saved = ok(
            "export_connections",
            json!({ "format": format, "date": "2026-11-28" }),
        );
        let path = saved["path"].as_str().unwrap().to_string();
        assert!(
            path.ends_with(&format!("keyport-connections-2026-11-28.{format}")),
            "{path}"
        );
        assert_eq!(saved["count"], 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("Client: Müller GmbH"), "{text}");
        // Excel reads a CSV as UTF-8 only after a byte order mark.
        assert_eq!(text.starts_with('\u{feff}'), format == "csv", "{format}");
        exported.push((format!("the {format} export"), text));
        std::fs::remove_file(&path).unwrap();
    }
    let sneaky = call(
        &webview,
        "export_connections",
        json!({"format": "csv", "date": "../../.bashrc"}),
    )
    .unwrap_err();
    assert_eq!(sneaky["code"], "input.invalid", "{sneaky}");
    let refused = call(&webview, "reveal_export", json!({"path": "/etc/passwd"})).unwrap_err();
    assert_eq!(refused["code"], "input.invalid", "{refused}");
    ok("list_connections", json!({}));
    ok("list_clients", json!({}));
    ok("disconnect_connection", c);
    ok("remove_client", json!({"provider": "google"}));

    let secrets = provider.issued_secrets();
    assert!(
        secrets.iter().any(|s| s.starts_with("1//")),
        "the provider issued refresh tokens: {} secrets",
        secrets.len()
    );
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 3, "one flow event per sign-in");
    let all = replies
        .iter()
        .map(|(cmd, r)| (format!("the reply of {cmd}"), r.to_string()))
        .chain(
            events
                .iter()
                .map(|e| ("a keyport://flow event".to_string(), e.clone())),
        )
        .chain(exported);
    for (what, text) in all {
        if let Some(secret) = leaked(&secrets, &text) {
            panic!("a secret ({}…) appears in {what}: {text}", &secret[..6]);
        }
    }
}

/// The Settings view's two switches through the real commands: "Keep
/// Keyport running in the background" is saved with the other settings
/// (on by default, off kept across a reopen of the core), and "Start
/// Keyport when I log in" writes and removes the system's autostart entry
/// (Linux: `$HOME/.config/autostart/Keyport.desktop`, starting in the
/// background), answering what it reads back.
#[test]
fn the_background_switches_are_saved_and_read_back() {
    let _home = HOME_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // The autostart entry goes under $HOME: a throw-away one, for this test only.
    let home = std::env::var_os("HOME");
    std::env::set_var("HOME", dir.path());
    struct RestoreHome(Option<std::ffi::OsString>);
    impl Drop for RestoreHome {
        fn drop(&mut self) {
            match self.0.take() {
                Some(h) => std::env::set_var("HOME", h),
                None => std::env::remove_var("HOME"),
            }
        }
    }
    let _restore = RestoreHome(home);
    let paths = Paths::at(dir.path().join("data"), dir.path().join("config"))
        .with_policy_dir(dir.path().join("policy"));
    let (_app, webview) = mock_app(
        mock_builder().plugin(
            tauri_plugin_autostart::Builder::new()
                .arg(shell::BACKGROUND_ARG)
                .build(),
        ),
        Keyport::open(paths.clone()).unwrap(),
    );
    let ok = |cmd: &str, args: Value| -> Value {
        call(&webview, cmd, args.clone()).unwrap_or_else(|e| panic!("{cmd} {args} failed: {e}"))
    };

    let fresh = ok("get_settings", json!({}));
    assert_eq!(
        fresh,
        json!({"default_redirect": null, "relay_url": null, "close_to_tray": true})
    );
    let saved = ok(
        "set_settings",
        json!({"settings": {"default_redirect": "loopback", "relay_url": null, "close_to_tray": false}}),
    );
    assert_eq!(saved["close_to_tray"], false);
    assert_eq!(saved["default_redirect"], "loopback");
    assert_eq!(ok("get_settings", json!({})), saved);
    // What another process (the next start) reads.
    assert!(
        !Keyport::open(paths)
            .unwrap()
            .settings()
            .unwrap()
            .close_to_tray
    );
    // The field is required: a caller that leaves it out changes nothing.
    let missing = call(
        &webview,
        "set_settings",
        json!({"settings": {"default_redirect": null, "relay_url": null}}),
    );
    assert!(missing.is_err(), "{missing:?}");
    assert_eq!(ok("get_settings", json!({})), saved);

    let entry = dir.path().join(".config/autostart/Keyport.desktop");
    assert_eq!(ok("autostart_enabled", json!({})), false);
    assert!(!entry.exists());
    assert_eq!(ok("set_autostart", json!({"enabled": true})), true);
    let desktop = std::fs::read_to_string(&entry).expect("the autostart entry");
    let exec = desktop
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .expect("an Exec line");
    let exe = std::env::current_exe().unwrap();
    assert_eq!(
        exec.trim(),
        format!("{} {}", exe.display(), shell::BACKGROUND_ARG),
        "the login start is a background one"
    );
    assert_eq!(ok("autostart_enabled", json!({})), true);
    // The state is the system's: removed behind Keyport's back, it says so.
    std::fs::remove_file(&entry).unwrap();
    assert_eq!(ok("autostart_enabled", json!({})), false);
    assert_eq!(ok("set_autostart", json!({"enabled": true})), true);
    assert_eq!(ok("set_autostart", json!({"enabled": false})), false);
    assert!(!entry.exists());
    assert_eq!(
        ok("set_autostart", json!({"enabled": false})),
        false,
        "twice is fine"
    );
}

/// Every command the compiled ACL knows (each plugin's permissions and the
/// app's own in `gen/schemas/acl-manifests.json`, which tauri-build writes)
/// is asked of the compiled runtime authority: the main window may call
/// only these plugin commands and the app commands `ui/src/lib/api.ts` calls.
const UI_MAY_CALL: &[&str] = &["plugin:event|listen", "plugin:event|unlisten"];

/// The commands `ui/src/lib/api.ts` calls (`call('name'` / `call<T>('name'`).
fn api_calls() -> Vec<String> {
    let api =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/lib/api.ts")).unwrap();
    let mut called: Vec<String> = api
        .split("call")
        .filter_map(|rest| rest.split_once("('").map(|(_, r)| r))
        .filter_map(|r| r.split_once('\'').map(|(name, _)| name.to_string()))
        .filter(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    called.sort();
    called.dedup();
    assert!(called.len() > 15, "{called:?}");
    called
}

#[test]
fn the_compiled_capabilities_match_the_allow_list() {
    let mut ctx = context();
    let authority = ctx.runtime_authority_mut();
    let manifests: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/gen/schemas/acl-manifests.json"
        ))
        .expect("tauri-build wrote the ACL manifests"),
    )
    .unwrap();
    let mut commands = Vec::new();
    for (plugin, manifest) in manifests.as_object().unwrap() {
        let name = plugin.strip_prefix("core:").unwrap_or(plugin);
        for permission in manifest["permissions"].as_object().unwrap().values() {
            for list in ["allow", "deny"] {
                for cmd in permission["commands"][list].as_array().unwrap() {
                    let cmd = cmd.as_str().unwrap();
                    commands.push(match name {
                        // Keyport's own commands (permissions/commands.toml).
                        "__app-acl__" => cmd.to_string(),
                        _ => format!("plugin:{name}|{cmd}"),
                    });
                }
            }
        }
    }
    commands.sort();
    commands.dedup();
    assert!(
        commands.len() > 50 && commands.iter().any(|c| c == "plugin:opener|open_url"),
        "the manifests list the plugins' commands: {commands:?}"
    );
    let remote = Origin::Remote {
        url: "https://evil.example/".parse().unwrap(),
    };
    let mut allowed = Vec::new();
    for cmd in &commands {
        for (window, origin) in [
            ("main", &Origin::Local),
            ("main", &remote),
            ("other", &Origin::Local),
        ] {
            if authority
                .resolve_access(cmd, window, window, origin)
                .is_some()
            {
                allowed.push(format!("{cmd} ({window}, {origin})"));
            }
        }
    }
    let mut want: Vec<String> = UI_MAY_CALL
        .iter()
        .map(|c| c.to_string())
        .chain(api_calls())
        .collect();
    want.sort();
    let want: Vec<String> = want.iter().map(|c| format!("{c} (main, local)")).collect();
    allowed.sort();
    assert_eq!(
        allowed, want,
        "the compiled capabilities changed: review them and update this allow-list"
    );
}
