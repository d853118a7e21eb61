//! Logs: a file in the data folder (`keyport.log`) and, for the GUI, stderr.
//! Log lines carry codes, ids and state prefixes — never tokens or codes.
//!
//! `KEYPORT_LOG` sets the level of Keyport's own crates only (`error`,
//! `warn`, `info`, `debug`, `trace`). Other crates (HTTP, TLS, D-Bus, the
//! OAuth library) never log into the file: at their verbose levels they
//! print request lines and bodies, which carry codes and tokens.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::writer::MakeWriterExt;

use crate::paths::Paths;

pub fn init(paths: &Paths, to_stderr: bool) {
    // Targets match by prefix: `keyport` covers keyport_core, keyport_app
    // and the `keyport` binary; every other crate stays off.
    let filter = || {
        Targets::new().with_target(
            "keyport",
            level(std::env::var("KEYPORT_LOG").ok().as_deref()),
        )
    };
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
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let layer = tracing_subscriber::fmt::layer().with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter());
    let _ = match (file, to_stderr) {
        (Some(f), true) => registry
            .with(layer.with_writer(Mutex::new(f).and(std::io::stderr)))
            .try_init(),
        (Some(f), false) => registry.with(layer.with_writer(Mutex::new(f))).try_init(),
        (None, _) => registry.with(layer.with_writer(std::io::stderr)).try_init(),
    };
}

/// The level of Keyport's own crates for a `KEYPORT_LOG` value; anything
/// but a plain level means `info`.
fn level(value: Option<&str>) -> LevelFilter {
    match value.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
        Some("error") => LevelFilter::ERROR,
        Some("warn") => LevelFilter::WARN,
        Some("debug") => LevelFilter::DEBUG,
        Some("trace") => LevelFilter::TRACE,
        Some("off") => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
}

#[cfg(test)]
mod tests {
    use super::level;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn only_keyports_own_crates_log() {
        assert_eq!(level(None), LevelFilter::INFO);
        assert_eq!(level(Some("TRACE")), LevelFilter::TRACE);
        // Directives naming other crates are not honoured.
        assert_eq!(level(Some("reqwest=trace,hyper=trace")), LevelFilter::INFO);
        assert_eq!(level(Some("trace,keyport=trace")), LevelFilter::INFO);
    }
}
