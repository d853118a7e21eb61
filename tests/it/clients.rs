//! OAuth clients: the organisation's policy, the person's own (checked and
//! imported from Google's JSON), and what `keyport client list` says.

use crate::common::{stderr, stdout, Env};

/// Writes the organisation's policy into this environment's policy folder
/// (as an administrator writes /etc/keyport/policy.toml), user-only.
fn write_policy(env: &Env, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = env.paths.policy_dir.clone().unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("policy.toml");
    std::fs::write(&file, text).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    file
}

fn error_json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|_| panic!("a JSON error, got: {}", stderr(out)))
}

#[test]
fn a_locked_organisation_client_connects_and_cannot_be_replaced() {
    let env = Env::new();
    write_policy(
        &env,
        &format!(
            "integrations = [\"gmail\"]\nredirect_modes = [\"loopback\", \"deep-link\"]\n\n\
             [clients.google]\nclient_id = \"{}\"\nclient_secret = \"{}\"\nlocked = true\n",
            env.provider.client_id(),
            env.provider.client_secret()
        ),
    );
    // The catalog points Gmail at the fake provider; the person confirms it.
    let trust = env.cli(&["client", "trust", "gmail", "--yes"]);
    assert!(trust.status.success(), "{}", stderr(&trust));

    let list = stdout(&env.cli(&["client", "list"]));
    let google = list.lines().find(|l| l.starts_with("google")).unwrap();
    assert!(google.contains("organisation (locked)"), "{list}");
    assert!(
        !list.contains(&env.provider.client_secret()),
        "never a secret"
    );

    // Connect works with no `client set` at all.
    let out = env.cli(&["connect", "gmail", "--timeout", "30", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["status"], "active");

    // The person cannot replace a locked client.
    let set = env.cli_stdin(
        &[
            "client",
            "set",
            "google",
            "--client-id",
            "999-mine.apps.googleusercontent.com",
            "--client-secret-stdin",
        ],
        "mine\n",
    );
    assert_eq!(set.status.code(), Some(1));
    assert!(stderr(&set).contains("[policy.locked]"), "{}", stderr(&set));

    // Only the offered integrations, only the allowed redirects.
    let ids: Vec<String> =
        serde_json::from_slice::<serde_json::Value>(&env.cli(&["integrations", "--json"]).stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(ids, ["gmail"]);
    let drive = env.cli(&["connect", "google-drive", "--no-browser", "--json"]);
    assert_eq!(error_json(&drive)["code"], "policy.forbidden");
    let relay = env.cli(&[
        "connect",
        "gmail",
        "--redirect",
        "relay",
        "--no-browser",
        "--json",
    ]);
    assert_eq!(error_json(&relay)["code"], "policy.forbidden");
    env.assert_no_secrets_leaked();
}

#[test]
fn an_organisation_default_gives_way_to_the_persons_own_client() {
    let env = Env::new();
    write_policy(
        &env,
        "[clients.google]\nclient_id = \"111-org.apps.googleusercontent.com\"\nclient_secret = \"org-secret\"\n",
    );
    let list = stdout(&env.cli(&["client", "list"]));
    assert!(
        list.lines().any(|l| l.starts_with("google")
            && l.contains("organisation")
            && !l.contains("locked")),
        "{list}"
    );
    let set = env.cli_stdin(
        &[
            "client",
            "set",
            "google",
            "--client-id",
            "222-mine.apps.googleusercontent.com",
            "--client-secret-stdin",
        ],
        "mine\n",
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let json: serde_json::Value =
        serde_json::from_slice(&env.cli(&["client", "list", "--json"]).stdout).unwrap();
    let google = json
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "google")
        .unwrap();
    assert_eq!(google["source"], "personal");
    assert_eq!(google["client_id"], "222-mine.apps.googleusercontent.com");
}

#[test]
fn personal_clients_can_be_forbidden() {
    let env = Env::new();
    write_policy(&env, "personal_clients = false\n");
    let set = env.cli_stdin(
        &[
            "client",
            "set",
            "google",
            "--client-id",
            "222-mine.apps.googleusercontent.com",
            "--client-secret-stdin",
        ],
        "mine\n",
    );
    assert_eq!(set.status.code(), Some(1));
    assert!(
        stderr(&set).contains("[policy.forbidden]"),
        "{}",
        stderr(&set)
    );
}

#[test]
fn a_malformed_policy_is_reported_with_its_line_and_refuses_sign_ins() {
    let env = Env::new();
    let file = write_policy(
        &env,
        "integrations = [\"gmail\"]\npersonal_clients = \"no\"\n",
    );
    // The CLI still starts and lists what there is.
    assert!(env.cli(&["integrations"]).status.success());
    // A client set earlier is not used while the policy is broken: the
    // organisation may forbid it.
    let out = env.cli(&["connect", "gmail", "--no-browser", "--json"]);
    let err = error_json(&out);
    assert_eq!(err["code"], "policy.invalid");
    assert_eq!(err["detail"]["line"], 2);
    assert_eq!(err["detail"]["field"], "personal_clients");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{}:2:", file.display())),
        "{err}"
    );
    assert!(env.provider.authorize_requests().is_empty());
}

#[test]
fn a_policy_file_others_can_change_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let file = write_policy(&env, "personal_clients = true\n");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = env.cli(&["connect", "gmail", "--no-browser", "--json"]);
    let err = error_json(&out);
    assert_eq!(err["code"], "policy.unsafe");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("other users can change it"),
        "{err}"
    );
}

