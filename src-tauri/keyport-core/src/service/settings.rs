//! App-wide preferences (Settings): the default redirect and the relay page.

use super::{Keyport, Settings};
use crate::catalog::RedirectMode;
use crate::error::{Error, Result};

impl Keyport {
    pub fn settings(&self) -> Result<Settings> {
        Ok(Settings {
            default_redirect: self
                .store
                .with(|db| db.setting("default_redirect"))?
                .and_then(|m| RedirectMode::parse(&m).ok()),
            relay_url: self.store.with(|db| db.setting("relay_url"))?,
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
        self.store.with(|db| {
            db.set_setting(
                "default_redirect",
                settings.default_redirect.map(RedirectMode::as_str),
            )
        })?;
        self.store.with(|db| db.set_setting("relay_url", relay))?;
        self.settings()
    }
}
