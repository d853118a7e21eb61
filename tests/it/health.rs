//! Keeping connections healthy: refresh without races, failure classes,
//! checks, reconnect, grant more, disconnect with revocation, import.

use std::sync::Arc;

use keyport_core::catalog::RedirectMode;
use keyport_core::service::ConnectOptions;
use keyport_core::store::Status;

use crate::common::{assert_invariants, connect_as, expire_locally, stderr, stdout, Env};
use fake_provider::{Config, Endpoint, Fault};

const READONLY: &str = "https://www.googleapis.com/auth/gmail.readonly";

fn rotating() -> Env {
    Env::with_config(Config {
        rotate_refresh_tokens: true,
        expand_scope_aliases: true,
        ..Config::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refresh_for_four_processes_and_fifty_tasks() {
    let env = rotating();
    let kp = env.keyport();
    env.set_google_client(&kp).await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    expire_locally(&env, &c.id);
    env.provider.reset_counts();
    // A slow token endpoint keeps the first refresh in flight while the
    // processes start, so they really contend for it.
    env.provider.set_fault(
        Endpoint::Token,
        Some(Fault::Slow(std::time::Duration::from_millis(1500))),
    );

    let id = c.id.clone();
    let procs: Vec<_> = (0..4)
        .map(|_| {
            env.command()
                .args(["token", &id])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (kp, id) = (kp.clone(), id.clone());
        tasks.spawn(async move { kp.access_token(&id).await.map(|t| t.expose().to_string()) });
    }
    let mut tokens = Vec::new();
    while let Some(r) = tasks.join_next().await {
        tokens.push(r.unwrap().expect("task token"));
    }
    for p in procs {
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokens.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
    }
    assert_eq!(
        env.provider.token_requests("refresh_token"),
        1,
        "exactly one refresh at the provider"
    );
    assert_eq!(tokens.len(), 54);
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "everyone got the same token"
    );
    assert!(env.provider.access_token_valid(&tokens[0]));
    env.provider.clear_faults();
    // The rotated refresh token was kept: the next refresh works.
    expire_locally(&env, &id);
    let next = kp
        .access_token(&id)
        .await
        .expect("second refresh with the rotated token");
    assert!(env.provider.access_token_valid(next.expose()));
    assert_eq!(env.provider.token_requests("refresh_token"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_at_the_provider_means_needs_reauth_after_one_attempt() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    env.provider.revoke_all_for("ana@firm.example");
    expire_locally(&env, &c.id);
    env.provider.reset_counts();
    let out = env.cli(&["token", "ana@firm.example"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("connection.needs_reauth"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "token prints nothing on failure");
    let again = env.cli(&["token", &c.id]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        env.provider.token_requests("refresh_token"),
        1,
        "no refresh after invalid_grant"
    );
    let row = kp.get(&c.id).unwrap();
    assert_eq!(row.status, Status::NeedsReauth);
    let events = env.store().with(|db| db.events(Some(&c.id), 10)).unwrap();
    assert!(events.iter().any(|e| e.kind == "needs_reauth"
        && e.message
            .as_deref()
            .unwrap_or("")
            .contains("expired or revoked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_rate_limits_never_flip_to_needs_reauth() {
    for fault in [
        Fault::Status(500),
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    ] {
        let (env, kp) = Env::ready().await;
        let c = connect_as(&env, &kp, "ana@firm.example").await;
        expire_locally(&env, &c.id);
        env.provider.set_fault(Endpoint::Token, Some(fault.clone()));
        env.provider.reset_counts();
        for _ in 0..5 {
            let err = kp.access_token(&c.id).await.unwrap_err();
            assert!(
                matches!(
                    err.code(),
                    "provider.error" | "provider.rate_limited" | "provider.cooldown"
                ),
                "{fault:?}: {err}"
            );
        }
        let attempts = env.provider.token_requests("refresh_token");
        assert!(
            (1..=3).contains(&attempts),
            "{fault:?}: a failing provider saw {attempts} attempts"
        );
        let row = kp.get(&c.id).unwrap();
        assert_eq!(row.status, Status::Degraded, "{fault:?}");
        // The provider recovers; after the cooldown the connection heals.
        env.provider.clear_faults();
        env.sql(
            "UPDATE connections SET retry_after = 0 WHERE id = ?1",
            [&c.id],
        );
        kp.access_token(&c.id)
            .await
            .expect("refresh after recovery");
        assert_eq!(kp.get(&c.id).unwrap().status, Status::Active);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_records_health_and_notices_removed_scopes() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    let out = env.cli(&["check", "ana@firm.example", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let checked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checked["status"], "active");
    assert_eq!(checked["last_check_ok"], true);
    assert!(checked["last_checked_at"].as_i64().unwrap() >= c.created_at);
    assert_eq!(
        checked["last_refreshed_at"].as_i64(),
        c.last_refreshed_at,
        "a check that needed no refresh does not count as one (the daily touch)"
    );
    // The person removes Gmail access at Google.
    env.provider
        .remove_granted_scope("ana@firm.example", READONLY);
    expire_locally(&env, &c.id);
    let out = env.cli(&["check", &c.id]);
    assert_eq!(out.status.code(), Some(1));
    let row = kp.get(&c.id).unwrap();
    assert_eq!(row.status, Status::NeedsReauth);
    assert_eq!(row.missing_scopes, [READONLY]);
    assert!(
        stdout(&out).contains("needs_reauth") && stdout(&out).contains(READONLY),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_same_account_restores_and_other_account_is_refused() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    env.provider.revoke_all_for("ana@firm.example");
    expire_locally(&env, &c.id);
    assert!(kp.access_token(&c.id).await.is_err());
    assert_eq!(kp.get(&c.id).unwrap().status, Status::NeedsReauth);

    // Signing in as someone else is refused and changes nothing.
    let before = env.secrets().get_tokens(&c.id).unwrap().unwrap();
    let started = kp
        .reconnect(
            &c.id,
            ConnectOptions {
                redirect: Some(RedirectMode::DeepLink),
                login_hint: Some("bo@firm.example".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let link = env.provider.follow_authorize(&started.auth_url).unwrap();
    let err = kp.handle_deep_link(&link).await.unwrap_err();
    assert_eq!(err.code(), "connection.wrong_account");
    assert_eq!(
        err.to_string(),
        "You signed in as bo@firm.example; this connection is ana@firm.example. Sign in with ana@firm.example to reconnect it."
    );
    let after = env.secrets().get_tokens(&c.id).unwrap().unwrap();
    assert_eq!(
        before.access_token, after.access_token,
        "the old connection is untouched"
    );
    assert_eq!(kp.get(&c.id).unwrap().status, Status::NeedsReauth);
    assert_eq!(
        env.provider.active_grants("bo@firm.example"),
        0,
        "bo's stray tokens were revoked"
    );

    // The same account: back to active, same id.
    let out = env.cli(&[
        "reconnect",
        "ana@firm.example",
        "--redirect",
        "deep-link",
        "--timeout",
        "30",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let back: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(back["id"], c.id.as_str());
    assert_eq!(back["status"], "active");
    assert_eq!(kp.list().unwrap().len(), 1);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_more_adds_the_missing_scopes() {
    let (env, kp) = Env::ready().await;
    env.provider.set_partial_grant(Some(vec![READONLY.into()]));
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    assert_eq!(c.missing_scopes, [READONLY]);
    env.provider.set_partial_grant(None);
    let out = env.cli(&[
        "grant",
        &c.id,
        "--redirect",
        "deep-link",
        "--timeout",
        "30",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(g["id"], c.id.as_str());
    assert_eq!(g["missing_scopes"], serde_json::json!([]));
    assert!(g["granted_scopes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == READONLY));
    let sent = env.provider.authorize_requests().last().cloned().unwrap();
    assert_eq!(sent["include_granted_scopes"], "true");
    // More than before: send access too.
    let send = "https://www.googleapis.com/auth/gmail.send";
    let out = env.cli(&[
        "grant",
        &c.id,
        "--scopes",
        send,
        "--redirect",
        "deep-link",
        "--timeout",
        "30",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let granted: Vec<&str> = g["granted_scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        granted.contains(&send) && granted.contains(&READONLY),
        "{granted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_revokes_and_removes_everything() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    let refresh = env
        .secrets()
        .get_tokens(&c.id)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap();
    let out = env.cli(&["disconnect", "ana@firm.example", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["revocation"], "revoked");
    assert!(env
        .provider
        .revocations()
        .contains(&refresh.expose().to_string()));
    assert!(env.secrets().get_tokens(&c.id).unwrap().is_none());
    assert!(kp.list().unwrap().is_empty());
    let history = env.store().with(|db| db.events(Some(&c.id), 10)).unwrap();
    assert!(history.iter().any(|e| e.kind == "disconnected"));
    assert!(history.iter().any(|e| e.kind == "revoked"));
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_with_the_provider_down_retries_the_revocation_later() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    env.provider
        .set_fault(Endpoint::Revoke, Some(Fault::Status(503)));
    let out = env.cli(&["disconnect", &c.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("will retry"), "{}", stdout(&out));
    assert!(
        kp.list().unwrap().is_empty(),
        "local removal happens at once"
    );
    assert_eq!(env.store().with(|db| db.pending_revocations()).unwrap(), 1);
    assert!(env.provider.revocations().is_empty());
    env.provider.clear_faults();
    env.sql("UPDATE revocations SET next_attempt = 0", []);
    let out = env.cli(&["list"]);
    assert!(out.status.success());
    assert_eq!(
        env.provider.revocations().len(),
        1,
        "revoked once the provider is back"
    );
    assert_eq!(env.store().with(|db| db.pending_revocations()).unwrap(), 0);
    assert!(env.secrets().get_tokens(&c.id).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_proves_the_refresh_token_before_storing() {
    let (env, kp) = Env::ready().await;
    let bad = env.cli_stdin(
        &["import", "gmail", "--refresh-token-stdin", "--json"],
        "1//not-a-real-token\n",
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("oauth.invalid_grant"),
        "{}",
        stderr(&bad)
    );
    assert!(
        kp.list().unwrap().is_empty(),
        "nothing stored for a bad token"
    );

    // A token from a sign-in elsewhere (a second Keyport on the same provider).
    let c = connect_as(&env, &kp, "bo@firm.example").await;
    let refresh = env
        .secrets()
        .get_tokens(&c.id)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap();
    kp.disconnect(&c.id).await.ok();
    let other = connect_as(&env, &kp, "ana@firm.example").await;
    let ana_refresh = env
        .secrets()
        .get_tokens(&other.id)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap();
    let _ = refresh;
    let out = env.cli_stdin(
        &["import", "gmail", "--refresh-token-stdin", "--json"],
        &format!("{}\n", ana_refresh.expose()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let imported: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(imported["email"], "ana@firm.example");
    assert_eq!(
        imported["id"],
        other.id.as_str(),
        "the same account is the same connection"
    );
    assert_eq!(imported["status"], "active");
    let token = env.cli(&["token", "ana@firm.example"]);
    assert!(env.provider.access_token_valid(stdout(&token).trim()));
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked_except_token_output();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_many_runs_with_bounded_concurrency() {
    let (env, kp) = Env::ready().await;
    let a = connect_as(&env, &kp, "ana@firm.example").await;
    let b = connect_as(&env, &kp, "bo@firm.example").await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let n = kp
        .check_many(
            vec![a.id.clone(), b.id.clone()],
            4,
            std::time::Duration::ZERO,
            Arc::new(move |id, r| s2.lock().unwrap().push((id.to_string(), r.is_ok()))),
        )
        .await;
    assert_eq!(n, 2);
    assert!(seen.lock().unwrap().iter().all(|(_, ok)| *ok));
    assert!(kp.get(&a.id).unwrap().last_checked_at.is_some());
}
