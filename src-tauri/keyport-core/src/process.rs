//! Which local program asked: the parent of this process as the OS reports
//! it, looking past the shells mail software starts commands through
//! (msmtp's `passwordeval` and neomutt's `imap_oauth_refresh_command` run
//! `sh -c …`). Linux reads `/proc`; elsewhere the program is not known yet.

/// A local program: its executable's name and, when the OS tells it, path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub name: String,
    pub path: Option<String>,
}

const SHELLS: &[&str] = &["sh", "dash", "bash", "zsh", "fish", "ksh", "busybox"];

/// The program that started this process, past at most four shells.
#[cfg(target_os = "linux")]
pub fn requester() -> Option<Program> {
    let mut pid = std::os::unix::process::parent_id();
    let mut found = None;
    for _ in 0..5 {
        if pid <= 1 {
            break;
        }
        let program = linux::program(pid)?;
        let shell = SHELLS.contains(&program.name.as_str());
        found = Some(program);
        if !shell {
            break;
        }
        pid = linux::parent_of(pid)?;
    }
    found
}

#[cfg(not(target_os = "linux"))]
pub fn requester() -> Option<Program> {
    let _ = SHELLS;
    None
}

#[cfg(target_os = "linux")]
mod linux {
    use super::Program;

    pub fn program(pid: u32) -> Option<Program> {
        let path = std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        let name = match path.as_deref().and_then(|p| p.rsplit('/').next()) {
            Some(n) if !n.is_empty() => n.trim_end_matches(" (deleted)").to_string(),
            _ => std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .ok()?
                .trim()
                .to_string(),
        };
        Some(Program { name, path })
    }

    /// The parent's pid: the field after the state in `/proc/<pid>/stat`
    /// (the command name before it is in parentheses and may hold spaces).
    pub fn parent_of(pid: u32) -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(1)?.parse().ok()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_by_its_executable() {
        let me = linux::program(std::process::id()).unwrap();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(me.path.as_deref(), exe.to_str());
        assert_eq!(
            linux::parent_of(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
    }
}
