//! Organisation policy: a system-wide `policy.toml` an IT administrator
//! deploys — OAuth clients per provider (a default, or locked), which
//! integrations and redirect modes are offered, whether the person's own
//! catalog entries and OAuth clients are allowed.
//!
//! ```toml
//! integrations = ["gmail", "google-calendar"]   # offered (absent: all)
//! redirect_modes = ["loopback"]                 # allowed (absent: all)
//! custom_integrations = false                   # the person's integrations.toml
//! personal_clients = false                      # `keyport client set`
//!
//! [clients.google]
//! client_id = "1234-abc.apps.googleusercontent.com"
//! client_secret = "…"        # a Desktop client's secret is not confidential
//! locked = true              # the person cannot replace it
//! ```
//!
//! Where: `KEYPORT_POLICY_DIR` (administrators and tests), else
//! `/etc/keyport/` (Linux), `/Library/Application Support/Keyport/` (macOS),
//! `%ProgramData%\Keyport\` (Windows). A file others can write, or owned by
//! another ordinary user, is refused; a malformed one is reported with its
//! line and field, and Keyport then refuses what a policy governs (clients,
//! sign-ins) instead of falling back to something it might forbid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::catalog::RedirectMode;
use crate::error::{Error, Result};
use crate::secrets::Secret;

/// A client the organisation sets for a provider.
#[derive(Clone, Debug)]
pub struct PolicyClient {
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// Wins over the person's own client, which cannot be set.
    pub locked: bool,
}

/// The organisation's rules; [`Policy::default`] when there is no file.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The file the rules came from.
    pub file: Option<PathBuf>,
    pub clients: BTreeMap<String, PolicyClient>,
    pub integrations: Option<Vec<String>>,
    pub redirect_modes: Option<Vec<RedirectMode>>,
    pub custom_integrations: bool,
    pub personal_clients: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            file: None,
            clients: BTreeMap::new(),
            integrations: None,
            redirect_modes: None,
            custom_integrations: true,
            personal_clients: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    integrations: Option<Vec<String>>,
    redirect_modes: Option<Vec<RedirectMode>>,
    custom_integrations: Option<bool>,
    personal_clients: Option<bool>,
    #[serde(default)]
    clients: BTreeMap<String, ClientEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    client_id: String,
    client_secret: Option<String>,
    #[serde(default)]
    locked: bool,
}

/// The folder the policy file is looked for in.
pub fn policy_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KEYPORT_POLICY_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if cfg!(target_os = "macos") {
        Some(PathBuf::from("/Library/Application Support/Keyport"))
    } else if cfg!(windows) {
        std::env::var_os("ProgramData").map(|d| PathBuf::from(d).join("Keyport"))
    } else {
        Some(PathBuf::from("/etc/keyport"))
    }
}

impl Policy {
    /// The policy in force for `dir` (see [`policy_dir`]): none, the
    /// file's rules, or the reason the file cannot be used.
    pub fn load(dir: Option<&Path>) -> Result<Policy> {
        match dir {
            Some(dir) => Policy::load_file(&dir.join("policy.toml")),
            None => Ok(Policy::default()),
        }
    }

