//! `keyport reset`: removes everything Keyport keeps on this machine — every
//! keyring entry it made (tokens, client secrets, sign-in verifiers) and its
//! own files in the data folder, then the folder if nothing else is in it.
//! Other files in the folder and the config folder (the user's catalog
//! file) are left alone.

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
    for own in paths.own_files() {
        let removed = if own.is_dir() {
            std::fs::remove_dir_all(&own)
        } else {
            std::fs::remove_file(&own)
        };
        match removed {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(format!("cannot remove {}: {e}", own.display()))),
        }
    }
    // Only when empty: the folder may hold files that are not Keyport's.
    let _ = std::fs::remove_dir(&paths.data_dir);
    println!(
        "Keyport was reset: {removed} keyring entries (service {}) and Keyport's files in {} removed. Your catalog file in {} was kept.",
        keyring_service(&paths),
        paths.data_dir.display(),
        paths.config_dir.display()
    );
    Ok(())
}
