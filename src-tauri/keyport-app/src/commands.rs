//! The IPC commands: each unwraps the core's answer for the UI. Replies carry
//! no secrets (the core's DTOs have none); errors are `{code, message, detail}`.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_autostart::ManagerExt;
use tauri_plugin_opener::OpenerExt;
use ts_rs::TS;

use crate::shell::{emit_flow, AppState};
use keyport_core::catalog::RedirectMode;
use keyport_core::error::{Error, Result};
use keyport_core::service::{
    ConnectOptions, IntegrationSummary, Keyport, Settings, SignIn, FLOW_LIFETIME,
};
use keyport_core::store::Connection;

#[derive(Serialize, TS)]
pub struct AppInfo {
    version: &'static str,
    data_dir: String,
    config_dir: String,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> Result<AppInfo> {
    let kp = state.keyport()?;
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        data_dir: kp.paths().data_dir.display().to_string(),
        config_dir: kp.paths().config_dir.display().to_string(),
    })
}

#[tauri::command]
pub fn list_integrations(state: State<'_, AppState>) -> Result<Vec<IntegrationSummary>> {
    state.keyport()?.integrations()
}

#[tauri::command]
pub fn list_connections(state: State<'_, AppState>) -> Result<Vec<Connection>> {
    state.keyport()?.list()
}

#[tauri::command]
pub fn list_clients(state: State<'_, AppState>) -> Result<Vec<keyport_core::store::OAuthClient>> {
    state.keyport()?.clients()
}

/// Saves a provider's client; the secret goes to the keyring and is never
/// sent back.
#[tauri::command]
pub async fn set_client(
    state: State<'_, AppState>,
    provider: String,
    client_id: String,
    client_secret: Option<String>,
) -> Result<()> {
    let secret = client_secret
        .filter(|s| !s.trim().is_empty())
        .map(|s| keyport_core::secrets::Secret::new(s.trim()));
    state
        .keyport()?
        .set_client(&provider, &client_id, secret)
        .await
}

/// Each provider's client and where it comes from (for Settings).
#[tauri::command]
pub fn client_sources(
    state: State<'_, AppState>,
) -> Result<Vec<keyport_core::service::ClientSummary>> {
    state.keyport()?.client_sources()
}

/// Sets the Google client from the JSON Google Cloud console downloads.
#[tauri::command]
pub async fn import_client_json(state: State<'_, AppState>, json: String) -> Result<String> {
    let kp = state.keyport()?.clone();
    kp.import_client_json(&json).await
}

/// The person confirmed an integration's servers (they wrote its catalog
/// entry); answers the origins confirmed.
#[tauri::command]
pub fn trust_endpoints(state: State<'_, AppState>, integration: String) -> Result<Vec<String>> {
    state.keyport()?.trust_endpoints(&integration)
}

#[tauri::command]
pub async fn remove_client(state: State<'_, AppState>, provider: String) -> Result<bool> {
    state.keyport()?.remove_client(&provider).await
}

#[tauri::command]
pub fn connection_events(
    state: State<'_, AppState>,
    connection_id: String,
) -> Result<Vec<keyport_core::store::Event>> {
    // The timeline shows 30 days; the list under it at least 200 events.
    state.keyport()?.history(&connection_id, 200)
}

/// Keeps the person's note on a connection ("Client: Müller GmbH").
#[tauri::command]
pub fn set_connection_note<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    connection_id: String,
    note: Option<String>,
) -> Result<Connection> {
    let c = state.keyport()?.set_note(&connection_id, note.as_deref())?;
    crate::shell::connections_changed(&app);
    Ok(c)
}

/// Where an export went.
#[derive(Serialize, TS)]
pub struct ExportSaved {
    path: String,
    count: usize,
}

/// The prefix of every export's file name: `reveal_export` opens no other.
const EXPORT_PREFIX: &str = "keyport-connections-";

