//! The binary's faces: --version, --help, errors, and deep links given as
//! the only argument.

use crate::common::{stderr, stdout, Env};

#[test]
fn version_and_help() {
    let env = Env::new();
    let v = env.cli(&["--version"]);
    assert!(v.status.success());
    assert_eq!(
        stdout(&v).trim(),
        format!("keyport {}", env!("CARGO_PKG_VERSION"))
    );
    let h = env.cli(&["--help"]);
    assert!(h.status.success());
    let help = stdout(&h);
    for cmd in ["integrations", "connect", "open-url", "list", "client"] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
}

#[test]
fn unknown_command_fails_with_usage() {
    let env = Env::new();
    let out = env.cli(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Usage"));
}

#[test]
fn open_url_rejects_hostile_and_unknown_links_without_panicking() {
    let env = Env::new();
    for (url, code) in [
        (
            "dev.keyport:/oauth/callback?state=unknownstate123&code=y",
            "oauth.state_mismatch",
        ),
        ("dev.keyport:/elsewhere?state=s&code=c", "deeplink.invalid"),
        (
            "https://evil.example/oauth/callback?state=s&code=c",
            "deeplink.invalid",
        ),
        (
            "dev.keyport:/oauth/callback?state=a&state=b&code=c",
            "deeplink.invalid",
        ),
        ("dev.keyport:/oauth/callback?code=c", "deeplink.invalid"),
    ] {
        let out = env.cli(&["open-url", url]);
        assert_eq!(out.status.code(), Some(1), "{url}");
        let err = stderr(&out);
        assert!(err.contains(code), "{url}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let log = std::fs::read_to_string(env.paths.log_file()).unwrap();
    assert!(
        log.contains("oauth.state_mismatch"),
        "the rejection is logged:\n{log}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.paths.log_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the log is user-only");
    }
}

#[test]
fn list_starts_empty_and_explains() {
    let env = Env::new();
    let out = env.cli(&["list"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("No connections yet"));
    let json = env.cli(&["list", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&json.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn corrupt_database_is_a_typed_error_and_is_left_alone() {
    let env = Env::new();
    std::fs::create_dir_all(&env.paths.data_dir).unwrap();
    let db = env.paths.database();
    let garbage = vec![0x5au8; 16 * 1024];
    std::fs::write(&db, &garbage).unwrap();
    let out = env.cli(&["list", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["code"], "store.corrupt");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the damaged file is not overwritten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_removes_the_data_folder_and_every_keyring_entry() {
    let (env, kp) = crate::common::Env::ready().await;
    let c = crate::common::connect_as(&env, &kp, "ana@firm.example").await;
    // Without a terminal and without --yes, reset refuses.
    let refused = env.cli(&["reset"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    assert!(env.paths.database().exists());

    let out = env.cli(&["reset", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Keyport was reset"));
    assert!(!env.paths.data_dir.exists(), "the data folder is gone");
    assert!(
        env.paths.user_catalog().exists(),
        "the user's catalog file is kept"
    );
    let secrets = env.secrets();
    assert!(
        secrets.get_tokens(&c.id).unwrap().is_none(),
        "the connection's tokens are gone"
    );
    let client = keyport_core::secrets::SecretKey::ClientSecret("google".into());
    assert!(
        secrets.get(&client).unwrap().is_none(),
        "the client secret is gone"
    );
    assert_eq!(
        secrets.list().unwrap(),
        Vec::<String>::new(),
        "no keyring entry of this data folder is left"
    );
    env.assert_no_secrets_leaked();
}

#[test]
fn keyport_without_a_command_starts_the_app_beside_it_with_the_link() {
    let env = crate::common::Env::new();
    // A stand-in app that prints what it was given.
    let link = "dev.keyport:/oauth/callback?state=abc&code=xyz";
    let out = env
        .command()
        .env("KEYPORT_APP", "/bin/echo")
        .arg(link)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), link, "the app got the link");

    let missing = env
        .command()
        .env("KEYPORT_APP", "/nonexistent/keyport-app")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let why = stderr(&missing);
    assert!(
        why.contains("/nonexistent/keyport-app") && why.contains("[app.not_found]"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_names_integrations_and_labels_by_account_and_a_typo_gets_a_suggestion() {
    let (env, kp) = crate::common::Env::ready().await;
    let c = crate::common::connect_as(&env, &kp, "ana@firm.example").await;
    kp.rename(&c.id, Some("Client: Müller GmbH")).unwrap();
    let table = stdout(&env.cli(&["list"]));
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("ana@firm.example")
            && row.contains("Gmail")
            && row.contains("Client: Müller GmbH")
            && row.contains("active"),
        "{table}"
    );
    let typo = env.cli(&["connect", "gmial"]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        stderr(&typo).contains("Did you mean \"gmail\"?"),
        "{}",
        stderr(&typo)
    );
    env.assert_no_secrets_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_note_and_export_as_csv_and_json_without_secrets() {
    let (env, kp) = crate::common::Env::ready().await;
    let c = crate::common::connect_as(&env, &kp, "ana@firm.example").await;
    crate::common::connect_as(&env, &kp, "bo@firm.example").await;
    let labelled = env.cli(&[
        "label",
        "ana@firm.example",
        "=HYPERLINK(\"https://evil.example\")",
        "--note",
        "Client: Müller GmbH, VAT returns",
    ]);
    assert!(labelled.status.success(), "{}", stderr(&labelled));
    assert!(
        stdout(&labelled).contains("Note: Client: Müller GmbH, VAT returns"),
        "{}",
        stdout(&labelled)
    );
    assert_eq!(
        kp.get(&c.id).unwrap().note.as_deref(),
        Some("Client: Müller GmbH, VAT returns")
    );
    // A note too long changes nothing, the label included.
    let long = "x".repeat(2001);
    let refused = env.cli(&["label", "ana@firm.example", "Other", "--note", &long]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("at most 2000 characters"));
    assert_eq!(
        kp.get(&c.id).unwrap().label.as_deref(),
        Some("=HYPERLINK(\"https://evil.example\")")
    );
    let nothing = env.cli(&["label", "ana@firm.example"]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(stderr(&nothing).contains("input.invalid"));

    // CSV: a header, one row per connection; the formula-looking label stays text.
    let csv = stdout(&env.cli(&["export"]));
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("account,name,provider,integration,label,note,status,"),
        "{csv}"
    );
    let ana = lines.find(|l| l.starts_with("ana@")).unwrap();
    assert!(
        ana.contains(",Gmail,\"'=HYPERLINK(\"\"https://evil.example\"\")\",")
            && ana.contains("\"Client: Müller GmbH, VAT returns\",Active,active,"),
        "{ana}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");

    // JSON to a file: the same rows, the label as it was typed.
    let file = env.root.join("export.json");
    let wrote = env.cli(&["export", "--format", "json", "-o", file.to_str().unwrap()]);
    assert!(
        stderr(&wrote).contains("Wrote 2 connections"),
        "{}",
        stderr(&wrote)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the export is the user's only: {mode:o}");
    }
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["label"], "=HYPERLINK(\"https://evil.example\")");
    assert_eq!(rows[0]["status"], "Active");
    assert_eq!(rows[1]["account"], "bo@firm.example");
    let bad = env.cli(&["export", "--format", "xlsx"]);
    assert!(stderr(&bad).contains("input.invalid"), "{}", stderr(&bad));
    let secrets = env.provider.issued_secrets();
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()) && !csv.contains(secret.as_str()));
    }
    env.assert_no_secrets_leaked();
}
