//! Opening the authorization URL in the person's browser: `$BROWSER` when
//! set (a command, as Python's webbrowser and git honour it), else the OS
//! default handler.

use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Runs `$BROWSER` with `url` if it is set; `None` when it is not.
pub fn open_with_env(url: &str) -> Option<Result<()>> {
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())?;
    // A colon-separated list: the first entry wins; `%s` marks the URL.
    let cmd = browser
        .split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut parts = cmd.split_whitespace();
    let program = parts.next()?.to_string();
    let mut args: Vec<String> = parts.map(str::to_string).collect();
    if let Some(slot) = args.iter_mut().find(|a| a.contains("%s")) {
        *slot = slot.replace("%s", url);
    } else {
        args.push(url.to_string());
    }
    Some(
        Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map(|_| ())
            .map_err(|e| Error::Io(format!("could not start the browser \"{program}\": {e}"))),
    )
}

/// Opens `url` with `$BROWSER`, else the OS default (`open` crate).
pub fn open(url: &str) -> Result<()> {
    if let Some(r) = open_with_env(url) {
        return r;
    }
    open::that_detached(url).map_err(|e| Error::Io(format!("could not open the browser: {e}")))
}