#[test]
fn client_ids_of_the_wrong_shape_and_missing_secrets_are_refused_before_any_browser() {
    let env = Env::new();
    let wrong = env.cli(&["client", "set", "google", "--client-id", "12345"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains(".apps.googleusercontent.com")
            && stderr(&wrong).contains("[client.invalid]"),
        "{}",
        stderr(&wrong)
    );
    // Google needs the secret too: no state where the card says "set" and
    // Connect refuses.
    let no_secret = env.cli(&[
        "client",
        "set",
        "google",
        "--client-id",
        "1-a.apps.googleusercontent.com",
    ]);
    assert_eq!(no_secret.status.code(), Some(1));
    assert!(
        stderr(&no_secret).contains("client secret"),
        "{}",
        stderr(&no_secret)
    );
    let ms = env.cli(&["client", "set", "microsoft", "--client-id", "not-a-guid"]);
    assert!(stderr(&ms).contains("[client.invalid]"), "{}", stderr(&ms));
    assert!(env.provider.authorize_requests().is_empty());
    let none = stdout(&env.cli(&["client", "list"]));
    assert!(none.starts_with("No OAuth client"), "{none}");
}

#[test]
fn googles_downloaded_client_json_imports_and_a_web_client_is_refused() {
    let env = Env::new();
    let dir = env.root.join("downloads");
    std::fs::create_dir_all(&dir).unwrap();
    let web = dir.join("client_secret_web.json");
    std::fs::write(
        &web,
        r#"{"web":{"client_id":"1-w.apps.googleusercontent.com","client_secret":"GOCSPX-web"}}"#,
    )
    .unwrap();
    let refused = env.cli(&["client", "import", web.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("Desktop app"),
        "{}",
        stderr(&refused)
    );

    let desktop = dir.join("client_secret_desktop.json");
    std::fs::write(
        &desktop,
        format!(
            r#"{{"installed":{{"client_id":"{}","project_id":"keyport-test","client_secret":"{}","redirect_uris":["http://localhost"]}}}}"#,
            env.provider.client_id(),
            env.provider.client_secret()
        ),
    )
    .unwrap();
    let ok = env.cli(&["client", "import", desktop.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let trust = env.cli(&["client", "trust", "gmail", "--yes"]);
    assert!(trust.status.success(), "{}", stderr(&trust));
    let out = env.cli(&["connect", "gmail", "--timeout", "30", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.assert_no_secrets_leaked();
}
