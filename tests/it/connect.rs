//! Connecting an account end to end: through the CLI with a scripted
//! browser, in each redirect mode, ending `active` with the right email,
//! granted scopes and a keyring entry.

use crate::common::{assert_invariants, stderr, stdout, Env};
use fake_provider::{Config, Consent};

const READONLY: &str = "https://www.googleapis.com/auth/gmail.readonly";

fn set_client_via_cli(env: &Env) {
    let out = env.cli_stdin(
        &[
            "client",
            "set",
            "google",
            "--client-id",
            &env.provider.client_id(),
            "--client-secret-stdin",
        ],
        &format!("{}\n", env.provider.client_secret()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The test catalog points Gmail at the fake provider: confirm it, as
    // the person who wrote that catalog entry would.
    let trust = env.cli(&["client", "trust", "gmail", "--yes"]);
    assert!(trust.status.success(), "{}", stderr(&trust));
    let list = env.cli(&["client", "list", "--json"]);
    let clients: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(clients[0]["provider"], "google");
    assert_eq!(clients[0]["has_secret"], true);
}

fn connect_via_cli(env: &Env, mode: &str) -> serde_json::Value {
    let out = env.cli(&[
        "connect",
        "gmail",
        "--redirect",
        mode,
        "--timeout",
        "30",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "connect ({mode}) failed: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("connection JSON")
}

fn check_connected(env: &Env, c: &serde_json::Value, mode: &str) {
    assert_eq!(c["status"], "active", "{mode}");
    assert_eq!(c["email"], "ana@firm.example", "{mode}");
    assert_eq!(c["redirect_mode"], mode);
    let granted: Vec<&str> = c["granted_scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(granted.contains(&READONLY), "{granted:?}");
    assert_eq!(c["missing_scopes"], serde_json::json!([]));
    assert_eq!(c["profile"]["messagesTotal"], 1234, "Gmail profile fetched");
    let tokens = env
        .secrets()
        .get_tokens(c["id"].as_str().unwrap())
        .unwrap()
        .expect("keyring entry");
    assert!(tokens.refresh_token.is_some());
    assert!(env
        .provider
        .access_token_valid(tokens.access_token.expose()));
}

#[test]
fn gmail_connects_in_each_redirect_mode() {
    let env = Env::new();
    set_client_via_cli(&env);
    // A different account per mode, so each is a new connection.
    for (mode, account) in [
        ("loopback", "ana@firm.example"),
        ("deep-link", "bo@firm.example"),
        ("relay", "ana@firm.example"),
    ] {
        env.provider.set_account(account);
        let c = connect_via_cli(&env, mode);
        if account == "ana@firm.example" {
            check_connected(&env, &c, mode);
        } else {
            assert_eq!(c["email"], account);
            assert_eq!(c["status"], "active");
        }
        let sent = env.provider.authorize_requests().last().cloned().unwrap();
        assert_eq!(sent["code_challenge_method"], "S256");
        assert_eq!(sent["access_type"], "offline");
        assert!(sent["state"].len() >= 22);
    }
    // The same account connected again updated its connection: two rows.
    let list: serde_json::Value =
        serde_json::from_slice(&env.cli(&["list", "--json"]).stdout).unwrap();
    let list = list.as_array().unwrap();
    let active: Vec<_> = list.iter().filter(|c| c["status"] == "active").collect();
    assert_eq!(active.len(), 2, "ana twice is one connection: {list:#?}");
    let table = stdout(&env.cli(&["list"]));
    assert!(table.contains("ana@firm.example") && table.contains("bo@firm.example"));
    let kp = env.keyport();
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}

#[test]
fn connect_without_client_says_what_to_set() {
    let env = Env::new();
    let out = env.cli(&["connect", "gmail", "--no-browser", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["code"], "integration.not_configured");
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.contains("keyport client set google") && msg.contains("--client-secret-stdin"),
        "{msg}"
    );
    assert!(
        msg.contains("https://developers.google.com/"),
        "links the setup guide: {msg}"
    );
}

#[test]
fn partial_grant_records_missing_scopes() {
    let env = Env::new();
    set_client_via_cli(&env);
    env.provider
        .set_partial_grant(Some(vec![READONLY.to_string()]));
    let c = connect_via_cli(&env, "loopback");
    assert_eq!(c["missing_scopes"], serde_json::json!([READONLY]));
    assert_eq!(c["last_error_code"], "oauth.scopes_missing");
    let out = stdout(&env.cli(&["list"]));
    assert!(out.contains("oauth.scopes_missing"), "{out}");
    env.assert_no_secrets_leaked();
}

#[test]
fn a_custom_oauth2_integration_connects() {
    let env = Env::with_config(Config {
        require_client_secret: false,
        ..Config::default()
    });
    let base = env.provider.base_url();
    env.write_catalog(&format!(
        r#"
[[integration]]
id = "acme-mail"
name = "Acme Mail"
provider = "acme"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
scopes = ["mail.read"]
identity_scopes = ["openid", "email"]
additional_params = {{ audience = "mail" }}
offline_access = true
redirect = "deep-link"
client_id = "{cid}"
"#,
        cid = env.provider.client_id()
    ));
    let out = env.cli(&["connect", "acme-mail", "--timeout", "30", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["status"], "active");
    assert_eq!(c["email"], "ana@firm.example", "identity from the id_token");
    let sent = env.provider.authorize_requests().last().cloned().unwrap();
    assert_eq!(sent["audience"], "mail");
    assert!(sent["scope"].split(' ').any(|s| s == "offline_access"));
    env.assert_no_secrets_leaked();
}

#[test]
fn denied_consent_fails_with_a_sentence() {
    let env = Env::new();
    set_client_via_cli(&env);
    env.provider.set_consent(Consent::Deny);
    let out = env.cli(&[
        "connect",
        "gmail",
        "--redirect",
        "deep-link",
        "--timeout",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("You declined access") && err.contains("oauth.access_denied"),
        "{err}"
    );
    let list: serde_json::Value =
        serde_json::from_slice(&env.cli(&["list", "--json"]).stdout).unwrap();
    // No "Unknown account" row is left behind.
    assert_eq!(list, serde_json::json!([]));
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_choose_the_default_redirect_and_relay_page() {
    use keyport_core::catalog::RedirectMode;
    use keyport_core::service::{ConnectOptions, Settings};
    let (env, kp) = Env::ready().await;
    assert_eq!(kp.settings().unwrap(), Settings::default());
    let bad = kp.set_settings(&Settings {
        default_redirect: None,
        relay_url: Some("http://relay.example/".into()),
        close_to_tray: true,
    });
    assert_eq!(
        bad.unwrap_err().code(),
        "input.invalid",
        "the relay page must be https"
    );

    kp.set_settings(&Settings {
        default_redirect: Some(RedirectMode::DeepLink),
        relay_url: Some("https://relay.example/keyport/".into()),
        close_to_tray: true,
    })
    .unwrap();
    let started = kp
        .initiate("gmail", ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        started.redirect_mode,
        RedirectMode::DeepLink,
        "the default applies"
    );
    let explicit = kp
        .initiate(
            "gmail",
            ConnectOptions {
                redirect: Some(RedirectMode::Loopback),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        explicit.redirect_mode,
        RedirectMode::Loopback,
        "an explicit choice wins"
    );

    // An integration without its own relay page uses the one from Settings.
    let base = env.provider.base_url();
    env.write_catalog(&format!(
        "\n[[integration]]\nid = \"acme\"\nname = \"Acme\"\nprovider = \"google\"\n\
         authorize_url = \"{base}/authorize\"\ntoken_url = \"{base}/token\"\nredirect = \"relay\"\n\
         redirect_modes = [\"relay\"]\n"
    ));
    let kp = env.keyport();
    env.confirm_catalog(&kp);
    let relay = kp
        .initiate("acme", ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        relay.redirect_mode,
        RedirectMode::Relay,
        "deep-link is not allowed for acme"
    );
    assert_eq!(relay.redirect_uri, "https://relay.example/keyport/");
    kp.set_settings(&Settings::default()).unwrap();
    let none = kp
        .initiate("acme", ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(none.to_string().contains("no relay page"), "{none}");
}
