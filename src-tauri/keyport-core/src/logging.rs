//! Logs: a file in the data folder (`keyport.log`) and, for the GUI, stderr.
//! Log lines carry codes, ids and state prefixes — never tokens or codes.
//!
//! `KEYPORT_LOG` sets the level of Keyport's own crates only (`error`,
//! `warn`, `info`, `debug`, `trace`). Other crates (HTTP, TLS, D-Bus, the
//! OAuth library) never log into the file: at their verbose levels they
//! print request lines and bodies, which carry codes and tokens.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

use crate::paths::Paths;

pub fn init(paths: &Paths, to_stderr: bool) {
    let filter = || EnvFilter::new(directives(std::env::var("KEYPORT_LOG").ok().as_deref()));
    let file = crate::paths::create_private_dir(&paths.data_dir)
        .ok()
        .and_then(|_| {
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            // The log names accounts: readable by this user only.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(paths.log_file()).ok()
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(false);
    let _ = match (file, to_stderr) {
        (Some(f), true) => builder
            .with_writer(Mutex::new(f).and(std::io::stderr))
            .try_init(),
        (Some(f), false) => builder.with_writer(Mutex::new(f)).try_init(),
        (None, _) => builder.with_writer(std::io::stderr).try_init(),
    };
}

/// The filter for a `KEYPORT_LOG` value: Keyport's crates at that level,
/// everything else off. Anything but a plain level means `info`.
fn directives(level: Option<&str>) -> String {
    let level = match level.map(|l| l.trim().to_ascii_lowercase()) {
        Some(l) if ["error", "warn", "info", "debug", "trace", "off"].contains(&l.as_str()) => l,
        _ => "info".to_string(),
    };
    // Targets match by prefix: `keyport` covers keyport_core, keyport_app
    // and the `keyport` binary.
    format!("off,keyport={level}")
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn only_keyports_own_crates_log() {
        assert_eq!(directives(None), "off,keyport=info");
        assert_eq!(directives(Some("TRACE")), "off,keyport=trace");
        // Directives naming other crates are not honoured.
        assert_eq!(
            directives(Some("reqwest=trace,hyper=trace")),
            "off,keyport=info"
        );
        assert_eq!(directives(Some("trace,keyport=trace")), "off,keyport=info");
    }
}
