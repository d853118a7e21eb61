//! A process killed between any two write steps of a connect leaves, after
//! restart, no orphan keyring entry and no active row without secrets; the
//! interrupted sign-in is cleanly ended and a new one succeeds.

use keyport_core::catalog::RedirectMode;
use keyport_core::secrets::SecretKey;
use keyport_core::service::ConnectOptions;

use crate::common::{assert_invariants, stderr, Env};

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
            .unwrap()
            .unwrap();
        let active_after = matches!(*step, "connect.activated" | "connect.verifier_cleared");
        assert_eq!(
            connection.status.as_str(),
            if active_after { "active" } else { "failed" },
            "{step}"
        );
        if !active_after {
            assert_eq!(
                connection.last_error_code.as_deref(),
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
    }
}

/// A disconnect killed after each write: after restart the tokens are
/// revoked and gone, and nothing is left in the keyring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_killed_after_each_write_still_revokes_and_cleans_up() {
    for step in ["disconnect.row_deleted", "disconnect.secret_deleted"] {
        let (env, kp) = Env::ready().await;
        let c = crate::common::connect_as(&env, &kp, "ana@firm.example").await;
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
        assert_eq!(
            env.provider.revocations().len(),
            1,
            "{step}: revoked exactly once"
        );
        assert!(
            env.secrets().get_tokens(&c.id).unwrap().is_none(),
            "{step}: keyring entry left"
        );
    }
}
