//! How Google and Microsoft really behave, each behaviour behind a test named
//! after it: the fake provider does what the provider does, and Keyport is
//! checked for what the person then sees.

use std::time::Duration;

use fake_provider::{Config, Endpoint, Fault, TESTING_REFRESH_LIFETIME};
use keyport_core::secrets::MAX_ENTRY_UNITS;
use keyport_core::store::Status;

use crate::common::{connect_as, deep_link, expire_locally, sign_in, stderr, Env};

/// The stored status and error code of a connection.
fn status_and_code(env: &Env, id: &str) -> (Status, Option<String>) {
    let c = env
        .store()
        .with(|db| db.connection(id))
        .unwrap()
        .expect("the connection");
    (c.status, c.last_error_code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_iss_in_the_authorization_response_is_checked() {
    let (env, kp) = Env::ready().await;
    // Google names itself (RFC 9207): the same issuer connects.
    let ok = env.cli(&["connect", "gmail", "--timeout", "30", "--json"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let sent = env.provider.authorize_requests().len();
    assert_eq!(sent, 1);

    // Another server answering (a mix-up): refused before the code is used.
    env.provider.send_iss_as("https://accounts.evil.example");
    env.provider.set_account("bo@firm.example");
    env.provider.reset_counts();
    let out = env.cli(&["connect", "gmail", "--timeout", "30"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("oauth.issuer_mismatch") && err.contains("accounts.evil.example"),
        "{err}"
    );
    assert_eq!(
        env.provider.token_requests("authorization_code"),
        0,
        "the code was redeemed"
    );
    let list = kp.list().unwrap();
    assert_eq!(list.len(), 1, "only the first account: {list:?}");
    assert_eq!(list[0].email.as_deref(), Some("ana@firm.example"));
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_sends_no_iss_and_is_accepted() {
    let (env, _kp) = Env::ready_with(Config {
        authorization_iss: false,
        expand_scope_aliases: true,
        ..Config::default()
    })
    .await;
    let out = env.cli(&["connect", "gmail", "--timeout", "30", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_invalid_rapt_asks_for_a_fresh_sign_in_once() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    env.provider
        .set_fault(Endpoint::Token, Some(Fault::InvalidRapt));
    expire_locally(&env, &c.id);
    env.provider.reset_counts();
    let out = env.cli(&["token", "ana@firm.example"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Your organisation asks you to sign in again"),
        "{}",
        stderr(&out)
    );
    let (status, code) = status_and_code(&env, &c.id);
    assert_eq!(status, Status::NeedsReauth);
    assert_eq!(code.as_deref(), Some("oauth.fresh_sign_in_required"));
    // Never a loop: asking again sends nothing to the provider.
    let again = env.cli(&["token", &c.id]);
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(env.provider.token_requests("refresh_token"), 1);
    // One sign-in heals it.
    env.provider.clear_faults();
    let out = env.cli(&["reconnect", &c.id, "--timeout", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status_and_code(&env, &c.id).0, Status::Active);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_testing_client_refresh_tokens_end_after_7_days() {
    let (env, kp) = Env::ready_with(Config {
        testing_status: true,
        expand_scope_aliases: true,
        ..Config::default()
    })
    .await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    // A week passes, for the provider and for what Keyport stored.
    env.provider
        .advance_clock(TESTING_REFRESH_LIFETIME + Duration::from_secs(60));
    let week = TESTING_REFRESH_LIFETIME.as_secs() as i64 + 60;
    let mut t = env.secrets().get_tokens(&c.id).unwrap().unwrap();
    t.signed_in_at = t.signed_in_at.map(|at| at - week);
    t.obtained_at -= week;
    t.expires_at = Some(0);
    env.secrets().set_tokens(&c.id, &t).unwrap();

    let err = kp.access_token(&c.id).await.unwrap_err();
    assert_eq!(err.code(), "connection.needs_reauth");
    assert!(err.to_string().contains("\"Testing\" status"), "{err}");
    let (status, code) = status_and_code(&env, &c.id);
    assert_eq!(status, Status::NeedsReauth);
    assert_eq!(code.as_deref(), Some("oauth.testing_client_expired"));

    // A refresh that worked after day 7 rules Testing out: a plain refusal.
    let d = connect_as(&env, &kp, "bo@firm.example").await;
    let mut t = env.secrets().get_tokens(&d.id).unwrap().unwrap();
    t.signed_in_at = t.signed_in_at.map(|at| at - 9 * 24 * 3600);
    t.expires_at = Some(0);
    env.secrets().set_tokens(&d.id, &t).unwrap();
    env.provider.revoke_all_for("bo@firm.example");
    kp.access_token(&d.id).await.unwrap_err();
    assert_eq!(
        status_and_code(&env, &d.id).1.as_deref(),
        Some("oauth.invalid_grant")
    );
    env.assert_no_secrets_leaked();
}

/// A Microsoft-like provider: refresh tokens only with `offline_access`,
/// rotated on every use with the old one left valid, no `iss` in the
/// authorization response, 2.5 KB access tokens; Outlook points at it.
async fn microsoft() -> (Env, keyport_core::service::Keyport) {
    let env = Env::with_config(Config {
        // Shaped like a Microsoft application (client) id.
        client_id: "3f1c2a8e-5b7d-4e2a-9c1f-0a1b2c3d4e5f".into(),
        require_client_secret: false,
        rotate_refresh_tokens: true,
        rotated_out_stays_valid: true,
        revoke_family_on_reuse: false,
        refresh_token_needs_offline_access_scope: true,
        authorization_iss: false,
        access_token_chars: 2500,
        ..Config::default()
    });
    let base = env.provider.base_url();
    env.write_catalog(&format!(
        r#"
[[integration]]
id = "outlook"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
userinfo_url = "{base}/userinfo"
check_url = "{base}/userinfo"
api_origins = ["{base}"]
"#
    ));
    let kp = env.keyport();
    kp.set_client("microsoft", &env.provider.client_id(), None)
        .await
        .unwrap();
    env.confirm_catalog(&kp);
    (env, kp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_sized_tokens_fit_the_windows_keyring_limit() {
    let (env, _kp) = microsoft().await;
    let out = env.cli(&["connect", "outlook", "--timeout", "30", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = c["id"].as_str().unwrap();
    // Every keyring entry Keyport wrote fits Windows Credential Manager.
    let secrets = env.secrets();
    let entries = secrets.list().unwrap();
    assert!(entries.len() > 2, "the token set was split: {entries:?}");
    for name in &entries {
        let (kind, rest) = name.split_once(':').unwrap();
        assert_eq!(kind, "connection", "{name}");
        let key = match rest.split_once('#') {
            None => keyport_core::secrets::SecretKey::Connection(rest.into()),
            Some((conn, part)) => {
                let (generation, index) = part.split_once('.').unwrap();
                keyport_core::secrets::SecretKey::TokenPart {
                    connection: conn.into(),
                    generation: generation.into(),
                    index: index.parse().unwrap(),
                }
            }
        };
        let value = secrets.get(&key).unwrap().unwrap();
        let units = value.expose().encode_utf16().count();
        assert!(units <= MAX_ENTRY_UNITS, "{name}: {units} UTF-16 units");
    }
    // The whole 2.5 KB token comes back and works.
    let token = env.cli(&["token", id]);
    assert!(token.status.success(), "{}", stderr(&token));
    let token = String::from_utf8(token.stdout).unwrap();
    assert_eq!(token.trim_end().len(), 2500);
    assert!(env.provider.access_token_valid(token.trim_end()));
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_rotation_keeps_the_newest_refresh_token() {
    let (env, kp) = microsoft().await;
    let c = sign_in(&env, &kp, "outlook").await;
    let first = env.secrets().get_tokens(&c.id).unwrap().unwrap();
    for _ in 0..3 {
        expire_locally(&env, &c.id);
        kp.access_token(&c.id).await.unwrap();
    }
    let now = env.secrets().get_tokens(&c.id).unwrap().unwrap();
    assert_ne!(now.refresh_token, first.refresh_token, "not rotated");
    assert_eq!(env.provider.token_requests("refresh_token"), 3);
    // Microsoft leaves the old one valid, and Keyport never goes back to it:
    // the newest works.
    expire_locally(&env, &c.id);
    kp.access_token(&c.id).await.unwrap();
    assert_eq!(status_and_code(&env, &c.id).0, Status::Active);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_aadsts_errors_each_have_their_own_reason() {
    let (env, kp) = microsoft().await;
    let cases = [
        (700082, "oauth.expired_unused", "unused for too long"),
        (70008, "oauth.expired_unused", "unused for too long"),
        (50173, "oauth.password_changed", "password was changed"),
        (50076, "oauth.mfa_required", "multi-factor"),
        (50079, "oauth.mfa_required", "multi-factor"),
        (90094, "oauth.admin_approval_required", "administrator"),
    ];
    let c = sign_in(&env, &kp, "outlook").await;
    for (aadsts, code, words) in cases {
        env.provider
            .set_fault(Endpoint::Token, Some(Fault::Aadsts(aadsts)));
        expire_locally(&env, &c.id);
        env.provider.reset_counts();
        let out = env.cli(&["token", &c.id]);
        assert_eq!(out.status.code(), Some(3), "{aadsts}: {}", stderr(&out));
        assert!(stderr(&out).contains(words), "{aadsts}: {}", stderr(&out));
        let (status, stored) = status_and_code(&env, &c.id);
        assert_eq!(status, Status::NeedsReauth, "{aadsts}");
        assert_eq!(stored.as_deref(), Some(code), "{aadsts}");
        assert_eq!(env.provider.token_requests("refresh_token"), 1, "{aadsts}");
        // One sign-in heals it; then the next case.
        env.provider.clear_faults();
        let healed = kp.reconnect(&c.id, Default::default()).await.unwrap();
        let link = env.provider.follow_authorize(&healed.auth_url).unwrap();
        kp.handle_deep_link(&link).await.unwrap();
        assert_eq!(status_and_code(&env, &c.id).0, Status::Active, "{aadsts}");
    }
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_unticked_scopes_are_shown_as_missing() {
    let (env, kp) = Env::ready().await;
    env.provider.set_partial_grant(Some(vec![
        "https://www.googleapis.com/auth/gmail.readonly".into()
    ]));
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    assert_eq!(
        c.missing_scopes,
        ["https://www.googleapis.com/auth/gmail.readonly"]
    );
    let list = env.cli(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["last_error_code"], "oauth.scopes_missing");
    assert_eq!(
        list[0]["missing_scopes"][0],
        "https://www.googleapis.com/auth/gmail.readonly"
    );
    // "Grant access" asks for the missing scope on the same account.
    let more = kp.grant_more(&c.id, None, deep_link()).await.unwrap();
    env.provider.set_partial_grant(None);
    let link = env.provider.follow_authorize(&more.auth_url).unwrap();
    let asked = env.provider.authorize_requests().last().cloned().unwrap();
    assert!(asked["scope"].contains("gmail.readonly"), "{asked:?}");
    assert_eq!(asked["login_hint"], "ana@firm.example");
    let healed = kp.handle_deep_link(&link).await.unwrap();
    assert_eq!(healed.id, c.id);
    assert!(healed.missing_scopes.is_empty());
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_proves_a_connection_at_the_provider_without_a_check_url() {
    let env = Env::new();
    let base = env.provider.base_url();
    // One integration with userinfo but no check call, one with neither.
    env.write_catalog(&format!(
        r#"
[[integration]]
id = "acme-userinfo"
name = "Acme (userinfo)"
provider = "google"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
userinfo_url = "{base}/userinfo"
scopes = ["mail.read"]
identity_scopes = ["openid", "email"]
redirect = "deep-link"

[[integration]]
id = "acme-bare"
name = "Acme (bare)"
provider = "google"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
scopes = ["mail.read"]
identity_scopes = ["openid", "email"]
redirect = "deep-link"
"#
    ));
    let kp = env.keyport();
    env.set_google_client(&kp).await;
    for (integration, account) in [
        ("acme-userinfo", "ana@firm.example"),
        ("acme-bare", "bo@firm.example"),
    ] {
        env.provider.set_account(account);
        let out = env.cli(&["connect", integration, "--timeout", "30", "--json"]);
        assert!(out.status.success(), "{integration}: {}", stderr(&out));
        let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = c["id"].as_str().unwrap().to_string();
        let ok = env.cli(&["check", &id]);
        assert!(ok.status.success(), "{integration}: {}", stderr(&ok));

        // The provider stops accepting it: check finds out.
        env.provider.revoke_all_for(account);
        let out = env.cli(&["check", &id]);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{integration}: {}",
            stderr(&out)
        );
        assert_eq!(status_and_code(&env, &id).0, Status::NeedsReauth);
        let token = env.cli(&["token", &id]);
        assert_eq!(token.status.code(), Some(3), "{integration}");
    }
    env.assert_no_secrets_leaked();
}
