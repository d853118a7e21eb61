//! Standalone demo server around the test fake provider.
//!
//! ```text
//! cargo run -p fake-provider -- [--port N] [--client-id ID]
//!     [--client-secret S] [--rotate] [--token-lifetime SECS]
//! ```
//! Prints one JSON line on stdout (`base_url`, `client_id`, `client_secret`)
//! and serves on 127.0.0.1 until killed.

use fake_provider::{Config, FakeProvider};
use std::io::Write as _;

const USAGE: &str = "usage: fake-provider [--port N] [--client-id ID] [--client-secret S] \
                     [--rotate] [--token-lifetime SECS]";

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                config.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port wants a number 0-65535".to_string())?
            }
            "--client-id" => config.client_id = value("--client-id")?,
            "--client-secret" => config.client_secret = value("--client-secret")?,
            "--token-lifetime" => {
                config.access_token_lifetime_secs = value("--token-lifetime")?
                    .parse()
                    .map_err(|_| "--token-lifetime wants seconds".to_string())?
            }
            "--rotate" => config.rotate_refresh_tokens = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(config)
}

fn main() {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let server = FakeProvider::start(config);
    let line = serde_json::json!({
        "base_url": server.base_url(),
        "client_id": server.client_id(),
        "client_secret": server.client_secret(),
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    eprintln!(
        "fake provider listening on {} (a test server imitating Google OAuth + Gmail; Ctrl-C to stop)",
        server.base_url()
    );
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use fake_provider::*;
    use serde_json::Value;
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    const REDIRECT: &str = "dev.keyport:/oauth/callback";
    const SCOPES: &str = "openid email profile https://www.googleapis.com/auth/gmail.readonly";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-extra-chars";

    fn challenge(verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }

    fn auth_url(p: &FakeProvider, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&p.url(Endpoint::Authorize)).unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &p.client_id())
                .append_pair("redirect_uri", REDIRECT)
                .append_pair("scope", SCOPES)
                .append_pair("state", "st-123")
                .append_pair("code_challenge", &challenge(VERIFIER))
                .append_pair("code_challenge_method", "S256")
                .append_pair("access_type", "offline");
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        url.to_string()
    }

    fn query_of(location: &str) -> HashMap<String, String> {
        url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    async fn authorize(
        p: &FakeProvider,
        extra: &[(&str, &str)],
    ) -> (String, HashMap<String, String>) {
        let r = client().get(auth_url(p, extra)).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let q = query_of(&loc);
        (loc, q)
    }

    async fn token(p: &FakeProvider, form: &[(&str, &str)]) -> (u16, Value) {
        let mut all: Vec<(&str, &str)> = form.to_vec();
        let secret = p.client_secret();
        let id = p.client_id();
        all.push(("client_id", &id));
        all.push(("client_secret", &secret));
        let r = client()
            .post(p.url(Endpoint::Token))
            .form(&all)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn exchange(p: &FakeProvider, code: &str) -> (u16, Value) {
        token(
            p,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }

    async fn get_bearer(p: &FakeProvider, ep: Endpoint, access: &str) -> (u16, Value) {
        let r = client()
            .get(p.url(ep))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    #[tokio::test]
    async fn full_flow_refresh_revoke() {
        let p = FakeProvider::start(Config::default());
        let (loc, q) = authorize(&p, &[]).await;
        assert!(loc.starts_with("dev.keyport:/oauth/callback?"), "{loc}");
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["scope"], SCOPES);
        let code = q["code"].clone();

        // Wrong verifier consumes the code.
        let (s, body) = token(
            &p,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &"x".repeat(43)),
            ],
        )
        .await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
        assert_eq!(body["error_description"], "Invalid code verifier.");

        let (_, q) = authorize(&p, &[]).await;
        let (s, tok) = exchange(&p, &q["code"]).await;
        assert_eq!(s, 200, "{tok}");
        assert_eq!(tok["token_type"], "Bearer");
        assert_eq!(tok["expires_in"], 3600);
        let access = tok["access_token"].as_str().unwrap().to_string();
        let refresh = tok["refresh_token"].as_str().unwrap().to_string();
        let id_token = tok["id_token"].as_str().unwrap();
        let parts: Vec<&str> = id_token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header["kid"], "fake");
        assert_eq!(claims["sub"], "1001");
        assert_eq!(claims["email"], "ana@firm.example");
        assert_eq!(claims["aud"], p.client_id());
        assert_eq!(claims["iss"], p.base_url());

        let (s, ui) = get_bearer(&p, Endpoint::Userinfo, &access).await;
        assert_eq!((s, ui["email"].as_str()), (200, Some("ana@firm.example")));
        let (s, prof) = get_bearer(&p, Endpoint::GmailProfile, &access).await;
        assert_eq!(s, 200);
        assert_eq!(prof["emailAddress"], "ana@firm.example");
        assert_eq!(prof["messagesTotal"], 1234);
        let (s, _) = get_bearer(&p, Endpoint::GmailProfile, "ya29.nope").await;
        assert_eq!(s, 401);

        // Refresh (no rotation: no refresh_token in the reply).
        let (s, r1) = token(
            &p,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        assert_eq!(s, 200, "{r1}");
        assert!(r1.get("refresh_token").is_none());
        assert_eq!(r1["scope"], SCOPES);
        let access2 = r1["access_token"].as_str().unwrap().to_string();
        assert_eq!(p.token_requests("refresh_token"), 1);
        assert_eq!(p.token_requests("authorization_code"), 2);

        // Expired access token → 401.
        p.expire_access_tokens();
        assert_eq!(get_bearer(&p, Endpoint::Userinfo, &access2).await.0, 401);

        // Revoke the refresh token: the grant dies.
        let r = client()
            .post(p.url(Endpoint::Revoke))
            .form(&[("token", refresh.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(p.revocations(), vec![refresh.clone()]);
        let (s, body) = token(
            &p,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
        let r = client()
            .post(format!("{}?token={}", p.url(Endpoint::Revoke), "unknown"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);

        let secrets = p.issued_secrets();
        for s in [&access, &refresh, &access2, &code, &p.client_secret()] {
            assert!(secrets.contains(s));
        }
        assert!(secrets.iter().any(|s| s == id_token));
        assert_eq!(p.authorize_requests()[0]["code_challenge_method"], "S256");
    }

    #[tokio::test]
    async fn code_replay_revokes_and_client_auth() {
        let p = FakeProvider::start(Config::default());
        let (_, q) = authorize(&p, &[]).await;
        let (s, tok) = exchange(&p, &q["code"]).await;
        assert_eq!(s, 200);
        let access = tok["access_token"].as_str().unwrap();
        assert_eq!(p.active_grants("ana@firm.example"), 1);
        let (s, body) = exchange(&p, &q["code"]).await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
        assert_eq!(p.active_grants("ana@firm.example"), 0);
        assert_eq!(get_bearer(&p, Endpoint::Userinfo, access).await.0, 401);

        // Basic auth works; a wrong secret is invalid_client; no secret is refused.
        let (_, q) = authorize(&p, &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        let basic =
            |id: &str, secret: &str| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        let r = client()
            .post(p.url(Endpoint::Token))
            .header("authorization", basic(&p.client_id(), "wrong"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let r = client()
            .post(p.url(Endpoint::Token))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &p.client_id()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error_description"],
            "client_secret is missing."
        );
        let r = client()
            .post(p.url(Endpoint::Token))
            .header("authorization", basic(&p.client_id(), &p.client_secret()))
            .form(&form)
            .send()
            .await
            .unwrap();
        // The first (wrong-secret) attempt never reached the code, so it is still good.
        assert_eq!(r.status(), 200);

        // Redirect URI mismatch at /token.
        let (_, q) = authorize(&p, &[]).await;
        let (s, body) = token(
            &p,
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", "dev.keyport:/other"),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    }

    #[tokio::test]
    async fn rotation_and_reuse_detection() {
        let p = FakeProvider::start(Config {
            rotate_refresh_tokens: true,
            ..Config::default()
        });
        let (_, q) = authorize(&p, &[("login_hint", "bo@firm.example")]).await;
        let (_, tok) = exchange(&p, &q["code"]).await;
        let rt1 = tok["refresh_token"].as_str().unwrap().to_string();
        let (s, r) = token(
            &p,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
        assert_eq!(s, 200);
        let rt2 = r["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(rt1, rt2);
        let (_, prof) = get_bearer(
            &p,
            Endpoint::GmailProfile,
            r["access_token"].as_str().unwrap(),
        )
        .await;
        assert_eq!(prof["emailAddress"], "bo@firm.example");
        // Reusing the old token fails and kills the family.
        let (s, _) = token(
            &p,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
        assert_eq!(s, 400);
        let (s, _) = token(
            &p,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        )
        .await;
        assert_eq!(s, 400);
    }

    #[tokio::test]
    async fn consent_scopes_and_authorize_errors() {
        let p = FakeProvider::start(Config::default());
        p.set_consent(Consent::Deny);
        let (_, q) = authorize(&p, &[]).await;
        assert_eq!(q["error"], "access_denied");
        assert_eq!(q["state"], "st-123");
        p.set_consent(Consent::Approve);

        // Partial grant, then include_granted_scopes brings earlier scopes back.
        p.set_partial_grant(Some(vec![
            "https://www.googleapis.com/auth/gmail.readonly".into()
        ]));
        p.set_account("bo@firm.example");
        let (_, q) = authorize(&p, &[]).await;
        assert_eq!(q["scope"], "openid email profile");
        let (_, tok) = exchange(&p, &q["code"]).await;
        let access = tok["access_token"].as_str().unwrap();
        let (s, body) = get_bearer(&p, Endpoint::GmailProfile, access).await;
        assert_eq!(s, 403);
        assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
        assert_eq!(
            get_bearer(&p, Endpoint::Userinfo, access).await.1["email"],
            "bo@firm.example"
        );
        p.set_partial_grant(None);
        let (_, q) = authorize(&p, &[("scope", "https://mail.google.com/")]).await;
        // (a repeated "scope" parameter: the last one wins)
        assert_eq!(q["scope"], "https://mail.google.com/");
        let (_, q2) = authorize(&p, &[("include_granted_scopes", "true")]).await;
        assert_eq!(q2["scope"], format!("{SCOPES} https://mail.google.com/"));

        // Scope removed later: refresh omits it, profile → 403.
        let (_, tok) = exchange(&p, &q2["code"]).await;
        let refresh = tok["refresh_token"].as_str().unwrap();
        p.remove_granted_scope("bo@firm.example", "https://mail.google.com/");
        p.remove_granted_scope(
            "bo@firm.example",
            "https://www.googleapis.com/auth/gmail.readonly",
        );
        assert_eq!(
            get_bearer(
                &p,
                Endpoint::GmailProfile,
                tok["access_token"].as_str().unwrap()
            )
            .await
            .0,
            403
        );
        let (_, r) = token(
            &p,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(r["scope"], "openid email profile", "{r}");

        // revoke_all_for: refresh → invalid_grant.
        p.revoke_all_for("bo@firm.example");
        let (s, body) = token(
            &p,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));

        // Error page for an unknown client; bad redirect; missing PKCE.
        let r = client()
            .get(auth_url(&p, &[]).replace(&p.client_id(), "nope"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("invalid_client"));
        let bad = auth_url(&p, &[]).replace(
            "dev.keyport%3A%2Foauth%2Fcallback",
            "http%3A%2F%2Flocalhost%2Fcb",
        );
        assert_eq!(client().get(bad).send().await.unwrap().status(), 400);
        let loop_ok = auth_url(&p, &[]).replace(
            "dev.keyport%3A%2Foauth%2Fcallback",
            "http%3A%2F%2F127.0.0.1%3A5555%2Fcallback",
        );
        let loc = p.follow_authorize(&loop_ok).unwrap();
        assert!(loc.starts_with("http://127.0.0.1:5555/callback?"), "{loc}");
        let no_pkce =
            auth_url(&p, &[]).replace("code_challenge_method=S256", "code_challenge_method=plain");
        let loc = p.follow_authorize(&no_pkce).unwrap();
        assert_eq!(query_of(&loc)["error"], "invalid_request");
    }

    #[tokio::test]
    async fn faults() {
        let p = FakeProvider::start(Config::default());
        let refresh_form = [("grant_type", "refresh_token"), ("refresh_token", "x")];

        p.set_fault_times(
            Endpoint::Token,
            Fault::RateLimited {
                retry_after_secs: 7,
            },
            1,
        );
        let r = client()
            .post(p.url(Endpoint::Token))
            .form(&refresh_form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        // Once only: next one gets the normal answer.
        let r = client()
            .post(p.url(Endpoint::Token))
            .form(&refresh_form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(p.token_requests("refresh_token"), 2);

        p.set_fault(Endpoint::Token, Some(Fault::Status(503)));
        for _ in 0..2 {
            let r = client()
                .post(p.url(Endpoint::Token))
                .form(&refresh_form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 503);
        }
        p.set_fault(Endpoint::Token, Some(Fault::Malformed));
        let r = client()
            .post(p.url(Endpoint::Token))
            .form(&refresh_form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.json::<Value>().await.is_err());
        p.set_fault(Endpoint::Token, Some(Fault::InvalidGrant));
        let r = client()
            .post(p.url(Endpoint::Token))
            .form(&refresh_form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
        p.set_fault(Endpoint::Token, Some(Fault::Huge));
        let r = client()
            .post(p.url(Endpoint::Token))
            .form(&refresh_form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().len(), HUGE_BODY_BYTES);
        p.set_fault(Endpoint::Token, Some(Fault::Reset));
        let err = client()
            .post(p.url(Endpoint::Token))
            .form(&refresh_form)
            .send()
            .await;
        assert!(err.is_err(), "{err:?}");
        p.set_fault(
            Endpoint::Token,
            Some(Fault::Slow(Duration::from_millis(300))),
        );
        let t0 = Instant::now();
        let r = client()
            .post(p.url(Endpoint::Token))
            .form(&refresh_form)
            .send()
            .await
            .unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert_eq!(r.status(), 400);
        p.set_fault(Endpoint::Token, None);
        // The server is still fine after a reset.
        let r = client().get(p.base_url()).send().await.unwrap();
        assert!(r.text().await.unwrap().contains("test provider"));
    }

    #[test]
    fn usable_from_sync_code() {
        let p = FakeProvider::start(Config::default());
        let loc = p.follow_authorize(&auth_url(&p, &[])).unwrap();
        assert!(query_of(&loc).contains_key("code"));
        assert_eq!(p.requests(Endpoint::Authorize), 1);
        p.reset_counts();
        assert!(p.authorize_requests().is_empty());
        drop(p); // stops the server thread
    }

    #[test]
    fn args() {
        let c = super::parse_args(
            ["--port", "0", "--rotate", "--client-secret", "s"].map(String::from),
        )
        .unwrap();
        assert!(c.rotate_refresh_tokens);
        assert_eq!(c.client_secret, "s");
        assert!(super::parse_args(["--bogus".to_string()]).is_err());
    }
}