/// The folder exports go to: Downloads, as a browser saves, else home.
fn export_dir() -> Result<std::path::PathBuf> {
    let dir = dirs::download_dir()
        .or_else(dirs::home_dir)
        .ok_or_else(|| Error::Io("no Downloads or home folder to save the export in".into()))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Io(format!("could not create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Saves the connection list (CSV or JSON, never a secret) in Downloads as
/// `keyport-connections-<date>.<ext>`, never over an existing file.
#[tauri::command]
pub fn export_connections(
    state: State<'_, AppState>,
    format: String,
    date: Option<String>,
) -> Result<ExportSaved> {
    let format = keyport_core::service::export::ExportFormat::parse(&format)?;
    let (mut text, count) = state.keyport()?.export(format)?;
    if format == keyport_core::service::export::ExportFormat::Csv {
        // The window's CSV is for a spreadsheet: a byte order mark makes
        // Excel read it as UTF-8 ("Müller", not "MÃ¼ller"). `keyport
        // export`, for scripts, writes none.
        text.insert(0, '\u{feff}');
    }
    let dir = export_dir()?;
    // The person's own calendar day (the window knows its time zone), else UTC's.
    let date = match date {
        Some(d) if is_plain_date(&d) => d,
        Some(_) => return Err(Error::InvalidInput("the date must be YYYY-MM-DD".into())),
        None => keyport_core::store::utc_time(keyport_core::store::now_ms())[..10].to_string(),
    };
    for n in 1..1000 {
        let name = match n {
            1 => format!("{EXPORT_PREFIX}{date}.{}", format.extension()),
            _ => format!("{EXPORT_PREFIX}{date} ({n}).{}", format.extension()),
        };
        let path = dir.join(name);
        match keyport_core::service::export::write_private(&path, &text, true) {
            Ok(()) => {
                return Ok(ExportSaved {
                    path: path.display().to_string(),
                    count,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::Io(format!(
                    "could not write {}: {e}",
                    path.display()
                )))
            }
        }
    }
    Err(Error::Io(format!(
        "{} already holds 999 exports of today",
        dir.display()
    )))
}

/// `YYYY-MM-DD`, digits only: it becomes part of a file name.
fn is_plain_date(date: &str) -> bool {
    date.len() == 10
        && date.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        })
}

/// Shows an export in the file manager; only a file `export_connections`
/// could have written.
#[tauri::command]
pub fn reveal_export<R: Runtime>(app: AppHandle<R>, path: String) -> Result<()> {
    let path = std::path::PathBuf::from(path);
    let ours = path.parent() == Some(export_dir()?.as_path())
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(EXPORT_PREFIX));
    if !ours {
        return Err(Error::InvalidInput("that is not a Keyport export".into()));
    }
    app.opener()
        .reveal_item_in_dir(&path)
        .map_err(|e| Error::Io(format!("could not show {}: {e}", path.display())))
}

/// Which programs were handed this connection's tokens, newest first.
#[tauri::command]
pub fn connection_usage(
    state: State<'_, AppState>,
    connection_id: String,
) -> Result<Vec<keyport_core::store::Usage>> {
    state.keyport()?.usage(Some(&connection_id), 200)
}

#[tauri::command]
pub fn rename_connection<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    connection_id: String,
    label: Option<String>,
) -> Result<Connection> {
    let c = state.keyport()?.rename(&connection_id, label.as_deref())?;
    crate::shell::connections_changed(&app);
    Ok(c)
}

/// What `start_connect` answers: enough to show progress and "Copy link".
#[derive(Serialize, TS)]
#[ts(rename = "ConnectStarted")]
pub struct StartedConnect {
    connection_id: String,
    flow_id: String,
    auth_url: String,
    redirect_mode: RedirectMode,
    /// False when the browser could not be opened (offer the link instead).
    browser_opened: bool,
}

