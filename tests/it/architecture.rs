//! ARCHITECTURE.md's layering, checked on Cargo's own dependency graph: the
//! core and the CLI depend on no GUI library (Tauri, GTK, WebKit), so the
//! compiler, not a text search, keeps the layers apart.

use std::process::Command;

fn dependencies(package: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--package",
            package,
        ])
        .current_dir(crate::common::REPO)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn gui_crates(deps: &[String]) -> Vec<&String> {
    deps.iter()
        .filter(|d| {
            d.starts_with("tauri")
                || d.starts_with("gtk")
                || d.starts_with("gdk")
                || d.starts_with("webkit")
                || d.starts_with("wry")
                || d.starts_with("tao")
                || d.starts_with("javascriptcore")
        })
        .collect()
}

#[test]
fn the_core_and_the_cli_depend_on_no_gui_library() {
    for package in ["keyport-core", "keyport-cli"] {
        let deps = dependencies(package);
        assert!(deps.len() > 20, "{package}: cargo tree listed {deps:?}");
        assert!(
            deps.iter().any(|d| d == "keyport-core"),
            "{package}: keyport-core missing from {deps:?}"
        );
        assert_eq!(gui_crates(&deps), Vec::<&String>::new(), "{package}");
    }
}

#[test]
fn the_app_is_where_the_gui_libraries_are() {
    // The check above would pass vacuously if the filter matched nothing.
    let deps = dependencies("keyport-app");
    let gui = gui_crates(&deps);
    assert!(gui.iter().any(|d| *d == "tauri"), "{gui:?}");
    assert!(gui.iter().any(|d| d.starts_with("webkit2gtk")), "{gui:?}");
}
