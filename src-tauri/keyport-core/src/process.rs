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

/// The program that started this process. A shell running a command line
/// (`sh -c …`, as mail software runs its password and token commands) is
/// looked past, up to four of them; a shell running a script is named by
/// its script (`invoice-import.sh`, with the script's path).
#[cfg(target_os = "linux")]
pub fn requester() -> Option<Program> {
    let mut pid = std::os::unix::process::parent_id();
    let mut found = None;
    for _ in 0..5 {
        if pid <= 1 {
            break;
        }
        let Some(program) = linux::program(pid) else {
            break;
        };
        if !SHELLS.contains(&program.name.as_str()) {
            return Some(program);
        }
        let args = linux::args(pid);
        match args.get(1).map(String::as_str) {
            Some("-c") => {}
            Some(script) if !script.starts_with('-') => return Some(linux::script(pid, script)),
            _ => return Some(program),
        }
        found = Some(program);
        let Some(parent) = linux::parent_of(pid) else {
            break;
        };
        pid = parent;
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

    /// The process's arguments (`/proc/<pid>/cmdline`), argv[0] first.
    pub fn args(pid: u32) -> Vec<String> {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    /// A script a shell runs: its file name, and its path made absolute
    /// from the shell's working folder.
    pub fn script(pid: u32, script: &str) -> Program {
        let path = std::path::Path::new(script);
        let full = if path.is_absolute() {
            Some(path.to_path_buf())
        } else {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                .map(|cwd| cwd.join(path))
        };
        Program {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| script.to_string()),
            path: full.map(|p| p.to_string_lossy().into_owned()),
        }
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