#[tauri::command]
pub async fn start_connect<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    integration: String,
    preset: Option<String>,
    scopes: Option<Vec<String>>,
    redirect: Option<RedirectMode>,
    account: Option<String>,
) -> Result<StartedConnect> {
    let kp = state.keyport()?.clone();
    let opts = ConnectOptions {
        preset,
        scopes,
        redirect,
        account,
        ..Default::default()
    };
    let started = kp.initiate(&integration, opts).await?;
    Ok(follow(&app, &state, kp, started))
}

/// Opens the browser for a started flow and, in loopback mode, serves the
/// redirect in the background; the result arrives as a `keyport://flow` event.
fn follow<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    kp: Keyport,
    started: SignIn,
) -> StartedConnect {
    // The core's opener: $BROWSER, the desktop portal, then the OS default
    // (the URL on no command line where the portal exists).
    let browser_opened = keyport_core::browser::open(&started.auth_url).is_ok();
    state
        .auth_urls
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(started.flow_id.clone(), started.auth_url.clone());
    let reply = StartedConnect {
        connection_id: started.connection_id.clone(),
        flow_id: started.flow_id.clone(),
        auth_url: started.auth_url.clone(),
        redirect_mode: started.redirect_mode,
        browser_opened,
    };
    // A deep-link or relay flow ends through the deep-link intake, which
    // reports it; a loopback flow ends here, in this process.
    if started.redirect_mode == RedirectMode::Loopback {
        let cancel = Arc::new(tokio::sync::Notify::new());
        state
            .cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(started.flow_id.clone(), cancel.clone());
        let flow_id = started.flow_id.clone();
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let result = kp.await_flow(started, FLOW_LIFETIME, cancel).await;
            if let Some(s) = app.try_state::<AppState>() {
                s.cancels
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&flow_id);
            }
            crate::shell::focus(&app);
            emit_flow(&app, Some(flow_id), result);
        });
    }
    reply
}

/// Opens a started flow's authorization URL again ("Open again").
#[tauri::command]
pub fn open_auth_url(state: State<'_, AppState>, flow_id: String) -> Result<bool> {
    let url = state
        .auth_urls
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&flow_id)
        .cloned()
        .ok_or_else(|| Error::FlowNotFound(flow_id.clone()))?;
    Ok(keyport_core::browser::open(&url).is_ok())
}

#[tauri::command]
pub async fn reconnect_connection<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    connection_id: String,
    redirect: Option<RedirectMode>,
) -> Result<StartedConnect> {
    let kp = state.keyport()?.clone();
    let opts = ConnectOptions {
        redirect,
        ..Default::default()
    };
    let started = kp.reconnect(&connection_id, opts).await?;
    Ok(follow(&app, &state, kp, started))
}

/// Asks for the missing scopes (or `scopes`) on an existing connection.
#[tauri::command]
pub async fn grant_access<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    connection_id: String,
    scopes: Option<Vec<String>>,
    redirect: Option<RedirectMode>,
) -> Result<StartedConnect> {
    let kp = state.keyport()?.clone();
    let opts = ConnectOptions {
        redirect,
        ..Default::default()
    };
    let started = kp.grant_more(&connection_id, scopes, opts).await?;
    Ok(follow(&app, &state, kp, started))
}

#[tauri::command]
pub async fn check_connection<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    connection_id: String,
) -> Result<Connection> {
    let kp = state.keyport()?.clone();
    let result = kp.check(&connection_id).await;
    crate::shell::connections_changed(&app);
    result
}

/// What disconnecting would stop (with `account`: removing the account).
#[tauri::command]
pub fn disconnect_plan(
    state: State<'_, AppState>,
    connection_id: String,
    account: bool,
) -> Result<keyport_core::revocation::DisconnectPlan> {
    state.keyport()?.disconnect_plan(&connection_id, account)
}

