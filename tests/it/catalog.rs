//! The catalog as the CLI shows it: built-ins, user overrides, bad files.

use crate::common::{stderr, stdout, Env};

#[test]
fn integrations_json_lists_the_four_builtins() {
    let env = Env::new();
    std::fs::remove_file(env.paths.user_catalog()).unwrap();
    let out = env.cli(&["integrations", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gmail", "google-calendar", "google-drive", "outlook"]);
    let gmail = &list[0];
    assert_eq!(gmail["name"], "Gmail");
    assert_eq!(gmail["provider"], "google");
    assert_eq!(gmail["redirect"], "loopback");
    assert_eq!(gmail["configured"], false);
    assert_eq!(gmail["custom"], false);
    let presets: Vec<&str> = gmail["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        presets,
        ["Read mail", "Read and send", "Full mailbox (IMAP/SMTP)"]
    );
    assert_eq!(list[3]["name"], "Outlook (Microsoft 365)");
}

#[test]
fn integrations_table_is_readable() {
    let env = Env::new();
    let out = env.cli(&["integrations"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.lines().next().unwrap().starts_with("ID"));
    assert!(text.contains("gmail") && text.contains("Google Drive") && text.contains("needed"));
}

#[test]
fn user_file_adds_a_custom_integration_and_overrides_gmail() {
    let env = Env::new();
    env.write_catalog(
        r#"
[[integration]]
id = "acme-mail"
name = "Acme Mail"
provider = "acme"
authorize_url = "https://id.acme.example/authorize"
token_url = "https://id.acme.example/token"
scopes = ["openid", "email", "mail.read"]
client_id = "abc123"
redirect = "deep-link"
"#,
    );
    let out = env.cli(&["integrations", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let acme = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "acme-mail")
        .unwrap();
    assert_eq!(
        acme["configured"], true,
        "a client_id in the catalog configures it"
    );
    assert_eq!(acme["custom"], true);
    assert_eq!(
        list[0]["overridden"], true,
        "gmail was overridden by the user file"
    );
    assert_eq!(
        list[0]["custom"], false,
        "an override is not a custom integration"
    );
}

#[test]
fn bad_user_file_is_rejected_with_file_line_and_field() {
    let env = Env::new();
    std::fs::write(
        env.paths.user_catalog(),
        "[[integration]]\nid = \"gmail\"\ntoken_url = 42\n",
    )
    .unwrap();
    let out = env.cli(&["integrations", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value =
        serde_json::from_slice(&out.stderr).expect("typed JSON error on stderr");
    assert_eq!(err["code"], "catalog.invalid");
    assert_eq!(err["detail"]["line"], 3);
    assert_eq!(
        err["detail"]["column"], 13,
        "the column of the bad value `42`"
    );
    assert_eq!(err["detail"]["field"], "token_url");
    let file = err["detail"]["file"].as_str().unwrap();
    assert!(file.ends_with("integrations.toml"), "{file}");
    let plain = env.cli(&["integrations"]);
    let msg = stderr(&plain);
    assert!(
        msg.contains("integrations.toml:3:13") && msg.contains("token_url"),
        "{msg}"
    );
}
