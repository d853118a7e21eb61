//! A long-running process (as the GUI) and four CLI processes using and
//! refreshing the same connection for 30 s, against a provider that rotates
//! refresh tokens and detects reuse: zero `invalid_grant` caused by Keyport.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyport_core::store::Status;

use crate::common::{connect_as, stderr, Env};
use fake_provider::Config;

fn soak() -> Duration {
    let secs = std::env::var("KEYPORT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_processes_refreshing_one_rotating_connection_never_lose_it() {
    let _daemon_stays = crate::common::KEYRING_DAEMON.read().await;
    let env = Env::with_config(Config {
        rotate_refresh_tokens: true,
        revoke_family_on_reuse: true,
        // Every call is within the refresh margin: every call refreshes.
        access_token_lifetime_secs: 1,
        expand_scope_aliases: true,
        ..Config::default()
    });
    let kp = env.keyport();
    env.set_google_client(&kp).await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;
    let deadline = Instant::now() + soak();
    let failed = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));

    let mut cli = Vec::new();
    for _ in 0..4 {
        let (id, failed, calls) = (c.id.clone(), failed.clone(), calls.clone());
        let mut base = env.command();
        base.args(["token", &id]);
        let program = base.get_program().to_owned();
        let envs: Vec<_> = base
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
            .collect();
        cli.push(std::thread::spawn(move || {
            let mut outputs = Vec::new();
            while Instant::now() < deadline && !failed.load(Ordering::Relaxed) {
                let mut cmd = std::process::Command::new(&program);
                cmd.args(["token", &id]);
                for (k, v) in &envs {
                    match v {
                        Some(v) => cmd.env(k, v),
                        None => cmd.env_remove(k),
                    };
                }
                let out = cmd.output().unwrap();
                calls.fetch_add(1, Ordering::Relaxed);
                let ok = out.status.success();
                outputs.push(out);
                if !ok {
                    failed.store(true, Ordering::Relaxed);
                    break;
                }
            }
            outputs
        }));
    }
    let mut in_process = 0usize;
    while Instant::now() < deadline && !failed.load(Ordering::Relaxed) {
        let token = kp.access_token(&c.id).await;
        in_process += 1;
        if let Err(e) = token {
            failed.store(true, Ordering::Relaxed);
            panic!(
                "the long-running process failed after {in_process} calls: {} {e}",
                e.code()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for t in cli {
        for out in t.join().unwrap() {
            env.record(&out, true);
            assert!(
                out.status.success(),
                "a CLI process failed: {}",
                stderr(&out)
            );
        }
    }
    let refreshes = env.provider.token_requests("refresh_token");
    println!(
        "soak: {} CLI calls, {in_process} in-process calls, {refreshes} refreshes",
        calls.load(Ordering::Relaxed)
    );
    // Every call finds the token due (1 s lifetime, 5 min margin) and
    // refreshes it: at least one refresh per call.
    let calls = calls.load(Ordering::Relaxed) + in_process;
    assert!(
        refreshes >= calls,
        "{refreshes} refreshes for {calls} calls"
    );
    let floor = 200 * soak().as_secs() as usize / 30;
    assert!(
        refreshes >= floor,
        "the soak refreshed {refreshes} times, fewer than {floor}"
    );
    assert_eq!(kp.get(&c.id).unwrap().status, Status::Active);
    let token = kp.access_token(&c.id).await.unwrap();
    assert!(env.provider.access_token_valid(token.expose()));
    env.assert_no_secrets_leaked();
}