/// Disconnects one integration, or with `account` the whole account (every
/// integration on its sign-in, revoked once).
#[tauri::command]
pub async fn disconnect_connection<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    connection_id: String,
    account: Option<bool>,
) -> Result<keyport_core::revocation::Disconnected> {
    let kp = state.keyport()?;
    let done = if account == Some(true) {
        kp.remove_account(&connection_id).await?
    } else {
        kp.disconnect(&connection_id).await?
    };
    crate::shell::connections_changed(&app);
    Ok(done)
}

#[tauri::command]
pub async fn cancel_connect(state: State<'_, AppState>, flow_id: String) -> Result<()> {
    let notify = state
        .cancels
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&flow_id);
    match notify {
        Some(n) => n.notify_one(),
        None => state.keyport()?.cancel(&flow_id).await?,
    }
    // Give the listener a moment to record the cancellation.
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(())
}

/// Opens an https link (a setup guide) in the browser. Only https: the UI
/// cannot use this to launch other handlers.
#[tauri::command]
pub fn open_external<R: Runtime>(app: AppHandle<R>, url: String) -> Result<()> {
    let parsed = url::Url::parse(&url).map_err(|_| Error::InvalidInput("not a URL".into()))?;
    if parsed.scheme() != "https" {
        return Err(Error::InvalidInput("only https links can be opened".into()));
    }
    app.opener()
        .open_url(parsed.as_str(), None::<&str>)
        .map_err(|e| Error::Io(format!("could not open the browser: {e}")))
}

/// The UI painted its first frame: log the time since start (the start-up
/// benchmark reads this line).
#[tauri::command]
pub fn first_paint() {
    if let Some(started) = crate::shell::STARTED.get() {
        let ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(first_paint_ms = format!("{ms:.0}"), "first paint");
    }
}

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Result<Settings> {
    state.keyport()?.settings()
}

#[tauri::command]
pub fn set_settings(state: State<'_, AppState>, settings: Settings) -> Result<Settings> {
    state.keyport()?.set_settings(&settings)
}

/// Whether Keyport starts when the person logs in, as the system has it
/// (Linux: `~/.config/autostart/Keyport.desktop`), not a stored flag.
#[tauri::command]
pub fn autostart_enabled<R: Runtime>(app: AppHandle<R>) -> Result<bool> {
    app.autolaunch().is_enabled().map_err(|e| {
        Error::Io(format!(
            "could not tell whether Keyport starts at login: {e}"
        ))
    })
}

/// Turns starting at login on or off (a login start runs in the
/// background); answers the state read back from the system.
#[tauri::command]
pub fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> Result<bool> {
    let manager = app.autolaunch();
    let done = if enabled {
        manager.enable()
    } else {
        manager.disable()
    };
    done.map_err(|e| Error::Io(format!("could not change starting at login: {e}")))?;
    tracing::info!(enabled, "start at login changed");
    autostart_enabled(app)
}

/// Opens the data folder in the file manager.
#[tauri::command]
pub fn open_data_folder<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> Result<()> {
    let dir = state.keyport()?.paths().data_dir.clone();
    app.opener()
        .open_path(dir.display().to_string(), None::<&str>)
        .map_err(|e| Error::Io(format!("could not open {}: {e}", dir.display())))
}

/// What only the backend knows for "Copy diagnostics": no secrets, no emails.
#[derive(Serialize, TS)]
pub struct BackendDiagnostics {
    version: &'static str,
    os: &'static str,
    arch: &'static str,
    keyring: String,
    keyring_service: String,
    pending_revocations: usize,
}

#[tauri::command]
pub async fn diagnostics(state: State<'_, AppState>) -> Result<BackendDiagnostics> {
    let kp = state.keyport()?.clone();
    let keyring = kp.keyring_status().await?;
    Ok(BackendDiagnostics {
        version: env!("CARGO_PKG_VERSION"),
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        keyring,
        keyring_service: kp.keyring_service().to_string(),
        pending_revocations: kp.pending_revocations()?,
    })
}
