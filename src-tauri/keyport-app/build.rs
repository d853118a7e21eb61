fn main() {
    println!("cargo:rerun-if-changed=src-tauri/keyport-app/capabilities");
    println!("cargo:rerun-if-changed=src-tauri/keyport-app/permissions");
    println!("cargo:rerun-if-changed=tauri.conf.json");
    // An app manifest: every IPC command needs a permission that a
    // capability grants (permissions/commands.toml, capabilities/).
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/keyport-app/capabilities/**/*")
            .app_manifest(
                tauri_build::AppManifest::new()
                    .permissions_path_pattern("./src-tauri/keyport-app/permissions/**/*"),
            ),
    )
    .expect("failed to run tauri-build");
}
