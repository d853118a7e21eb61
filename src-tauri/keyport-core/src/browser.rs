//! Opening the authorization URL in the person's browser: `$BROWSER` when
//! set (a command, as Python's webbrowser and git honour it); on Linux the
//! desktop portal's OpenURI over D-Bus, which puts the URL on no command
//! line (other local users can read `/proc/*/cmdline`); else the OS default
//! handler (`xdg-open`, `open`, `start`). Every child started here is reaped.

use std::process::{Child, Command, Stdio};

use crate::error::{Error, Result};

/// Runs `$BROWSER` with `url` if it is set; `None` when it is not.
pub fn open_with_env(url: &str) -> Option<Result<()>> {
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())?;
    open_with(&browser, url)
}

/// Runs the browser command `browser` (as `$BROWSER` spells it) with `url`;
/// `None` when the command is empty.
pub fn open_with(browser: &str, url: &str) -> Option<Result<()>> {
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
    let mut command = Command::new(&program);
    command.args(&args);
    Some(
        spawn_reaped(command)
            .map_err(|e| Error::Io(format!("could not start the browser \"{program}\": {e}"))),
    )
}

/// Opens `url` with `$BROWSER`, else the desktop portal (Linux), else the
/// OS default handler.
pub fn open(url: &str) -> Result<()> {
    if let Some(r) = open_with_env(url) {
        return r;
    }
    #[cfg(target_os = "linux")]
    match portal::open_uri(url) {
        Ok(()) => return Ok(()),
        Err(e) => tracing::debug!("no desktop portal, using the default opener: {e}"),
    }
    let mut last = None;
    for command in open::commands(url) {
        match spawn_reaped(command) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Io(format!(
        "could not open the browser: {}",
        last.map(|e| e.to_string())
            .unwrap_or_else(|| "no opener on this system".into())
    )))
}

/// Starts `command` detached from our stdio and waits for it on a thread of
/// its own, so it never lingers as a zombie child.
fn spawn_reaped(mut command: Command) -> std::io::Result<()> {
    let child: Child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    reap(child);
    Ok(())
}

fn reap(mut child: Child) {
    let _ = std::thread::Builder::new()
        .name("reap-browser".into())
        .spawn(move || {
            let _ = child.wait();
        });
}

#[cfg(target_os = "linux")]
mod portal {
    use std::collections::HashMap;
    use std::time::Duration;

    use zbus::zvariant::Value;

    /// `org.freedesktop.portal.OpenURI.OpenURI` on the session bus.
    pub fn open_uri(url: &str) -> zbus::Result<()> {
        let conn = zbus::blocking::connection::Builder::session()?
            .method_timeout(Duration::from_secs(5))
            .build()?;
        let options: HashMap<&str, Value> = HashMap::new();
        conn.call_method(
            Some("org.freedesktop.portal.Desktop"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.portal.OpenURI"),
            "OpenURI",
            &("", url, options),
        )?;
        Ok(())
    }
}
