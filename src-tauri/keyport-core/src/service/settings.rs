//! App-wide preferences (Settings): the default redirect, the relay page and
//! whether closing the window keeps Keyport running in the background.

use super::{Keyport, Settings};
use crate::catalog::RedirectMode;
use crate::error::{Error, Result};

/// The settings-table key of [`Settings::close_to_tray`]: `"false"` when
/// turned off; absent (the default) or anything else is on.
const CLOSE_TO_TRAY: &str = "close_to_tray";

impl Keyport {
    pub fn settings(&self) -> Result<Settings> {
        Ok(Settings {
            default_redirect: self
                .store
                .with(|db| db.setting("default_redirect"))?
                .and_then(|m| RedirectMode::parse(&m).ok()),
            relay_url: self.store.with(|db| db.setting("relay_url"))?,
            close_to_tray: self.store.with(|db| db.setting(CLOSE_TO_TRAY))?.as_deref()
                != Some("false"),
        })
    }

    pub fn set_settings(&self, settings: &Settings) -> Result<Settings> {
        let relay = settings
            .relay_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        if let Some(u) = relay {
            let url = url::Url::parse(u)
                .map_err(|_| Error::InvalidInput(format!("\"{u}\" is not a URL")))?;
            if url.scheme() != "https" {
                return Err(Error::InvalidInput(
                    "the relay page must be an https URL".into(),
                ));
            }
        }
        self.store.transaction(|db| {
            db.set_setting(
                "default_redirect",
                settings.default_redirect.map(RedirectMode::as_str),
            )?;
            db.set_setting("relay_url", relay)?;
            db.set_setting(
                CLOSE_TO_TRAY,
                Some(if settings.close_to_tray {
                    "true"
                } else {
                    "false"
                }),
            )
        })?;
        self.settings()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::secrets::{mock_store, SecretStore};

    fn keyport(dir: &std::path::Path) -> Keyport {
        let paths =
            Paths::at(dir.join("data"), dir.join("config")).with_policy_dir(dir.join("policy"));
        Keyport::open_with(
            paths,
            SecretStore::with_factory("settings-test", mock_store),
        )
        .unwrap()
    }

    #[test]
    fn settings_round_trip_and_keep_running_is_on_until_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let kp = keyport(dir.path());
        let fresh = kp.settings().unwrap();
        assert!(
            fresh.close_to_tray,
            "a new install keeps running when closed"
        );
        assert_eq!(fresh, Settings::default());

        let off = Settings {
            default_redirect: Some(RedirectMode::DeepLink),
            relay_url: Some(" https://relay.example/keyport/ ".into()),
            close_to_tray: false,
        };
        let saved = kp.set_settings(&off).unwrap();
        assert!(!saved.close_to_tray);
        assert_eq!(saved.default_redirect, Some(RedirectMode::DeepLink));
        assert_eq!(
            saved.relay_url.as_deref(),
            Some("https://relay.example/keyport/")
        );
        // Another process (a restart) reads what was saved.
        drop(kp);
        let kp = keyport(dir.path());
        assert_eq!(kp.settings().unwrap(), saved);

        // A refused relay page changes nothing, not even the other fields.
        let bad = kp.set_settings(&Settings {
            relay_url: Some("http://relay.example/".into()),
            close_to_tray: true,
            ..saved.clone()
        });
        assert_eq!(bad.unwrap_err().code(), "input.invalid");
        assert_eq!(kp.settings().unwrap(), saved);

        let on = kp
            .set_settings(&Settings {
                close_to_tray: true,
                ..saved
            })
            .unwrap();
        assert!(on.close_to_tray);
        assert_eq!(on.default_redirect, Some(RedirectMode::DeepLink));
    }
}
