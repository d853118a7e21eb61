//! Where Keyport keeps its files: `KEYPORT_DATA_DIR` / `KEYPORT_CONFIG_DIR`
//! when set (isolated runs, tests), else the OS's app data and config dirs.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The app identifier; also the folder name under the OS data/config dirs.
pub const APP_ID: &str = "dev.keyport.desktop";

#[derive(Clone, Debug)]
pub struct Paths {
    pub data_dir: PathBuf,
    pub config_dir: PathBuf,
    /// Where the organisation's `policy.toml` is looked for (`None`: no
    /// policy applies).
    pub policy_dir: Option<PathBuf>,
}

impl Paths {
    pub fn from_env() -> Result<Paths> {
        let pick = |var: &str, base: Option<PathBuf>| -> Result<PathBuf> {
            match std::env::var_os(var) {
                // A relative folder would depend on where a command runs
                // (and `keyport reset` would clean the wrong place).
                Some(v) if !v.is_empty() && !Path::new(&v).is_absolute() => {
                    Err(Error::InvalidInput(format!(
                        "{var} must be an absolute path, not {}",
                        Path::new(&v).display()
                    )))
                }
                Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
                _ => base
                    .map(|b| b.join(APP_ID))
                    .ok_or_else(|| Error::Io(format!("no home folder found; set {var}"))),
            }
        };
        Ok(Paths {
            data_dir: pick("KEYPORT_DATA_DIR", dirs::data_dir())?,
            config_dir: pick("KEYPORT_CONFIG_DIR", dirs::config_dir())?,
            policy_dir: crate::policy::policy_dir(),
        })
    }

    /// The OS default folders, ignoring the environment.
    pub fn from_env_defaults() -> Result<Paths> {
        let base = |b: Option<PathBuf>| {
            b.map(|b| b.join(APP_ID))
                .ok_or_else(|| Error::Io("no home folder found".into()))
        };
        Ok(Paths {
            data_dir: base(dirs::data_dir())?,
            config_dir: base(dirs::config_dir())?,
            policy_dir: crate::policy::policy_dir(),
        })
    }

    /// Folders given explicitly (tests, benchmarks); no policy applies
    /// unless [`Paths::with_policy_dir`] names its folder.
    pub fn at(data_dir: impl Into<PathBuf>, config_dir: impl Into<PathBuf>) -> Paths {
        Paths {
            data_dir: data_dir.into(),
            config_dir: config_dir.into(),
            policy_dir: None,
        }
    }

    pub fn with_policy_dir(mut self, dir: impl Into<PathBuf>) -> Paths {
        self.policy_dir = Some(dir.into());
        self
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("keyport.sqlite3")
    }

    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("keyport.log")
    }

    pub fn user_catalog(&self) -> PathBuf {
        self.config_dir.join("integrations.toml")
    }

    pub fn locks_dir(&self) -> PathBuf {
        self.data_dir.join("locks")
    }

    /// Every file and folder Keyport itself creates in the data folder (the
    /// database with its WAL files, the log, the lock folder): what `keyport
    /// reset` removes. The data folder may be shared with other files.
    pub fn own_files(&self) -> Vec<PathBuf> {
        let db = self.database().display().to_string();
        vec![
            self.database(),
            PathBuf::from(format!("{db}-wal")),
            PathBuf::from(format!("{db}-shm")),
            PathBuf::from(format!("{db}-journal")),
            self.log_file(),
            self.locks_dir(),
        ]
    }
}

/// Creates `dir` (and parents) readable by the current user only.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::Io(format!("cannot restrict {}: {e}", dir.display())))?;
    }
    Ok(())
}
