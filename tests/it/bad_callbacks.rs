//! Table-driven: bad callbacks and bad provider replies. Each yields its
//! error code and connection status, and leaves no stray secret or row.

use std::sync::Arc;
use std::time::Duration;

use keyport_core::catalog::RedirectMode;
use keyport_core::secrets::{SecretKey, SecretStore, StoreFactory};
use keyport_core::service::{ConnectOptions, Initiated, Keyport, SignIn};
use keyport_core::store::Connection;

use crate::common::{assert_invariants, Env};
use fake_provider::{Consent, Endpoint, Fault};

/// Declares the cases and [`ALL`] from one list, so no case can be left
/// out of the run (and `expectation` must name each).
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        #[derive(Clone, Copy, Debug)]
        enum Case {
            $($case),*
        }
        const ALL: &[Case] = &[$(Case::$case),*];
    };
}

cases![
    UnknownState,
    ReplayedState,
    ExpiredState,
    AccessDenied,
    OtherAuthorizationError,
    MissingCode,
    HostileLink,
    DuplicateParams,
    InvalidGrant,
    ServerError500,
    ServerError503,
    RateLimited,
    Timeout,
    MalformedJson,
    HugeReply,
    ConnectionReset,
    WrongClientSecret,
    WrongVerifier,
    UserinfoRefused,
    UserinfoMalformed,
    PartialScopes,
    LockedKeyring,
    CancelledThenCallback,
    LoopbackWrongState,
    SlowButInTime,
    RedirectedTokenEndpoint,
    ChunkedReplyOverTheCap,
    ChunkedReplyUnderTheCap,
];

struct Expect {
    code: Option<&'static str>,
    /// The flow's connection status afterwards (`None`: no row for it).
    status: Option<&'static str>,
}

const fn fails(code: &'static str, status: Option<&'static str>) -> Expect {
    Expect {
        code: Some(code),
        status,
    }
}

fn expectation(case: Case) -> Expect {
    use Case::*;
    match case {
        UnknownState => fails("oauth.state_mismatch", Some("initiated")),
        ReplayedState => fails("oauth.state_reused", Some("active")),
        ExpiredState => fails("oauth.flow_expired", None),
        AccessDenied => fails("oauth.access_denied", None),
        OtherAuthorizationError => fails("oauth.authorization_failed", None),
        MissingCode => fails("oauth.missing_code", None),
        HostileLink => fails("deeplink.invalid", Some("initiated")),
        DuplicateParams => fails("deeplink.invalid", Some("initiated")),
        InvalidGrant => fails("oauth.invalid_grant", None),
        ServerError500 => fails("provider.error", None),
        ServerError503 => fails("provider.error", None),
        RateLimited => fails("provider.rate_limited", None),
        Timeout => fails("provider.unreachable", None),
        MalformedJson => fails("provider.malformed", None),
        HugeReply => fails("provider.malformed", None),
        ConnectionReset => fails("provider.unreachable", None),
        WrongClientSecret => fails("oauth.invalid_client", None),
        WrongVerifier => fails("oauth.invalid_grant", None),
        UserinfoRefused => fails("identity.failed", None),
        UserinfoMalformed => fails("identity.failed", None),
        PartialScopes => Expect {
            code: None,
            status: Some("active"),
        },
        LockedKeyring => fails("keyring.unavailable", None),
        CancelledThenCallback => fails("oauth.state_reused", None),
        LoopbackWrongState => fails("oauth.timeout", None),
        SlowButInTime => Expect {
            code: None,
            status: Some("active"),
        },
        // A 307 is not followed (following it would succeed): no reply.
        RedirectedTokenEndpoint => fails("provider.malformed", None),
        // Chunked, without Content-Length: the cap counts what arrives.
        ChunkedReplyOverTheCap => fails("provider.malformed", None),
        ChunkedReplyUnderTheCap => Expect {
            code: None,
            status: Some("active"),
        },
    }
}

fn locked_store() -> keyport_core::Result<Arc<keyring_core::CredentialStore>> {
    Err(keyport_core::Error::KeyringUnavailable(
        "the keyring is locked; unlock it and try again".into(),
    ))
}

