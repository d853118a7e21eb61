//! Starting the window from the command line: `keyport` with no arguments, or
//! with a lone `dev.keyport:` URL, runs the app binary installed beside it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The app's file name (`keyport-app`, `keyport-app.exe`).
pub const APP_BINARY: &str = if cfg!(windows) {
    "keyport-app.exe"
} else {
    "keyport-app"
};

/// Where the app is looked for: `KEYPORT_APP` when set (an explicit path,
/// the only one then), else the folder of this executable.
pub fn candidates(exe: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("KEYPORT_APP").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    exe.and_then(Path::parent)
        .map(|dir| vec![dir.join(APP_BINARY)])
        .unwrap_or_default()
}

/// Starts the app with the deep link (if any) and returns its exit code.
/// On Unix the app replaces this process, so desktop launchers and
/// single-instance forwarding see one process.
pub fn start(deep_link: Option<String>) -> i32 {
    let exe = std::env::current_exe().ok();
    let tried = candidates(exe.as_deref());
    let Some(app) = tried.iter().find(|p| p.is_file()) else {
        eprintln!(
            "error: the Keyport window is not installed here (looked for {}). \
             Run `keyport --help` for the commands. [app.not_found]",
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return 1;
    };
    let args: Vec<OsString> = deep_link.into_iter().map(OsString::from).collect();
    let mut cmd = Command::new(app);
    cmd.args(&args);
    match run(cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: could not start {}: {e} [io.failed]", app.display());
            1
        }
    }
}

#[cfg(unix)]
fn run(mut cmd: Command) -> std::io::Result<i32> {
    use std::os::unix::process::CommandExt;
    // Only returns on failure.
    Err(cmd.exec())
}

#[cfg(not(unix))]
fn run(mut cmd: Command) -> std::io::Result<i32> {
    Ok(cmd.status()?.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_is_looked_for_beside_the_cli() {
        let c = candidates(Some(Path::new("/usr/bin/keyport")));
        assert_eq!(
            c.last().unwrap(),
            &PathBuf::from("/usr/bin").join(APP_BINARY)
        );
    }
}
