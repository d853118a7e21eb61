//! The UI's TypeScript types, generated from the Rust types that cross the
//! IPC boundary (ts-rs). `ui/src/lib/bindings.ts` is checked in; the test
//! below fails when it is stale, and `make bindings` writes it anew.

use keyport_core::catalog::{RedirectMode, ScopePreset};
use keyport_core::revocation::{DisconnectPlan, Disconnected, Revocation};
use keyport_core::service::{ClientSource, ClientSummary, IntegrationSummary, Settings};
use keyport_core::store::{Connection, Event, OAuthClient, Status, Usage};
use ts_rs::{Config, TS};

use crate::commands::{AppInfo, BackendDiagnostics, ExportSaved, StartedConnect};
use crate::shell::FlowEvent;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/lib/bindings.ts");

fn decl<T: TS>(cfg: &Config) -> String {
    format!("export {}\n", T::decl(cfg))
}

/// The whole file, as it should read.
fn typescript() -> String {
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from Keyport's Rust types by `make bindings`; do not edit.\n\
         // The IPC payloads the UI receives (src-tauri/keyport-app/src/bindings.rs).\n\n",
    );
    for d in [
        decl::<RedirectMode>(&cfg),
        decl::<ScopePreset>(&cfg),
        decl::<IntegrationSummary>(&cfg),
        decl::<AppInfo>(&cfg),
        decl::<Status>(&cfg),
        decl::<Connection>(&cfg),
        decl::<Revocation>(&cfg),
        decl::<Disconnected>(&cfg),
        decl::<DisconnectPlan>(&cfg),
        decl::<Event>(&cfg),
        decl::<Usage>(&cfg),
        decl::<OAuthClient>(&cfg),
        decl::<ClientSource>(&cfg),
        decl::<ClientSummary>(&cfg),
        decl::<StartedConnect>(&cfg),
        decl::<Settings>(&cfg),
        decl::<BackendDiagnostics>(&cfg),
        decl::<ExportSaved>(&cfg),
    ] {
        out.push_str(&d);
    }
    out.push_str(
        "/** `{code, message, detail}`: how every error reaches the UI. */\n\
         export type KeyportErrorPayload = { code: string, message: string, detail?: unknown, };\n",
    );
    out.push_str(&decl::<FlowEvent>(&cfg));
    out.push_str("/** Every code the backend's errors carry. */\nexport type ErrorCode =");
    for code in keyport_core::error::CODES {
        out.push_str(&format!("\n  | '{code}'"));
    }
    out.push_str(";\n");
    out
}

#[test]
fn ui_bindings_match_the_rust_types() {
    let want = typescript();
    if std::env::var_os("KEYPORT_WRITE_BINDINGS").is_some() {
        std::fs::write(FILE, &want).expect("write ui/src/lib/bindings.ts");
        return;
    }
    let have = std::fs::read_to_string(FILE).unwrap_or_default();
    assert!(
        have == want,
        "ui/src/lib/bindings.ts is stale: run `make bindings` and commit it"
    );
}
