//! Accounts, not tokens: against the fake Google (one grant per account and
//! client; revoking any token revokes it all; at most 100 refresh tokens),
//! Gmail and Calendar of one account are one grant in Keyport too.

use fake_provider::{Endpoint, MAX_REFRESH_TOKENS};
use keyport_core::secrets::{SecretKey, TokenSet};
use keyport_core::store::{Connection, Status};

use crate::common::{assert_invariants, connect_as, deep_link, sign_in, stderr, stdout, Env};

const CALENDAR: &str = "google-calendar";

fn row(env: &Env, id: &str) -> Option<Connection> {
    env.store().with(|db| db.connection(id)).unwrap()
}

/// The data folder's keyring entries holding tokens.
fn entries(env: &Env) -> Vec<String> {
    let mut all = env.secrets().list().unwrap();
    all.retain(|e| e.starts_with("connection:"));
    all
}

/// Makes the grant's stored access token look expired.
fn expire_grant(env: &Env, c: &Connection) {
    let secrets = env.secrets();
    let mut t: TokenSet = secrets.get_tokens(c.holder()).unwrap().expect("tokens");
    t.expires_at = Some(0);
    secrets.set_tokens(c.holder(), &t).unwrap();
}

/// Gmail, then Calendar, for ana@firm.example.
async fn gmail_and_calendar(
    env: &Env,
    kp: &keyport_core::service::Keyport,
) -> (Connection, Connection) {
    let gmail = connect_as(env, kp, "ana@firm.example").await;
    env.provider.set_account("ana@firm.example");
    let calendar = sign_in(env, kp, CALENDAR).await;
    (gmail, calendar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_and_calendar_for_one_account_are_one_grant() {
    let (env, kp) = Env::ready().await;
    let (gmail, calendar) = gmail_and_calendar(&env, &kp).await;
    assert_eq!(gmail.grant_id, calendar.grant_id);
    assert_eq!(env.store().with(|db| db.list_grants()).unwrap().len(), 1);
    assert_eq!(env.provider.active_grants("ana@firm.example"), 1);
    // One refresh token in the keyring, the union of the scopes on both.
    assert_eq!(entries(&env), [format!("connection:{}", gmail.holder())]);
    let gmail = row(&env, &gmail.id).unwrap();
    for scope in [
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/calendar.readonly",
    ] {
        assert!(gmail.granted_scopes.iter().any(|s| s == scope), "{scope}");
    }
    // Each is proved at the provider with its own API.
    for c in [&gmail, &calendar] {
        let out = env.cli(&["check", &c.id]);
        assert!(out.status.success(), "{}: {}", c.integration, stderr(&out));
    }
    assert_eq!(env.provider.requests(Endpoint::GmailProfile), 2);
    assert_eq!(env.provider.requests(Endpoint::CalendarList), 2);
    // A mail client set up with the address keeps getting the account's
    // token (the two share it); a command that acts on one integration
    // asks which.
    let token = env.cli(&["token", "ana@firm.example", "--json"]);
    assert!(token.status.success(), "{}", stderr(&token));
    let json: serde_json::Value = serde_json::from_slice(&token.stdout).unwrap();
    assert_eq!(json["connection"], gmail.id.as_str());
    assert!(env
        .provider
        .access_token_valid(json["access_token"].as_str().unwrap()));
    let which = env.cli(&["disconnect", "ana@firm.example"]);
    assert_eq!(which.status.code(), Some(1));
    assert!(
        stderr(&which).contains("2 connections use ana@firm.example"),
        "{}",
        stderr(&which)
    );
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_gmail_off_keeps_calendar_working() {
    let (env, kp) = Env::ready().await;
    let (gmail, calendar) = gmail_and_calendar(&env, &kp).await;
    env.provider.reset_counts();
    let out = env.cli(&["disconnect", &gmail.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Said beforehand: what stops, what keeps working.
    let said = stderr(&out);
    assert!(
        said.contains("Gmail for ana@firm.example stops working")
            && said.contains("Google Calendar keeps working"),
        "{said}"
    );
    assert_eq!(
        env.provider.requests(Endpoint::Revoke),
        0,
        "nothing revoked"
    );
    assert!(row(&env, &gmail.id).is_none());
    // Calendar refreshes and checks at the provider.
    expire_grant(&env, &calendar);
    let token = env.cli(&["token", &calendar.id]);
    assert!(token.status.success(), "{}", stderr(&token));
    assert!(env.provider.access_token_valid(stdout(&token).trim_end()));
    assert_eq!(env.provider.token_requests("refresh_token"), 1);
    let check = env.cli(&["check", &calendar.id]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert_eq!(row(&env, &calendar.id).unwrap().status, Status::Active);
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_account_revokes_once_and_both_are_gone() {
    let (env, kp) = Env::ready().await;
    let (gmail, calendar) = gmail_and_calendar(&env, &kp).await;
    env.provider.reset_counts();
    let out = env.cli(&["disconnect", "ana@firm.example", "--account"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Gmail and Google Calendar for ana@firm.example stop working, and Keyport's access to ana@firm.example is revoked"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.provider.requests(Endpoint::Revoke), 1);
    assert_eq!(env.provider.active_grants("ana@firm.example"), 0);
    assert!(row(&env, &gmail.id).is_none() && row(&env, &calendar.id).is_none());
    assert!(entries(&env).is_empty(), "{:?}", entries(&env));
    assert!(env.store().with(|db| db.list_grants()).unwrap().is_empty());
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_last_integration_revokes_the_grant() {
    let (env, kp) = Env::ready().await;
    let (gmail, calendar) = gmail_and_calendar(&env, &kp).await;
    kp.disconnect(&gmail.id).await.unwrap();
    env.provider.reset_counts();
    let out = env.cli(&["disconnect", &calendar.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.provider.requests(Endpoint::Revoke), 1);
    assert_eq!(env.provider.active_grants("ana@firm.example"), 0);
    assert!(entries(&env).is_empty());
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_marks_both_integrations_after_one_refresh() {
    let (env, kp) = Env::ready().await;
    let (gmail, calendar) = gmail_and_calendar(&env, &kp).await;
    env.provider.revoke_all_for("ana@firm.example");
    expire_grant(&env, &gmail);
    env.provider.reset_counts();
    // The scheduler's way: both checked; one refresh for the grant.
    for c in [&gmail, &calendar] {
        let out = env.cli(&["check", &c.id]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    }
    assert_eq!(env.provider.token_requests("refresh_token"), 1);
    for c in [&gmail, &calendar] {
        assert_eq!(row(&env, &c.id).unwrap().status, Status::NeedsReauth);
    }
    // One reconnect heals both.
    let out = env.cli(&["reconnect", &gmail.id, "--timeout", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for c in [&gmail, &calendar] {
        let now = row(&env, &c.id).unwrap();
        assert_eq!(now.status, Status::Active, "{}", c.integration);
        let check = env.cli(&["check", &c.id]);
        assert!(check.status.success(), "{}", stderr(&check));
    }
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_and_one_sign_ins_never_evict_a_working_connection() {
    let (env, kp) = Env::ready().await;
    let (gmail, calendar) = gmail_and_calendar(&env, &kp).await;
    // Reconnecting Calendar again and again mints a refresh token each time
    // on the same grant; past 100 the provider forgets the oldest.
    for _ in 0..MAX_REFRESH_TOKENS + 1 {
        let again = kp.reconnect(&calendar.id, deep_link()).await.unwrap();
        let link = env.provider.follow_authorize(&again.auth_url).unwrap();
        kp.handle_deep_link(&link).await.unwrap();
    }
    assert_eq!(
        env.provider.live_refresh_tokens("ana@firm.example"),
        MAX_REFRESH_TOKENS
    );
    // Gmail holds the newest refresh token too: it refreshes.
    expire_grant(&env, &gmail);
    env.provider.reset_counts();
    let out = env.cli(&["token", &gmail.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.provider.token_requests("refresh_token"), 1);
    let check = env.cli(&["check", &gmail.id]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_as_another_held_account_revokes_nothing() {
    let (env, kp) = Env::ready().await;
    let ana = connect_as(&env, &kp, "ana@firm.example").await;
    let bo = connect_as(&env, &kp, "bo@firm.example").await;
    env.provider.reset_counts();
    // Reconnecting ana's connection, the person picks bo at the provider.
    env.provider.set_account("bo@firm.example");
    let started = kp
        .reconnect(
            &ana.id,
            keyport_core::service::ConnectOptions {
                login_hint: Some("bo@firm.example".into()),
                ..deep_link()
            },
        )
        .await
        .unwrap();
    let link = env.provider.follow_authorize(&started.auth_url).unwrap();
    let err = kp.handle_deep_link(&link).await.unwrap_err();
    assert_eq!(err.code(), "connection.wrong_account");
    // Revoking bo's fresh token would revoke bo's whole grant at Google.
    assert_eq!(env.provider.requests(Endpoint::Revoke), 0);
    expire_grant(&env, &bo);
    let out = env.cli(&["token", &bo.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(row(&env, &ana.id).unwrap().status, Status::Active);
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}

/// The database file `tests/it/fixtures/before-grants.sqlite` was made by
/// Keyport before account grants (commit 415749f): Gmail and Calendar for
/// ana@firm.example, each with its own refresh token, and Gmail for
/// bo@firm.example labelled "Bo's books".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_grants_opens_and_keeps_working() {
    const ANA_GMAIL: &str = "2c888a56-a499-4ca9-9241-8c5e70a2939c";
    const ANA_CALENDAR: &str = "d7c0b311-0b8d-4b9f-9ea6-4f4531b0a8fc";
    const BO_GMAIL: &str = "9cfdef0b-cb7e-4227-98de-3f1012653cd0";
    let env = Env::new();
    std::fs::create_dir_all(&env.paths.data_dir).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/it/fixtures/before-grants.sqlite"
        ),
        env.paths.database(),
    )
    .unwrap();
    // What that version kept in the keyring: tokens per connection.
    let gmail = "https://www.googleapis.com/auth/gmail.readonly";
    let calendar = "https://www.googleapis.com/auth/calendar.readonly";
    for (id, email, scope) in [
        (ANA_GMAIL, "ana@firm.example", gmail),
        (ANA_CALENDAR, "ana@firm.example", calendar),
        (BO_GMAIL, "bo@firm.example", gmail),
    ] {
        let refresh = env.provider.issue_refresh_token(email, &[scope, "openid"]);
        let stored = format!(
            r#"{{"access_token":"expired-{id}","refresh_token":"{refresh}","expires_at":0,"scopes":["{scope}"],"token_type":"Bearer","obtained_at":0}}"#
        );
        env.secrets()
            .set(&SecretKey::Connection(id.into()), &stored)
            .unwrap();
    }
    let kp = env.keyport();
    env.set_google_client(&kp).await;
    let list = kp.list().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|c| c.status == Status::Active), "{list:?}");
    let bo = kp.get(BO_GMAIL).unwrap();
    assert_eq!(bo.label.as_deref(), Some("Bo's books"));
    assert_eq!(bo.grant_id.as_deref(), Some(BO_GMAIL));
    assert_eq!(env.store().with(|db| db.list_grants()).unwrap().len(), 3);
    for id in [ANA_GMAIL, ANA_CALENDAR, BO_GMAIL] {
        let out = env.cli(&["token", id]);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        let check = env.cli(&["check", id]);
        assert!(check.status.success(), "{id}: {}", stderr(&check));
    }
    // ana's two integrations still have a grant each: disconnecting one
    // does not revoke, since revoking would end the other at Google.
    env.provider.reset_counts();
    let out = env.cli(&["disconnect", ANA_GMAIL]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.provider.requests(Endpoint::Revoke), 0);
    let check = env.cli(&["check", ANA_CALENDAR]);
    assert!(check.status.success(), "{}", stderr(&check));
    // Its last one goes with a revocation.
    let out = env.cli(&["disconnect", ANA_CALENDAR]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.provider.requests(Endpoint::Revoke), 1);
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_owed_for_an_account_connected_again_is_never_sent() {
    let (env, kp) = Env::ready().await;
    let old = connect_as(&env, &kp, "ana@firm.example").await;
    // The provider is down when the account is removed: the revocation is owed.
    env.provider
        .set_fault(Endpoint::Revoke, Some(fake_provider::Fault::Status(503)));
    let done = kp.disconnect(&old.id).await.unwrap();
    assert_eq!(
        done.revocation,
        keyport_core::revocation::Revocation::Queued
    );
    // The person connects the account again: at Google, the same grant.
    env.provider.clear_faults();
    let again = connect_as(&env, &kp, "ana@firm.example").await;
    env.provider.reset_counts();
    env.sql("UPDATE revocations SET next_attempt = 0", []);
    kp.retry_revocations().await.unwrap();
    assert_eq!(
        env.provider.requests(Endpoint::Revoke),
        0,
        "nothing revoked"
    );
    assert_eq!(kp.pending_revocations().unwrap(), 0);
    expire_grant(&env, &again);
    let out = env.cli(&["token", &again.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}
