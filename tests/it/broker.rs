//! `keyport token` as local mail software and scripts use it: the bare
//! token, SASL XOAUTH2 and OAUTHBEARER initial responses, JSON, and the exit
//! code that says the connection needs the person.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use keyport_core::store::Status;

use crate::common::{connect_as, expire_locally, stderr, stdout, Env};

fn decoded(out: &std::process::Output) -> String {
    let line = stdout(out);
    let bytes = STANDARD
        .decode(line.trim_end())
        .unwrap_or_else(|e| panic!("not base64 ({e}): {line:?}"));
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_formats_carry_a_working_token_for_the_account() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;

    let bare = env.cli(&["token", "ana@firm.example"]);
    assert!(bare.status.success(), "{}", stderr(&bare));
    let token = stdout(&bare).trim_end().to_string();
    assert!(env.provider.access_token_valid(&token));

    let out = env.cli(&["token", &c.id, "--xoauth2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        decoded(&out),
        format!("user=ana@firm.example\x01auth=Bearer {token}\x01\x01")
    );

    let out = env.cli(&["token", &c.id, "--oauthbearer"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        decoded(&out),
        format!("n,a=ana@firm.example,\x01auth=Bearer {token}\x01\x01")
    );

    let out = env.cli(&["token", &c.id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["access_token"], token.as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["account"], "ana@firm.example");
    assert_eq!(v["connection"], c.id.as_str());
    assert_eq!(v["integration"], "gmail");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expires = v["expires_at"].as_i64().expect("expiry in Unix seconds");
    assert!(expires > now + 60 && expires < now + 2 * 3600, "{expires}");
    let scopes: Vec<&str> = v["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        scopes.contains(&"https://www.googleapis.com/auth/gmail.readonly"),
        "{scopes:?}"
    );

    // One format at a time: a usage error, nothing printed.
    let out = env.cli(&["token", &c.id, "--xoauth2", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_failures_are_typed_and_needing_the_person_has_its_own_exit_code() {
    let (env, kp) = Env::ready().await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;

    let out = env.cli(&["token", "nobody@firm.example", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err: serde_json::Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(err["code"], "connection.not_found", "{err}");

    env.provider.revoke_all_for("ana@firm.example");
    expire_locally(&env, &c.id);
    for args in [
        vec!["token", c.id.as_str()],
        vec!["token", c.id.as_str(), "--xoauth2"],
    ] {
        let out = env.cli(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}");
        let line = stderr(&out);
        assert_eq!(line.trim_end().lines().count(), 1, "one line: {line}");
        assert!(line.contains("[connection.needs_reauth]"), "{line}");
    }
    let out = env.cli(&["token", &c.id, "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let err: serde_json::Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(err["code"], "connection.needs_reauth");
    assert_eq!(kp.get(&c.id).unwrap().status, Status::NeedsReauth);
    env.assert_no_secrets_leaked();
}

/// `keyport <args>` started by `program` (a stand-in for a mail client),
/// with the test environment's variables.
fn started_by(env: &Env, program: &[&str], args: &[&str]) -> std::process::Output {
    let out = env
        .command_of(program[0])
        .args(&program[1..])
        .arg(env!("CARGO_BIN_EXE_keyport"))
        .args(args)
        .output()
        .unwrap();
    env.record(&out, args.first() == Some(&"token"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_history_names_the_programs_that_took_tokens() {
    let (env, kp) = Env::ready().await;
    let ana = connect_as(&env, &kp, "ana@firm.example").await;
    let bo = connect_as(&env, &kp, "bo@firm.example").await;

    let out = env.cli(&["log"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        "No program has been handed a token yet."
    );

    // A program that runs keyport itself, and one that goes through a
    // shell (as msmtp's passwordeval does): the shell is looked past.
    let out = started_by(&env, &["timeout", "60"], &["token", &ana.id, "--xoauth2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = format!(
        "'{}' token bo@firm.example >/dev/null; true",
        env!("CARGO_BIN_EXE_keyport")
    );
    let out = started_by(&env, &["timeout", "60", "sh", "-c", &line], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A failed request hands nothing out and records nothing.
    assert_eq!(
        env.cli(&["token", "nobody@firm.example"]).status.code(),
        Some(1)
    );

    let out = env.cli(&["log", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(all.len(), 2, "{all:?}");

    // A script run by a shell is named by the script, not the shell.
    let script = env.root.join("invoice-import.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\"$1\" token bo@firm.example >/dev/null\necho imported\n",
    )
    .unwrap();
    let out = started_by(&env, &["sh", script.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let newest = &kp.usage(None, 1).unwrap()[0];
    assert_eq!(newest.program.as_deref(), Some("invoice-import.sh"));
    assert_eq!(newest.program_path.as_deref(), script.to_str());
    assert_eq!(newest.connection_id, bo.id);

    // Newest first (before the script's).
    assert_eq!(all[0]["connection_id"], bo.id.as_str());
    assert_eq!(all[0]["kind"], "token");
    assert_eq!(all[1]["connection_id"], ana.id.as_str());
    assert_eq!(all[1]["kind"], "xoauth2");
    let timeout = std::fs::canonicalize(which("timeout")).unwrap();
    for u in &all {
        assert_eq!(u["program"], "timeout", "{u}");
        assert_eq!(u["program_path"], timeout.to_str().unwrap(), "{u}");
    }

    let out = env.cli(&["log", "ana@firm.example"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("ana@firm.example  xoauth2  timeout (")
            && text.contains(timeout.to_str().unwrap()),
        "{text}"
    );
    let out = env.cli(&["log", "nobody@firm.example"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[connection.not_found]"));

    // The history goes with its connection.
    kp.disconnect(&ana.id).await.unwrap();
    assert_eq!(kp.usage(None, 10).unwrap().len(), 2);
    env.assert_no_secrets_leaked();
}

fn which(program: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

/// Every JSON document `keyport api` printed, in order.
fn documents(out: &std::process::Output) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not JSON documents ({e}): {}", stdout(out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyport_api_calls_the_providers_api_with_the_token_and_nowhere_else() {
    let env = Env::new();
    let base = env.provider.base_url();
    env.write_catalog(&format!("api_origins = [\"{base}\"]"));
    let kp = env.keyport();
    env.set_google_client(&kp).await;
    let c = connect_as(&env, &kp, "ana@firm.example").await;

    // A path on the API: the reply as it came (stdout is not a terminal).
    let out = env.cli(&["api", &c.id, "/gmail/v1/users/me/profile"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(documents(&out)[0]["emailAddress"], "ana@firm.example");

    // Query fields and every page: 25 messages, 10 a page.
    let out = env.cli(&[
        "api",
        "ana@firm.example",
        "/gmail/v1/users/me/messages",
        "-f",
        "maxResults=10",
        "--paginate",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pages = documents(&out);
    assert_eq!(pages.len(), 3, "{pages:?}");
    let ids: Vec<String> = pages
        .iter()
        .flat_map(|p| p["messages"].as_array().unwrap().clone())
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..fake_provider::LISTED_MESSAGES)
        .map(|i| format!("m{i:04}"))
        .collect();
    assert_eq!(ids, expected);
    assert!(pages[2].get("nextPageToken").is_none());

    // The provider stops accepting the access token before it expires
    // locally: one refresh, one retry, and the call succeeds.
    // (Issued a while ago: a token refused the minute it was issued is not
    // refreshed, as the API would refuse the next one too.)
    let secrets = env.secrets();
    let mut t = secrets.get_tokens(&c.id).unwrap().unwrap();
    t.obtained_at -= 600;
    secrets.set_tokens(&c.id, &t).unwrap();
    env.provider.reset_counts();
    env.provider.expire_access_tokens();
    let out = env.cli(&["api", &c.id, "/gmail/v1/users/me/profile"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.provider.token_requests("refresh_token"), 1);
    assert_eq!(
        env.provider.requests(fake_provider::Endpoint::GmailProfile),
        2
    );
    // Refused again the minute after: printed and failed, no refresh.
    env.provider.reset_counts();
    env.provider.expire_access_tokens();
    let out = env.cli(&["api", &c.id, "/gmail/v1/users/me/profile"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("HTTP 401. [api.status]"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.provider.token_requests("refresh_token"), 0);
    expire_locally(&env, &c.id); // the next call refreshes ahead, as usual

    // Another host never sees the token: refused before any request.
    env.provider.reset_counts();
    for foreign in [
        "https://evil.example/gmail/v1/users/me/profile".to_string(),
        base.replace("127.0.0.1", "127.0.0.2") + "/gmail/v1/users/me/profile",
        base.replace("127.0.0.1", "localhost") + "/gmail/v1/users/me/profile",
    ] {
        let out = env.cli(&["api", &c.id, &foreign]);
        assert_eq!(out.status.code(), Some(1), "{foreign}");
        assert!(stdout(&out).is_empty(), "{foreign}");
        assert!(
            stderr(&out).contains("[api.foreign_host]"),
            "{foreign}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        env.provider.requests(fake_provider::Endpoint::GmailProfile),
        0
    );
    assert_eq!(env.provider.token_requests("refresh_token"), 0);

    // An error reply is printed and fails with its status.
    let out = env.cli(&["api", &c.id, "/gmail/v1/users/bo@firm.example/profile"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(documents(&out)[0]["error"]["code"], 403);
    assert!(
        stderr(&out).contains("The API answered HTTP 403. [api.status]"),
        "{}",
        stderr(&out)
    );

    // A next page on another host: the pages before it are printed, the
    // token is not sent there.
    let out = env.cli(&[
        "api",
        &c.id,
        "/gmail/v1/users/me/messages",
        "-f",
        "maxResults=30",
        "-f",
        "odataNext=https://evil.example/steal",
        "--paginate",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(documents(&out).len(), 1);
    assert!(
        stderr(&out).contains("[api.foreign_host]"),
        "{}",
        stderr(&out)
    );

    // Bad input: typed errors, no request, the value never echoed.
    env.provider.reset_counts();
    let missing = env.root.join("no-such-body.json");
    let profile = "/gmail/v1/users/me/profile";
    let cases: [(Vec<&str>, &str); 5] = [
        (vec!["--input", missing.to_str().unwrap()], "input.invalid"),
        (
            vec!["-H", "Authorization Bearer private-value"],
            "input.invalid",
        ),
        (vec!["-H", "X-Ok: private-value\u{1}"], "input.invalid"),
        (vec!["-X", "GE T"], "input.invalid"),
        (vec![], "connection.not_found"),
    ];
    for (extra, code) in cases {
        let who = if extra.is_empty() {
            "nobody@firm.example"
        } else {
            c.id.as_str()
        };
        let mut args = vec!["api", who, profile];
        args.extend(extra);
        let out = env.cli(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains(&format!("[{code}]")),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("private-value"), "{}", stderr(&out));
    }
    assert_eq!(
        env.provider.requests(fake_provider::Endpoint::GmailProfile),
        0
    );
    assert_eq!(env.provider.requests(fake_provider::Endpoint::Token), 0);
    let log = std::fs::read_to_string(env.paths.log_file()).unwrap_or_default();
    assert!(
        !log.contains("private-value"),
        "the log holds a header's value"
    );

    // Every call that reached the API is in the usage history (those
    // refused before a token was read are not).
    let uses = kp.usage(Some(&c.id), 50).unwrap();
    assert_eq!(
        uses.iter().filter(|u| u.kind == "api").count(),
        6,
        "{uses:?}"
    );
    env.assert_no_secrets_leaked();
}

/// The sh block under `heading` in docs/BROKER.md, as a reader copies it.
fn documented_script(heading: &str) -> String {
    let doc = include_str!("../../docs/BROKER.md");
    let after = doc
        .split_once(heading)
        .unwrap_or_else(|| panic!("docs/BROKER.md has no {heading:?}"))
        .1;
    let block = after
        .split_once("```sh\n")
        .expect("a sh block")
        .1
        .split_once("```")
        .expect("the block's end")
        .0;
    block.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_invoice_loop_reads_every_mailbox_and_names_the_one_to_reconnect() {
    let env = Env::new();
    let base = env.provider.base_url();
    env.write_catalog(&format!("api_origins = [\"{base}\"]"));
    let kp = env.keyport();
    env.set_google_client(&kp).await;
    connect_as(&env, &kp, "ana@firm.example").await;
    let bo = connect_as(&env, &kp, "bo@firm.example").await;
    // The loop exactly as the docs give it, for these two mailboxes.
    let script = documented_script("### A script that reads invoices from several mailboxes")
        .replace("client-a@firm.example", "ana@firm.example")
        .replace("client-b@firm.example", "bo@firm.example");
    let keyport_dir = std::path::Path::new(env!("CARGO_BIN_EXE_keyport"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(keyport_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let run = || {
        let out = env
            .command_of("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", &path)
            .output()
            .unwrap();
        env.record(&out, false);
        out
    };
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let pages = documents(&out);
    let listed: usize = pages
        .iter()
        .map(|p| p["messages"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        listed as u64,
        2 * fake_provider::LISTED_MESSAGES,
        "{pages:?}"
    );

    // bo's access is revoked: the loop says so and goes on with ana.
    env.provider.revoke_all_for("bo@firm.example");
    expire_locally(&env, &bo.id);
    let out = run();
    assert!(
        stderr(&out).contains("bo@firm.example needs to be reconnected"),
        "{}",
        stderr(&out)
    );
    let listed: usize = documents(&out)
        .iter()
        .map(|p| p["messages"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(listed as u64, fake_provider::LISTED_MESSAGES);
    env.assert_no_secrets_leaked();
}
