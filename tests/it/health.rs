//! Keeping connections healthy: refresh without races, failure classes,
//! checks, reconnect, grant more, disconnect with revocation, import.

use std::sync::Arc;

use std::time::Duration;

use keyport_core::catalog::RedirectMode;
use keyport_core::service::tokens::Clock;
use keyport_core::service::{ConnectOptions, Keyport};
use keyport_core::store::Status;

use crate::common::{assert_invariants, connect_as, expire_locally, stderr, stdout, Env};
use fake_provider::{Config, Endpoint, Fault};

const READONLY: &str = "https://www.googleapis.com/auth/gmail.readonly";

/// Google as it is strict: a refresh token only with `access_type=offline`
/// and only when consent was shown (first grant, or `prompt=consent`).
fn google_strict() -> Env {
    Env::with_config(Config {
        require_offline_access: true,
        refresh_token_only_on_consent: true,
        expand_scope_aliases: true,
        ..Config::default()
    })
}

/// Refresh tokens the provider has issued so far.
fn refresh_tokens_issued(env: &Env) -> usize {
    env.provider
        .issued_secrets()
        .iter()
        .filter(|s| s.starts_with("1//"))
        .count()
}

/// The user's catalog drops Gmail's `prompt=consent`: a repeat sign-in then
/// gets no refresh token from a Google-strict provider.
fn without_prompt_consent(env: &Env) {
    env.write_catalog("prompt = \"\"\n");
}