async fn start(kp: &Keyport, mode: RedirectMode) -> SignIn {
    kp.initiate(
        "gmail",
        ConnectOptions {
            redirect: Some(mode),
            ..Default::default()
        },
    )
    .await
    .expect("initiate")
}

/// The deep link the provider redirects to after consent.
fn consent(env: &Env, started: &Initiated) -> String {
    env.provider
        .follow_authorize(&started.auth_url)
        .expect("authorize redirects")
}

fn with_param(link: &str, key: &str, value: &str) -> String {
    let mut url = url::Url::parse(link).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(key, value);
    url.to_string()
}

async fn run(case: Case, env: &Env, kp: &Keyport) -> (keyport_core::Result<Connection>, Initiated) {
    use Case::*;
    let p = &env.provider;
    let mode = if matches!(case, LoopbackWrongState) {
        RedirectMode::Loopback
    } else {
        RedirectMode::DeepLink
    };
    match case {
        AccessDenied => p.set_consent(Consent::Deny),
        InvalidGrant => p.set_fault(Endpoint::Token, Some(Fault::InvalidGrant)),
        ServerError500 => p.set_fault(Endpoint::Token, Some(Fault::Status(500))),
        ServerError503 => p.set_fault(Endpoint::Token, Some(Fault::Status(503))),
        RateLimited => p.set_fault(
            Endpoint::Token,
            Some(Fault::RateLimited {
                retry_after_secs: 7,
            }),
        ),
        Timeout => p.set_fault(Endpoint::Token, Some(Fault::Slow(Duration::from_secs(5)))),
        SlowButInTime => p.set_fault(
            Endpoint::Token,
            Some(Fault::Slow(Duration::from_millis(300))),
        ),
        MalformedJson => p.set_fault(Endpoint::Token, Some(Fault::Malformed)),
        HugeReply => p.set_fault(Endpoint::Token, Some(Fault::Huge)),
        ConnectionReset => p.set_fault(Endpoint::Token, Some(Fault::Reset)),
        RedirectedTokenEndpoint => p.set_fault_times(Endpoint::Token, Fault::Redirect(307), 1),
        ChunkedReplyOverTheCap => p.set_fault(
            Endpoint::Token,
            Some(Fault::Chunked(keyport_core::http::MAX_BODY + 1)),
        ),
        ChunkedReplyUnderTheCap => p.set_fault(
            Endpoint::Token,
            Some(Fault::Chunked(keyport_core::http::MAX_BODY - 1)),
        ),
        UserinfoRefused => p.set_fault(Endpoint::Userinfo, Some(Fault::Status(401))),
        UserinfoMalformed => p.set_fault(Endpoint::Userinfo, Some(Fault::Malformed)),
        PartialScopes => p.set_partial_grant(Some(vec![
            "https://www.googleapis.com/auth/gmail.readonly".into(),
        ])),
        WrongClientSecret => {
            kp.set_client(
                "google",
                &p.client_id(),
                Some(keyport_core::secrets::Secret::new("not-the-secret")),
            )
            .await
            .unwrap();
        }
        _ => {}
    }
    let started = start(kp, mode).await;
    if matches!(case, LoopbackWrongState) {
        let redirect = consent(env, &started);
        let forged = with_param(&redirect, "state", "forged-state-value-123456");
        let initiated = started.initiated.clone();
        let kp2 = kp.clone();
        let serve = tokio::spawn(async move {
            kp2.await_flow(
                started,
                Duration::from_secs(2),
                Arc::new(tokio::sync::Notify::new()),
            )
            .await
        });
        let body = reqwest::get(&forged).await.unwrap();
        assert_eq!(
            body.status(),
            400,
            "a wrong state is refused without ending the flow"
        );
        let wrong_path = forged.replace("/callback", "/other");
        assert_eq!(reqwest::get(&wrong_path).await.unwrap().status(), 404);
        return (serve.await.unwrap(), initiated);
    }
    let link = match case {
        UnknownState => {
            "dev.keyport:/oauth/callback?state=AAAAAAAAAAAAAAAAAAAAAA&code=zzz".to_string()
        }
        HostileLink => "dev.keyport://evil.example/oauth/callback?state=x&code=y".to_string(),
        MissingCode => format!(
            "dev.keyport:/oauth/callback?state={}",
            started.state().expose()
        ),
        OtherAuthorizationError => format!(
            "dev.keyport:/oauth/callback?state={}&error=server_error&error_description=Try%20later",
            started.state().expose()
        ),
        DuplicateParams => format!("{}&state=second", consent(env, &started)),
        _ => consent(env, &started),
    };
    match case {
        ExpiredState => {
            env.sql(
                "UPDATE pending_flows SET expires_at = 0 WHERE id = ?1",
                [&started.flow_id],
            );
        }
        WrongVerifier => {
            env.secrets()
                .set(
                    &SecretKey::FlowVerifier(started.flow_id.clone()),
                    &"x".repeat(64),
                )
                .unwrap();
        }
        CancelledThenCallback => kp.cancel(&started.flow_id).await.unwrap(),
        ReplayedState => {
            kp.handle_deep_link(&link)
                .await
                .expect("first delivery completes");
        }
        LockedKeyring => {
            // The same database, but a keyring that refuses access.
            let locked = Keyport::open_with(
                env.paths.clone(),
                SecretStore::with_factory("dev.keyport.locked", locked_store as StoreFactory),
            )
            .unwrap();
            let result = locked.handle_deep_link(&link).await;
            return (result, started.initiated);
        }
        _ => {}
    }
    (kp.handle_deep_link(&link).await, started.initiated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_callback_and_reply_has_its_code_and_leaves_nothing_behind() {
    for &case in ALL {
        let (env, kp) = Env::ready().await;
        let (result, started) = run(case, &env, &kp).await;
        if matches!(case, Case::LockedKeyring) {
            // Once the keyring is back, recovery removes what it could not.
            kp.recover().await.unwrap();
        }
        let want = expectation(case);
        match (&result, want.code) {
            (Err(e), Some(code)) => {
                assert_eq!(e.code(), code, "{case:?}: {e}");
                assert!(!e.to_string().is_empty());
            }
            (Ok(_), None) => {}
            (Ok(c), Some(code)) => panic!("{case:?}: expected {code}, got a connection {c:?}"),
            (Err(e), None) => panic!("{case:?}: expected success, got {} {e}", e.code()),
        }
        let row = env
            .store()
            .with(|db| db.connection(&started.connection_id))
            .unwrap();
        assert_eq!(
            row.as_ref().map(|c| c.status.as_str()),
            want.status,
            "{case:?}"
        );
        if matches!(case, Case::PartialScopes) {
            let row = row.unwrap();
            assert_eq!(
                row.missing_scopes,
                ["https://www.googleapis.com/auth/gmail.readonly"]
            );
            assert_eq!(row.last_error_code.as_deref(), Some("oauth.scopes_missing"));
        }
        // No stray secrets: verifier gone once the flow ended; no tokens for
        // rows that are not connected.
        let flow = env
            .store()
            .with(|db| db.flow(&started.flow_id))
            .unwrap()
            .unwrap();
        // A first sign-in that failed leaves no row: its flow keeps the error.
        if want.status.is_none()
            && !matches!(case, Case::LoopbackWrongState | Case::CancelledThenCallback)
        {
            assert_eq!(flow.error_code.as_deref(), want.code, "{case:?}");
        }
        if !matches!(
            case,
            Case::UnknownState | Case::HostileLink | Case::DuplicateParams
        ) {
            let verifier = env
                .secrets()
                .get(&SecretKey::FlowVerifier(started.flow_id.clone()))
                .unwrap();
            assert!(
                verifier.is_none(),
                "{case:?}: the PKCE verifier outlived its flow ({:?})",
                flow.status
            );
        }
        if matches!(case, Case::RedirectedTokenEndpoint) {
            assert_eq!(
                env.provider.redirected_requests(),
                0,
                "the redirect was not followed"
            );
        }
        assert_invariants(&env, &kp);
        // The in-process log (TRACE) holds this case's lines: it is searched.
        assert!(
            env.in_process_log().contains(&started.flow_id),
            "{case:?}: the in-process log did not capture this flow"
        );
        env.assert_no_secrets_leaked();
    }
}
