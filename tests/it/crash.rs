//! A process killed between any two write steps of a sign-in (connect,
//! reconnect, grant more, and starting one), a refresh or a disconnect
//! leaves, after restart, no orphan keyring entry (the keyring is listed)
//! and no active row without secrets; the interrupted sign-in is cleanly
//! ended and a new one succeeds.

use keyport_core::catalog::RedirectMode;
use keyport_core::secrets::SecretKey;
use keyport_core::service::{ConnectOptions, Keyport, FLOW_LIFETIME};
use keyport_core::store::{FlowStatus, Status};

use crate::common::{assert_invariants, connect_as, expire_locally, stderr, stdout, Env};
use fake_provider::Endpoint;

const STEPS: &[&str] = &[
    "connect.claimed",
    "connect.intent_recorded",
    "connect.tokens_stored",
    "connect.activated",
    "connect.verifier_cleared",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_killed_at_any_write_step_recovers_cleanly() {
    for step in STEPS {
        let (env, kp) = Env::ready().await;
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
        let link = env.provider.follow_authorize(&started.auth_url).unwrap();

        let mut cmd = env.command();
        cmd.args(["open-url", &link]).env("KEYPORT_CRASH_AT", step);
        let out = env.run(&mut cmd);
        assert!(
            !out.status.success(),
            "{step}: the process should have died"
        );
        assert!(stderr(&out).contains(step), "{step}: {}", stderr(&out));

        // Restart: any command runs recovery first.
        let list = env.cli(&["list", "--json"]);
        assert!(list.status.success(), "{step}: {}", stderr(&list));
        assert_invariants(&env, &kp);
        let flow = env
            .store()
            .with(|db| db.flow(&started.flow_id))
            .unwrap()
            .unwrap();
        assert!(
            matches!(
                flow.status,
                keyport_core::store::FlowStatus::Completed
                    | keyport_core::store::FlowStatus::Failed
            ),
            "{step}: the flow is still {:?}",
            flow.status
        );
        let verifier = env
            .secrets()
            .get(&SecretKey::FlowVerifier(started.flow_id.clone()))
            .unwrap();
        assert!(verifier.is_none(), "{step}: the verifier outlived its flow");
        let connection = env
            .store()
            .with(|db| db.connection(&started.connection_id))
            .unwrap();
        let active_after = activated(step);
        assert_eq!(
            connection.as_ref().map(|c| c.status.as_str()),
            active_after.then_some("active"),
            "{step}: a sign-in that did not finish leaves no row"
        );
        if !active_after {
            assert_eq!(
                flow.error_code.as_deref(),
                Some("oauth.interrupted"),
                "{step}"
            );
            // The person simply connects again.
            let out = env.cli(&[
                "connect",
                "gmail",
                "--redirect",
                "deep-link",
                "--timeout",
                "30",
                "--json",
            ]);
            assert!(
                out.status.success(),
                "{step}: reconnect after crash: {}",
                stderr(&out)
            );
            assert_invariants(&env, &kp);
        }
        env.assert_no_secrets_leaked();
    }
}

fn activated(step: &str) -> bool {
    matches!(step, "connect.activated" | "connect.verifier_cleared")
}

/// The keyring entries of this data folder that are PKCE verifiers.
fn verifiers_in_keyring(env: &Env) -> Vec<String> {
    env.secrets()
        .list()
        .unwrap()
        .into_iter()
        .filter(|e| e.starts_with("flow:"))
        .collect()
}

/// Starting a sign-in killed after each write (the flow row, then the
/// verifier): nothing is orphaned; the flow ends when it expires, taking its
/// verifier with it, and connecting again works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_killed_while_starting_leaves_nothing_behind() {
    for step in INITIATE_STEPS {
        let (env, kp) = Env::ready().await;
        let mut cmd = env.command();
        cmd.args([
            "connect",
            "gmail",
            "--redirect",
            "deep-link",
            "--no-browser",
        ])
        .env("KEYPORT_CRASH_AT", step);
        let out = env.run(&mut cmd);
        assert!(
            !out.status.success() && stderr(&out).contains(step),
            "{step}: the process should have died: {}",
            stderr(&out)
        );
        let list = env.cli(&["list", "--json"]);
        assert!(list.status.success(), "{step}: {}", stderr(&list));
        assert_invariants(&env, &kp);
        let flows = env.store().with(|db| db.flows()).unwrap();
        assert_eq!(flows.len(), 1, "{step}: the flow was recorded");
        let flow = &flows[0];
        assert_eq!(flow.status, FlowStatus::Pending, "{step}");
        // A sign-in lasts ten minutes from its start.
        assert_eq!(
            flow.expires_at - flow.created_at,
            FLOW_LIFETIME.as_millis() as i64,
            "{step}"
        );
        // The flow expires; recovery ends it and removes its verifier.
        env.sql(
            "UPDATE pending_flows SET expires_at = 0 WHERE id = ?1",
            [&flow.id],
        );
        let list = env.cli(&["list", "--json"]);
        assert!(list.status.success(), "{step}: {}", stderr(&list));
        assert_invariants(&env, &kp);
        assert_eq!(verifiers_in_keyring(&env), Vec::<String>::new(), "{step}");
        let flow = env.store().with(|db| db.flow(&flow.id)).unwrap().unwrap();
        assert_eq!(flow.status, FlowStatus::Failed, "{step}");
        let out = env.cli(&[
            "connect",
            "gmail",
            "--redirect",
            "deep-link",
            "--timeout",
            "30",
            "--json",
        ]);
        assert!(out.status.success(), "{step}: {}", stderr(&out));
        assert_invariants(&env, &kp);
        env.assert_no_secrets_leaked();
    }
}