/// A reply without a refresh token kept the one Keyport had: the stored
/// refresh token is still `before`, and a refresh with it works.
fn kept_refresh_token(env: &Env, id: &str, before: &str) {
    let now = env.secrets().get_tokens(id).unwrap().unwrap();
    assert_eq!(
        now.refresh_token.as_ref().map(|t| t.expose()),
        Some(before),
        "the refresh token Keyport had is kept"
    );
    expire_locally(env, id);
    let out = env.cli(&["token", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.provider.access_token_valid(stdout(&out).trim()));
}

fn rotating() -> Env {
    Env::with_config(Config {
        rotate_refresh_tokens: true,
        expand_scope_aliases: true,
        ..Config::default()
    })
}

/// Lines in the CLI's log (TRACE) that say a process found the token due
/// for a refresh and is going for the refresh lock.
fn due_lines(env: &Env, id: &str) -> usize {
    std::fs::read_to_string(env.paths.log_file())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("due for a refresh") && l.contains(id))
        .count()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Four `keyport token` processes (with `KEYPORT_DEBUG_NO_REFRESH_LOCK` when
/// `lock` is false) ask for one expired token, plus `tasks` in-process
/// tasks. The provider holds refresh replies until every process has found
/// the token due (its log says so) — so they really overlap — and, without
/// the lock, until all four refreshes are in flight. Returns every token
/// handed out (processes that failed give none).
async fn contend(env: &Env, kp: &Keyport, id: &str, lock: bool, tasks: usize) -> Vec<String> {
    env.provider.reset_counts();
    env.provider.hold_refreshes();
    let procs: Vec<_> = (0..4)
        .map(|_| {
            let mut cmd = env.command();
            cmd.args(["token", id])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            if !lock {
                cmd.env("KEYPORT_DEBUG_NO_REFRESH_LOCK", "1");
            }
            cmd.spawn().unwrap()
        })
        .collect();
    let mut joins = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (kp, id) = (kp.clone(), id.to_string());
        joins.spawn(async move { kp.access_token(&id).await.map(|t| t.expose().to_string()) });
    }
    wait_until("all four processes found the token due", || {
        due_lines(env, id) == 4
    })
    .await;
    let in_flight = if lock { 1 } else { 4 };
    wait_until(&format!("{in_flight} refreshes are in flight"), || {
        env.provider.refreshes_in_flight() >= in_flight
    })
    .await;
    env.provider.release_refreshes();
    let mut tokens = Vec::new();
    while let Some(r) = joins.join_next().await {
        tokens.push(r.unwrap().expect("task token"));
    }
    for p in procs {
        let out = tokio::task::spawn_blocking(move || p.wait_with_output().unwrap())
            .await
            .unwrap();
        env.record(&out, true);
        if lock {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if out.status.success() {
            tokens.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
        }
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refresh_for_four_processes_and_fifty_tasks() {
    let env = rotating();
    let kp = env.keyport();
    env.set_google_client(&kp).await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    expire_locally(&env, &c.id);
    let id = c.id.clone();
    let tokens = contend(&env, &kp, &id, true, 50).await;
    assert_eq!(
        env.provider.token_requests("refresh_token"),
        1,
        "exactly one refresh at the provider"
    );
    assert_eq!(
        env.provider.max_refreshes_in_flight(),
        1,
        "never two refreshes at once"
    );
    assert_eq!(tokens.len(), 54);
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "everyone got the same token"
    );
    assert!(env.provider.access_token_valid(&tokens[0]));
    // The refreshed token expires when the provider said: an hour from now.
    let now = keyport_core::store::now_ms() / 1000;
    let expires = env
        .secrets()
        .get_tokens(&id)
        .unwrap()
        .unwrap()
        .expires_at
        .unwrap();
    assert!(
        (now + 3500..=now + 3600).contains(&expires),
        "expires in {} s",
        expires - now
    );
    // The rotated refresh token was kept: the next refresh works.
    expire_locally(&env, &id);
    let next = kp
        .access_token(&id)
        .await
        .expect("second refresh with the rotated token");
    assert!(env.provider.access_token_valid(next.expose()));
    assert_eq!(env.provider.token_requests("refresh_token"), 2);
    env.assert_no_secrets_leaked();
}

/// The test above fails without the cross-process file lock: the debug-only
/// switch `KEYPORT_DEBUG_NO_REFRESH_LOCK=1` removes it, and the same four
/// processes then refresh four times, all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_file_lock_the_processes_refresh_more_than_once() {
    let env = rotating();
    let kp = env.keyport();
    env.set_google_client(&kp).await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    expire_locally(&env, &c.id);
    contend(&env, &kp, &c.id, false, 0).await;
    let refreshes = env.provider.token_requests("refresh_token");
    assert!(refreshes > 1, "{refreshes} refresh without the lock");
    assert_eq!(env.provider.max_refreshes_in_flight(), 4);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_at_the_provider_means_needs_reauth_after_one_attempt() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    env.provider.revoke_all_for("ana@firm.example");
    expire_locally(&env, &c.id);
    env.provider.reset_counts();
    let out = env.cli(&["token", "ana@firm.example"]);
    // Its own exit code: scripts tell "needs the person" from a failure.
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("connection.needs_reauth"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "token prints nothing on failure");
    let again = env.cli(&["token", &c.id]);
    assert_eq!(again.status.code(), Some(3));
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
    env.assert_no_secrets_leaked();
}

/// 500s and 429s: each refresh makes exactly 3 attempts, then the connection
/// is `degraded` and cools down — 60 s ±10 % after the first failure,
/// doubling after each further one — and no request is sent until the
/// cooldown ends (on an injected clock); it never turns `needs_reauth`, and
/// heals once the provider does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_rate_limits_never_flip_to_needs_reauth() {
    for (fault, rounds) in [
        (Fault::Status(500), 3),
        (
            Fault::RateLimited {
                retry_after_secs: 1,
            },
            1,
        ),
    ] {
        let env = Env::new();
        let clock = Clock::manual();
        let kp = env.keyport().with_clock(clock.clone());
        env.set_google_client(&kp).await;
        let c = connect_as(&env, &kp, "ana@firm.example").await;
        expire_locally(&env, &c.id);
        env.provider.set_fault(Endpoint::Token, Some(fault.clone()));
        env.provider.reset_counts();
        let sent = || env.provider.token_requests("refresh_token");
        for round in 0..rounds {
            let before = sent();
            let err = kp.access_token(&c.id).await.unwrap_err();
            assert!(
                matches!(err.code(), "provider.error" | "provider.rate_limited"),
                "{fault:?} round {round}: {err}"
            );
            assert_eq!(sent() - before, 3, "{fault:?} round {round}: attempts");
            let row = kp.get(&c.id).unwrap();
            assert_eq!(row.status, Status::Degraded, "{fault:?}");
            assert_eq!(row.refresh_failures, round + 1);
            let window = row.retry_after.expect("a cooldown") - clock.now_ms();
            let base = 60_000i64 << round;
            assert!(
                (base * 9 / 10..=base * 11 / 10).contains(&window),
                "{fault:?} round {round}: a cooldown of {window} ms, not {base} ms ±10 %"
            );
            // Until it ends, nothing is sent; the error says how long is left.
            for _ in 0..3 {
                let err = kp.access_token(&c.id).await.unwrap_err();
                assert_eq!(err.code(), "provider.cooldown", "{fault:?}");
                match err {
                    keyport_core::error::Error::CoolingDown { secs, .. } => {
                        assert_eq!(secs, (window / 1000) as u64, "{fault:?}: seconds left")
                    }
                    other => panic!("{other:?}"),
                }
            }
            clock.advance(Duration::from_millis(window as u64 - 1_000));
            let err = kp.access_token(&c.id).await.unwrap_err();
            assert_eq!(err.code(), "provider.cooldown", "{fault:?}: 1 s left");
            assert_eq!(
                sent() - before,
                3,
                "{fault:?}: nothing sent while cooling down"
            );
            clock.advance(Duration::from_millis(1_001));
        }
        // The provider recovers; the cooldown has ended: the connection heals.
        env.provider.clear_faults();
        let before = sent();
        kp.access_token(&c.id)
            .await
            .expect("refresh after recovery");
        assert_eq!(sent() - before, 1);
        let row = kp.get(&c.id).unwrap();
        assert_eq!(row.status, Status::Active);
        assert_eq!((row.refresh_failures, row.retry_after), (0, None));
        env.assert_no_secrets_leaked();
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
    // Access to grant again: the person is needed (exit code 3).
    assert_eq!(out.status.code(), Some(3));
    let row = kp.get(&c.id).unwrap();
    assert_eq!(row.status, Status::NeedsReauth);
    assert_eq!(row.missing_scopes, [READONLY]);
    assert!(
        stdout(&out).contains("needs_reauth") && stdout(&out).contains(READONLY),
        "{}",
        stdout(&out)
    );
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_same_account_restores_and_other_account_is_refused() {
    let env = google_strict();
    let kp = env.keyport();
    env.set_google_client(&kp).await;
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

    // Reconnecting again without prompt=consent: Google sends no refresh
    // token this time, and Keyport keeps the one it has.
    without_prompt_consent(&env);
    let kept = env.secrets().get_tokens(&c.id).unwrap().unwrap();
    let kept = kept.refresh_token.unwrap();
    let issued = refresh_tokens_issued(&env);
    let out = env.cli(&[
        "reconnect",
        &c.id,
        "--redirect",
        "deep-link",
        "--timeout",
        "30",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sent = env.provider.authorize_requests().last().cloned().unwrap();
    assert!(!sent.contains_key("prompt"), "{sent:?}");
    assert_eq!(
        refresh_tokens_issued(&env),
        issued,
        "the provider sent no refresh token"
    );
    kept_refresh_token(&env, &c.id, kept.expose());
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_more_adds_the_missing_scopes() {
    let env = google_strict();
    let kp = env.keyport();
    env.set_google_client(&kp).await;
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

    // Without prompt=consent, Google grants the extra scope but sends no
    // refresh token: Keyport keeps the one it has.
    without_prompt_consent(&env);
    let kept = env.secrets().get_tokens(&c.id).unwrap().unwrap();
    let kept = kept.refresh_token.unwrap();
    let issued = refresh_tokens_issued(&env);
    let labels = "https://www.googleapis.com/auth/gmail.labels";
    let out = env.cli(&[
        "grant",
        &c.id,
        "--scopes",
        labels,
        "--redirect",
        "deep-link",
        "--timeout",
        "30",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        g["granted_scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == labels),
        "{g}"
    );
    assert_eq!(
        refresh_tokens_issued(&env),
        issued,
        "the provider sent no refresh token"
    );
    kept_refresh_token(&env, &c.id, kept.expose());
    env.assert_no_secrets_leaked();
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
    assert_eq!(
        env.provider.requests(Endpoint::Revoke),
        1,
        "one revocation request"
    );
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
    assert_eq!(
        env.provider.requests(Endpoint::Revoke),
        2,
        "one refused request, then one that worked"
    );
    assert_eq!(env.store().with(|db| db.pending_revocations()).unwrap(), 0);
    assert!(env.secrets().get_tokens(&c.id).unwrap().is_none());
    env.assert_no_secrets_leaked();
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
    env.assert_no_secrets_leaked();
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
    env.assert_no_secrets_leaked();
}

/// Every answer a revocation can get, settled as RFC 7009 and the retry
/// budget say: `invalid_token` is done, another 400 is refused (no retry),
/// a 503 is queued with a growing wait until the 60th attempt, which gives
/// up. Each ends with the tokens gone from the keyring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_settles_each_answer_of_the_provider() {
    use keyport_core::service::revocation::Revocation;
    let (env, kp) = Env::ready().await;
    let event = |id: &str| {
        env.store()
            .with(|db| db.events(Some(id), 1))
            .unwrap()
            .remove(0)
            .kind
    };
    let next_attempt = |id: &str| -> (i64, i64) {
        let db = rusqlite::Connection::open(env.paths.database()).unwrap();
        db.query_row(
            "SELECT attempts, next_attempt FROM revocations WHERE connection_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };

    let a = connect_as(&env, &kp, "ana@firm.example").await;
    env.provider
        .set_fault(Endpoint::Revoke, Some(Fault::InvalidToken));
    let d = kp.disconnect(&a.id).await.unwrap();
    assert_eq!(
        d.revocation,
        Revocation::Revoked,
        "invalid_token: nothing left to revoke"
    );
    assert_eq!(event(&a.id), "revoked");

    let b = connect_as(&env, &kp, "bo@firm.example").await;
    env.provider
        .set_fault(Endpoint::Revoke, Some(Fault::Status(400)));
    let d = kp.disconnect(&b.id).await.unwrap();
    assert_eq!(d.revocation, Revocation::Failed, "another 400 is a refusal");
    assert_eq!(event(&b.id), "revocation_failed");
    assert!(env.secrets().get_tokens(&b.id).unwrap().is_none());
    assert_eq!(env.store().with(|db| db.pending_revocations()).unwrap(), 0);

    // The provider is down: queued, the next try about a minute later.
    let a = connect_as(&env, &kp, "ana@firm.example").await;
    env.provider
        .set_fault(Endpoint::Revoke, Some(Fault::Status(503)));
    let before = keyport_core::store::now_ms();
    let d = kp.disconnect(&a.id).await.unwrap();
    assert_eq!(d.revocation, Revocation::Queued);
    let (attempts, next) = next_attempt(&a.id);
    assert_eq!(attempts, 1);
    assert!(
        (before + 54_000..=before + 67_000).contains(&next),
        "next try in {} ms",
        next - before
    );
    // The 59th failure still queues; the 60th gives up and deletes.
    env.sql("UPDATE revocations SET attempts = 58, next_attempt = 0", []);
    kp.retry_revocations().await.unwrap();
    assert_eq!(next_attempt(&a.id).0, 59);
    env.sql("UPDATE revocations SET next_attempt = 0", []);
    kp.retry_revocations().await.unwrap();
    assert_eq!(env.store().with(|db| db.pending_revocations()).unwrap(), 0);
    assert_eq!(event(&a.id), "revocation_failed");
    assert!(env.secrets().get_tokens(&a.id).unwrap().is_none());
    env.assert_no_secrets_leaked();
}
