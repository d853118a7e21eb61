//! Logs: a file in the data folder (`keyport.log`) and, for the GUI, stderr.
//! Log lines carry codes, ids and state prefixes — never tokens or codes.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

use crate::paths::Paths;

pub fn init(paths: &Paths, to_stderr: bool) {
    let filter = || {
        EnvFilter::try_from_env("KEYPORT_LOG").unwrap_or_else(|_| EnvFilter::new("keyport=info"))
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