const INITIATE_STEPS: &[&str] = &["initiate.flow_recorded", "initiate.verifier_stored"];

#[derive(Clone, Copy, Debug)]
enum Again {
    Reconnect,
    Grant,
}

/// Reconnect and grant more killed at each write step of their completion:
/// after restart the connection is the same one, as it was before (steps
/// before activation) or updated (after), nothing is orphaned, and signing
/// in again works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_or_grant_killed_at_any_write_step_recovers_cleanly() {
    const READONLY: &str = "https://www.googleapis.com/auth/gmail.readonly";
    for purpose in [Again::Reconnect, Again::Grant] {
        for step in STEPS {
            let (env, kp) = Env::ready().await;
            if matches!(purpose, Again::Grant) {
                env.provider.set_partial_grant(Some(vec![READONLY.into()]));
            }
            let c = connect_as(&env, &kp, "ana@firm.example").await;
            let before = match purpose {
                Again::Reconnect => {
                    env.provider.revoke_all_for("ana@firm.example");
                    expire_locally(&env, &c.id);
                    assert!(kp.access_token(&c.id).await.is_err());
                    Status::NeedsReauth
                }
                Again::Grant => {
                    env.provider.set_partial_grant(None);
                    Status::Active
                }
            };
            let started = start_again(&kp, purpose, &c.id).await;
            let link = env.provider.follow_authorize(&started.auth_url).unwrap();
            let mut cmd = env.command();
            cmd.args(["open-url", &link]).env("KEYPORT_CRASH_AT", step);
            let out = env.run(&mut cmd);
            assert!(
                !out.status.success() && stderr(&out).contains(step),
                "{purpose:?} {step}: the process should have died: {}",
                stderr(&out)
            );
            let list = env.cli(&["list", "--json"]);
            assert!(
                list.status.success(),
                "{purpose:?} {step}: {}",
                stderr(&list)
            );
            assert_invariants(&env, &kp);
            let flow = env
                .store()
                .with(|db| db.flow(&started.flow_id))
                .unwrap()
                .unwrap();
            assert!(
                matches!(flow.status, FlowStatus::Completed | FlowStatus::Failed),
                "{purpose:?} {step}: the flow is still {:?}",
                flow.status
            );
            assert_eq!(verifiers_in_keyring(&env), Vec::<String>::new(), "{step}");
            assert_eq!(kp.list().unwrap().len(), 1, "{purpose:?} {step}");
            let row = kp.get(&c.id).unwrap();
            if activated(step) {
                assert_eq!(row.status, Status::Active, "{purpose:?} {step}");
                assert_eq!(row.missing_scopes, Vec::<String>::new());
            } else {
                assert_eq!(row.status, before, "{purpose:?} {step}: unchanged");
                let verb = match purpose {
                    Again::Reconnect => "reconnect",
                    Again::Grant => "grant",
                };
                let out = env.cli(&[
                    verb,
                    &c.id,
                    "--redirect",
                    "deep-link",
                    "--timeout",
                    "30",
                    "--json",
                ]);
                assert!(out.status.success(), "{purpose:?} {step}: {}", stderr(&out));
                let row = kp.get(&c.id).unwrap();
                assert_eq!(row.status, Status::Active, "{purpose:?} {step}");
                assert_eq!(row.missing_scopes, Vec::<String>::new());
                assert_invariants(&env, &kp);
            }
            // The tokens in the keyring work.
            expire_locally(&env, &c.id);
            let out = env.cli(&["token", &c.id]);
            assert!(out.status.success(), "{purpose:?} {step}: {}", stderr(&out));
            assert!(env.provider.access_token_valid(stdout(&out).trim()));
            env.assert_no_secrets_leaked();
        }
    }
}

async fn start_again(kp: &Keyport, purpose: Again, id: &str) -> keyport_core::service::SignIn {
    let opts = ConnectOptions {
        redirect: Some(RedirectMode::DeepLink),
        ..Default::default()
    };
    match purpose {
        Again::Reconnect => kp.reconnect(id, opts).await.unwrap(),
        Again::Grant => kp.grant_more(id, None, opts).await.unwrap(),
    }
}

