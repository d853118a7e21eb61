//! `keyport reset`: removes everything Keyport keeps on this machine — every
//! keyring entry it made (tokens, client secrets, sign-in verifiers) and the
//! data folder. The config folder (the user's catalog file) is left alone.

use std::io::{BufRead, IsTerminal, Write};

use keyport_core::error::{Error, Result};
use keyport_core::paths::Paths;
use keyport_core::service::{keyring_service, Keyport};

pub async fn run(paths: Paths, yes: bool) -> Result<()> {
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::InvalidInput(
                "reset deletes every connection and secret; pass --yes to confirm without a terminal".into(),
            ));
        }
        eprint!(
            "This deletes every Keyport connection, token and client secret on this machine\n\
             (data folder {}). Tokens are not revoked at the providers. Type \"reset\" to confirm: ",
            paths.data_dir.display()
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "reset" {
            return Err(Error::Cancelled);
        }
    }
    let mut removed = 0usize;
    if paths.database().exists() {
        removed = Keyport::open(paths.clone())?.delete_all_secrets().await?;
    }
    if paths.data_dir.exists() {
        std::fs::remove_dir_all(&paths.data_dir)
            .map_err(|e| Error::Io(format!("cannot remove {}: {e}", paths.data_dir.display())))?;
    }
    println!(
        "Keyport was reset: {removed} keyring entries (service {}) and {} removed. Your catalog file in {} was kept.",
        keyring_service(&paths),
        paths.data_dir.display(),
        paths.config_dir.display()
    );
    Ok(())
}
