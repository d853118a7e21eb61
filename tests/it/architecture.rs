//! ARCHITECTURE.md's invariants that a test can check mechanically.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_core_never_imports_tauri() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src-tauri/src");
    let shell = src.join("shell");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 10);
    for f in files.iter().filter(|f| !f.starts_with(&shell)) {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains("tauri::")
                    && !code.contains("tauri_plugin")
                    && !code.contains("use tauri"),
                "{}:{}: the core imports Tauri: {line}",
                f.display(),
                n + 1
            );
        }
    }
}