/// A refresh with rotation killed after each write: the rotated refresh
/// token is never lost (the next refresh works).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_killed_after_each_write_keeps_the_rotated_token() {
    for step in ["refresh.tokens_stored", "refresh.recorded"] {
        let env = Env::with_config(fake_provider::Config {
            rotate_refresh_tokens: true,
            expand_scope_aliases: true,
            ..Default::default()
        });
        let kp = env.keyport();
        env.set_google_client(&kp).await;
        let c = crate::common::connect_as(&env, &kp, "ana@firm.example").await;
        crate::common::expire_locally(&env, &c.id);
        let mut cmd = env.command();
        cmd.args(["token", &c.id]).env("KEYPORT_CRASH_AT", step);
        let out = env.run(&mut cmd);
        assert!(
            !out.status.success(),
            "{step}: the process should have died"
        );
        assert_eq!(env.provider.token_requests("refresh_token"), 1);
        // Restart; force another refresh: it must use the rotated token.
        crate::common::expire_locally(&env, &c.id);
        let out = env.cli(&["token", &c.id]);
        assert!(out.status.success(), "{step}: {}", stderr(&out));
        assert!(env
            .provider
            .access_token_valid(crate::common::stdout(&out).trim()));
        assert_eq!(
            kp.get(&c.id).unwrap().status,
            keyport_core::store::Status::Active,
            "{step}"
        );
        assert_invariants(&env, &kp);
        env.assert_no_secrets_leaked();
    }
}

/// A disconnect killed after each write: after restart the tokens are
/// revoked and gone, and nothing is left in the keyring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_killed_after_each_write_still_revokes_and_cleans_up() {
    for step in ["disconnect.row_deleted", "disconnect.secret_deleted"] {
        let (env, kp) = Env::ready().await;
        let c = crate::common::connect_as(&env, &kp, "ana@firm.example").await;
        env.provider.reset_counts();
        let mut cmd = env.command();
        cmd.args(["disconnect", &c.id])
            .env("KEYPORT_CRASH_AT", step);
        let out = env.run(&mut cmd);
        assert!(
            !out.status.success(),
            "{step}: the process should have died"
        );
        let out = env.cli(&["list", "--json"]);
        assert!(out.status.success(), "{step}: {}", stderr(&out));
        assert!(kp.list().unwrap().is_empty(), "{step}");
        assert_eq!(
            env.store().with(|db| db.pending_revocations()).unwrap(),
            0,
            "{step}: the revocation was settled"
        );
        // Requests, not successes: a repeated revocation is answered 400
        // `invalid_token`, which Keyport takes as done.
        assert_eq!(
            env.provider.requests(Endpoint::Revoke),
            1,
            "{step}: revoked exactly once"
        );
        assert_eq!(env.provider.revocations().len(), 1, "{step}");
        assert!(
            env.secrets().get_tokens(&c.id).unwrap().is_none(),
            "{step}: keyring entry left"
        );
        assert_invariants(&env, &kp);
        env.assert_no_secrets_leaked();
    }
}

/// The process id of whoever owns the session bus's Secret Service name.
fn keyring_daemon_pid() -> Option<u32> {
    let out = std::process::Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            "string:org.freedesktop.secrets",
        ])
        .output()
        .ok()?;
    stdout(&out)
        .split_whitespace()
        .skip_while(|w| *w != "uint32")
        .nth(1)?
        .parse()
        .ok()
}

/// GNOME Keyring can abort under many short-lived clients (an upstream
/// race), and it is restarted on updates and by `--replace`; the desktop
/// starts it again. A long-running Keyport (the app) keeps its keyring
/// connection: after the daemon goes and comes back it must reconnect, not
/// report a missing secret or a dead keyring until it is restarted. (The
/// daemon is stopped with SIGTERM: the tests running beside this one keep
/// what they wrote, as they would on a desktop.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyring_daemon_dying_and_restarting_loses_nothing() {
    // Only the throw-away session's daemon may be killed, never a desktop's.
    assert!(
        std::env::var_os("KEYPORT_IN_SESSION").is_some(),
        "run the integration tests through scripts/headless-session.sh"
    );
    let _alone = crate::common::KEYRING_DAEMON.write().await;
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    let before = kp.access_token(&c.id).await.unwrap();

    let pid = keyring_daemon_pid().expect("a Secret Service owns the name");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(
        comm.trim(),
        "gnome-keyring-d",
        "pid {pid} is not the keyring"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The same long-lived service reads the stored token through the new
    // daemon and refreshes (a keyring write).
    assert_eq!(
        kp.access_token(&c.id).await.unwrap().expose(),
        before.expose()
    );
    assert_ne!(keyring_daemon_pid(), Some(pid));
    expire_locally(&env, &c.id);
    let fresh = kp.access_token(&c.id).await.unwrap();
    assert_ne!(fresh.expose(), before.expose());
    assert!(env.provider.access_token_valid(fresh.expose()));
    assert_eq!(kp.get(&c.id).unwrap().status, Status::Active);
    assert_invariants(&env, &kp);
    env.assert_no_secrets_leaked();
}