    pub fn load_file(file: &Path) -> Result<Policy> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Policy::default()),
            Err(e) => {
                return Err(Error::PolicyUnsafe {
                    file: file.display().to_string(),
                    reason: format!("it cannot be read ({e})"),
                })
            }
        };
        check_owner(file)?;
        Policy::parse(file, &text)
    }

    pub fn parse(file: &Path, text: &str) -> Result<Policy> {
        let name = file.display().to_string();
        let parsed: PolicyFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let (line, column) = crate::catalog::line_col(text, offset);
            let message = e.message().trim().to_string();
            Error::PolicyInvalid {
                file: name.clone(),
                line,
                column,
                field: crate::catalog::field_in_error(&message, text, offset),
                message,
            }
        })?;
        let invalid = |field: &str, message: String| Error::PolicyInvalid {
            file: name.clone(),
            line: 0,
            column: 0,
            field: field.to_string(),
            message,
        };
        let mut clients = BTreeMap::new();
        for (provider, c) in parsed.clients {
            if let Err(why) = crate::service::check_client_id(&provider, &c.client_id) {
                return Err(invalid(&format!("clients.{provider}.client_id"), why));
            }
            clients.insert(
                provider,
                PolicyClient {
                    client_id: c.client_id.trim().to_string(),
                    client_secret: c.client_secret.filter(|s| !s.is_empty()).map(Secret::new),
                    locked: c.locked,
                },
            );
        }
        if parsed.redirect_modes.as_ref().is_some_and(Vec::is_empty) {
            return Err(invalid(
                "redirect_modes",
                "list at least one redirect mode, or leave the key out".into(),
            ));
        }
        Ok(Policy {
            file: Some(file.to_path_buf()),
            clients,
            integrations: parsed.integrations,
            redirect_modes: parsed.redirect_modes,
            custom_integrations: parsed.custom_integrations.unwrap_or(true),
            personal_clients: parsed.personal_clients.unwrap_or(true),
        })
    }

    /// Whether the organisation offers `integration` (and, for one from the
    /// person's catalog file, allows those).
    pub fn offers(&self, integration: &str, custom: bool) -> bool {
        (!custom || self.custom_integrations)
            && self
                .integrations
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|i| i == integration))
    }

    pub fn allows_redirect(&self, mode: RedirectMode) -> bool {
        self.redirect_modes
            .as_ref()
            .is_none_or(|modes| modes.contains(&mode))
    }
}

/// A policy others can change is no policy: writable by group or others, or
/// owned by an ordinary user other than the one running Keyport.
fn check_owner(file: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(file).map_err(|e| Error::PolicyUnsafe {
            file: file.display().to_string(),
            reason: e.to_string(),
        })?;
        let me = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(u32::MAX);
        let reason = if meta.mode() & 0o022 != 0 {
            Some("other users can change it (run `chmod go-w` on it)".to_string())
        } else if meta.uid() != 0 && meta.uid() != me {
            Some(format!("it belongs to another user (uid {})", meta.uid()))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::PolicyUnsafe {
                file: file.display().to_string(),
                reason,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy> {
        Policy::parse(Path::new("/etc/keyport/policy.toml"), text)
    }

    #[test]
    fn reads_clients_and_limits() {
        let p = parse(
            r#"
integrations = ["gmail"]
redirect_modes = ["loopback"]
personal_clients = false

[clients.google]
client_id = "1234-abc.apps.googleusercontent.com"
client_secret = "GOCSPX-x"
locked = true
"#,
        )
        .unwrap();
        assert!(p.offers("gmail", false) && !p.offers("google-drive", false));
        assert!(p.allows_redirect(RedirectMode::Loopback));
        assert!(!p.allows_redirect(RedirectMode::DeepLink));
        assert!(!p.personal_clients && p.custom_integrations);
        assert!(p.clients["google"].locked);
        assert_eq!(
            format!("{:?}", p.clients["google"].client_secret),
            "Some([redacted])"
        );
    }

    #[test]
    fn a_malformed_file_names_its_line_and_field() {
        let e = parse("integrations = [\"gmail\"]\npersonal_clients = \"no\"\n").unwrap_err();
        assert_eq!(e.code(), "policy.invalid");
        let v = e.to_json();
        assert_eq!(v["detail"]["line"], 2);
        assert_eq!(v["detail"]["field"], "personal_clients");
        let e = parse("[clients.google]\nclient_id = \"not-a-google-id\"\n").unwrap_err();
        assert!(e.to_string().contains("clients.google.client_id"), "{e}");
        assert!(parse("unknown_rule = true\n").is_err());
    }
}
