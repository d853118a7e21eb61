//! The Tauri shell: window, plugins, deep-link intake, the tray icon
//! (`tray.rs`) and the commands the UI calls. Thin on purpose — every
//! decision lives in the core; this file only wires it to Tauri.

use crate::commands;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;
use tokio::sync::Notify;

use keyport_core::error::{Error, Result};
use keyport_core::paths::Paths;
use keyport_core::Keyport;

/// Emitted when a sign-in ends (any redirect mode), with [`FlowEvent`].
pub const FLOW_EVENT: &str = "keyport://flow";
/// Emitted when the list of connections may have changed.
pub const CONNECTIONS_EVENT: &str = "keyport://connections-changed";
/// Emitted once when the person's `integrations.toml` changed on disk: the
/// window reads it at start, so it says a restart is needed.
pub const CATALOG_EVENT: &str = "keyport://catalog-changed";
/// The argument Keyport is started with at login (Settings → "Start
/// Keyport when I log in"): start in the background, the window hidden.
pub const BACKGROUND_ARG: &str = "--background";
/// How often the window looks for changes other processes made.
const OUTSIDE_CHANGES_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// What the GUI process holds.
pub struct AppState {
    keyport: std::result::Result<Keyport, Error>,
    /// Cancel switches of loopback listeners, by flow id.
    pub(crate) cancels: Mutex<HashMap<String, Arc<Notify>>>,
    /// Authorization URLs of flows started here, for "Open again".
    pub(crate) auth_urls: Mutex<HashMap<String, String>>,
}

impl AppState {
    pub fn new(keyport: Result<Keyport>) -> AppState {
        AppState {
            keyport,
            cancels: Mutex::new(HashMap::new()),
            auth_urls: Mutex::new(HashMap::new()),
        }
    }

    pub fn keyport(&self) -> Result<&Keyport> {
        self.keyport.as_ref().map_err(Error::clone)
    }
}

#[derive(Clone, serde::Serialize, ts_rs::TS)]
pub struct FlowEvent {
    pub flow_id: Option<String>,
    pub connection: Option<keyport_core::store::Connection>,
    /// `{code, message, detail}`.
    #[ts(type = "KeyportErrorPayload | null")]
    pub error: Option<serde_json::Value>,
}

/// Starts the GUI (or, when another instance runs, forwards the deep link
/// to it and exits). `background`: started at login, the window stays
/// hidden until the person opens it. Returns the exit code.
pub fn run(initial_url: Option<String>, background: bool) -> i32 {
    let _ = STARTED.set(std::time::Instant::now());
    let keyport = Paths::from_env().and_then(|paths| {
        keyport_core::logging::init(&paths, true);
        Keyport::open(paths)
    });
    if let Err(e) = &keyport {
        tracing::error!(code = e.code(), "Keyport could not start its core: {e}");
    }
    let state = AppState::new(keyport);
    let app = tauri::Builder::default()
        // First, so a second instance forwards its URL and exits early.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            // Started again by the person: come forward (also from the
            // background). A forwarded deep link decides for itself (see
            // `deep_link`); a login start leaves the window as it is.
            if !argv
                .iter()
                .any(|a| keyport_core::callback::is_deep_link(a) || a == BACKGROUND_ARG)
            {
                focus(app);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        // Size and position are remembered between runs; whether the window
        // shows is decided at start (`background`), not remembered.
        .plugin(
            tauri_plugin_window_state::Builder::default()
                .with_state_flags(
                    tauri_plugin_window_state::StateFlags::all()
                        - tauri_plugin_window_state::StateFlags::VISIBLE,
                )
                .build(),
        )
        // "Start Keyport when I log in": the login start is a background one.
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg(BACKGROUND_ARG)
                .build(),
        )
        .manage(state)
        .invoke_handler(handler())
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if keeps_running_when_closed(window.app_handle()) {
                    api.prevent_close();
                    let _ = window.hide();
                    tracing::info!("window closed; Keyport keeps running in the background");
                }
            }
        })
        .setup(move |app| {
            // The window is created hidden (tauri.conf.json), so a login
            // start never flashes it.
            let tray = crate::tray::create(app.handle());
            if let Err(e) = &tray {
                tracing::warn!("no tray icon: {e}");
            }
            // A login start stays hidden only where the tray shows it.
            if !background || tray.is_err() || !crate::tray::is_shown() {
                focus(app.handle());
            }
            #[cfg(any(target_os = "linux", all(windows, debug_assertions)))]
            if registers_scheme_itself() {
                if let Err(e) = app.deep_link().register_all() {
                    tracing::warn!("could not register the dev.keyport scheme: {e}");
                }
            }
            let handle = app.handle().clone();
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    deep_link(&handle, url.to_string());
                }
            });
            // A URL the app was cold-started with does not reach on_open_url.
            let initial = match initial_url.clone() {
                Some(u) => vec![u],
                None => app
                    .deep_link()
                    .get_current()
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|u| u.to_string())
                    .collect(),
            };
            for url in initial {
                deep_link(app.handle(), url);
            }
            if let Ok(kp) = app.state::<AppState>().keyport() {
                let kp = kp.clone();
                let handle = app.handle().clone();
                seed_notified(&kp);
                crate::tray::show_count(
                    app.handle(),
                    needing_person(&kp.list().unwrap_or_default()),
                );
                // The window follows the database whoever writes to it:
                // the CLI, a script, another process's refresh.
                let (watched, watcher) = (kp.clone(), app.handle().clone());
                let catalog_file = watched.paths().user_catalog();
                tauri::async_runtime::spawn(async move {
                    let mut seen = watched.outside_changes().ok();
                    let catalog_at_start = file_stamp(&catalog_file);
                    let mut catalog_told = false;
                    loop {
                        tokio::time::sleep(OUTSIDE_CHANGES_POLL).await;
                        let now = watched.outside_changes().ok();
                        if now.is_some() && now != seen {
                            seen = now;
                            connections_changed(&watcher);
                        }
                        if !catalog_told && file_stamp(&catalog_file) != catalog_at_start {
                            catalog_told = true;
                            tracing::info!(
                                "integrations.toml changed; the window uses it after a restart"
                            );
                            let _ = watcher.emit(CATALOG_EVENT, ());
                        }
                    }
                });
                tauri::async_runtime::spawn(async move {
                    if let Err(e) = kp.recover().await {
                        tracing::warn!(code = e.code(), "recovery failed: {e}");
                    }
                    let on_done: keyport_core::health::OnChecked = Arc::new(move |id, result| {
                        // The badge only changes when a check fails.
                        if result.is_err() {
                            connections_changed(&handle);
                        } else {
                            let _ = handle.emit(CONNECTIONS_EVENT, ());
                        }
                        if let Some(c) = handle
                            .try_state::<AppState>()
                            .and_then(|s| s.keyport().ok().and_then(|kp| kp.get(id).ok()))
                        {
                            notify_if_needs_reauth(&handle, &c);
                        }
                    });
                    kp.run_scheduler(
                        SCHEDULER_TICK,
                        keyport_core::health::DEFAULT_CONCURRENCY,
                        on_done,
                    )
                    .await;
                });
            }
            tracing::info!("Keyport window started");
            Ok(())
        })
        .build(tauri::generate_context!("tauri.conf.json"));
    match app {
        Ok(app) => {
            app.run(|_handle, _event| {
                // macOS starts no second process when the Dock icon is
                // clicked: it asks the running one to reopen its window.
                #[cfg(target_os = "macos")]
                if let tauri::RunEvent::Reopen { .. } = _event {
                    focus(_handle);
                }
            });
            0
        }
        Err(e) => {
            tracing::error!("the window could not start: {e}");
            eprintln!("error: the Keyport window could not start: {e}");
            1
        }
    }
}

/// The IPC commands the UI may call.
pub(crate) fn handler<R: Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static
{
    tauri::generate_handler![
        commands::app_info,
        commands::list_integrations,
        commands::start_connect,
        commands::cancel_connect,
        commands::list_connections,
        commands::open_external,
        commands::list_clients,
        commands::set_client,
        commands::remove_client,
        commands::trust_endpoints,
        commands::client_sources,
        commands::import_client_json,
        commands::connection_events,
        commands::connection_usage,
        commands::disconnect_plan,
        commands::rename_connection,
        commands::set_connection_note,
        commands::export_connections,
        commands::reveal_export,
        commands::reconnect_connection,
        commands::grant_access,
        commands::check_connection,
        commands::disconnect_connection,
        commands::open_auth_url,
        commands::first_paint,
        commands::get_settings,
        commands::set_settings,
        commands::autostart_enabled,
        commands::set_autostart,
        commands::open_data_folder,
        commands::diagnostics,
    ]
}

/// Whether the app registers `dev.keyport:` itself. Installers (.deb, .rpm,
/// MSI, NSIS) register the scheme with a desktop entry whose `Exec` passes
/// `%u`; the runtime registration would shadow it with a per-user handler
/// that plain `xdg-open` cannot parse. So: only AppImages and binaries run
/// from a build tree (and Windows debug builds) register at runtime.
#[cfg(any(target_os = "linux", all(windows, debug_assertions)))]
fn registers_scheme_itself() -> bool {
    if cfg!(windows) || std::env::var_os("APPIMAGE").is_some() {
        return true;
    }
    std::env::current_exe()
        .map(|exe| !exe.starts_with("/usr/") && !exe.starts_with("/opt/"))
        .unwrap_or(true)
}

/// When this process started the GUI (for the first-paint figure).
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// How often the GUI looks for due health checks.
const SCHEDULER_TICK: std::time::Duration = std::time::Duration::from_secs(60);

/// A desktop notification when a connection newly needs the person.
pub(crate) fn notify_if_needs_reauth<R: Runtime>(
    app: &AppHandle<R>,
    c: &keyport_core::store::Connection,
) {
    use tauri_plugin_notification::NotificationExt;
    let mut notified = NOTIFIED.lock().unwrap_or_else(|p| p.into_inner());
    if c.status != keyport_core::store::Status::NeedsReauth {
        // Healed: the next time it needs the person is news again.
        notified.remove(&c.id);
        return;
    }
    if !notified.insert(c.id.clone()) {
        return;
    }
    let who = c.email.as_deref().unwrap_or("A connection");
    let _ = app
        .notification()
        .builder()
        .title("Keyport: reconnect needed")
        .body(format!(
            "{who} ({}) needs you to sign in again.",
            c.integration
        ))
        .show();
}

/// The connections already announced as needing the person: once per
/// change, not per check. Those that needed the person before the app
/// started are not news.
static NOTIFIED: std::sync::LazyLock<Mutex<std::collections::HashSet<String>>> =
    std::sync::LazyLock::new(Default::default);

/// A file's modification time and length (`None` when it is not there).
fn file_stamp(path: &std::path::Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Marks what needs the person at start as already known.
pub(crate) fn seed_notified(kp: &keyport_core::service::Keyport) {
    let mut notified = NOTIFIED.lock().unwrap_or_else(|p| p.into_inner());
    for c in kp.list().unwrap_or_default() {
        if c.status == keyport_core::store::Status::NeedsReauth {
            notified.insert(c.id);
        }
    }
}

pub(crate) fn focus<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// A `dev.keyport:` URL reached the app. Any web page can open one, so a
/// link that belongs to no sign-in started here changes nothing: no row,
/// no dialog (no flow event), no focus. Bringing the window forward is
/// rate-limited, so a page opening links in a loop cannot keep stealing it.
pub(crate) fn deep_link<R: Runtime>(app: &AppHandle<R>, url: String) {
    if url
        .trim_end_matches('/')
        .eq_ignore_ascii_case("dev.keyport:/open")
    {
        focus_rate_limited(app);
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let (kp, cb) = match (
            state.keyport(),
            keyport_core::callback::parse_deep_link(&url),
        ) {
            (Ok(kp), Ok(cb)) => (kp.clone(), cb),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(code = e.code(), "deep link rejected: {e}");
                return;
            }
        };
        let Some(flow_id) = kp.flow_for_state(&cb.state) else {
            // Nothing to show for a sign-in nobody started here.
            if let Err(e) = kp.complete(cb).await {
                tracing::warn!(code = e.code(), "deep link rejected: {e}");
            }
            return;
        };
        focus_rate_limited(&app);
        let result = kp.complete(cb).await;
        match &result {
            Ok(c) => tracing::info!(connection = %c.id, "deep link completed a sign-in"),
            Err(e) => tracing::warn!(code = e.code(), "deep link rejected: {e}"),
        }
        emit_flow(&app, Some(flow_id), result);
    });
}

/// Brings the window forward at most once per [`FOCUS_INTERVAL`].
fn focus_rate_limited<R: Runtime>(app: &AppHandle<R>) {
    static LAST: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if last.is_some_and(|t| t.elapsed() < FOCUS_INTERVAL) {
        return;
    }
    *last = Some(std::time::Instant::now());
    drop(last);
    focus(app);
}

/// The shortest time between two deep links bringing the window forward.
const FOCUS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3);

pub(crate) fn emit_flow<R: Runtime>(
    app: &AppHandle<R>,
    flow_id: Option<String>,
    result: Result<keyport_core::store::Connection>,
) {
    let event = match result {
        Ok(c) => FlowEvent {
            flow_id,
            connection: Some(c),
            error: None,
        },
        Err(e) => FlowEvent {
            flow_id,
            connection: None,
            error: Some(e.to_json()),
        },
    };
    let _ = app.emit(FLOW_EVENT, event);
    connections_changed(app);
}

/// Tells the UI to refetch, shows on the app icon (where the desktop
/// supports badges) and the tray how many connections need the person, and
/// notifies once for each connection that newly needs the person — whoever
/// changed it (a check here, the scheduler, the CLI).
pub(crate) fn connections_changed<R: Runtime>(app: &AppHandle<R>) {
    let _ = app.emit(CONNECTIONS_EVENT, ());
    // One at a time (the watch, the scheduler and commands call this from
    // their own threads): a count read earlier is never shown after a newer one.
    static CHANGES: Mutex<()> = Mutex::new(());
    let _one = CHANGES.lock().unwrap_or_else(|p| p.into_inner());
    let all = app
        .try_state::<AppState>()
        .and_then(|s| s.keyport().ok().and_then(|kp| kp.list().ok()))
        .unwrap_or_default();
    for c in &all {
        notify_if_needs_reauth(app, c);
    }
    let count = needing_person(&all);
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.set_badge_count((count > 0).then_some(count as i64));
    }
    crate::tray::show_count(app, count);
}

/// How many connections need the person (the window's "Needs attention").
fn needing_person(all: &[keyport_core::store::Connection]) -> usize {
    all.iter().filter(|c| c.needs_person()).count()
}

/// Whether closing the window hides it (Settings, on unless turned off).
/// Without a tray icon to come back through, or without a working core,
/// closing quits.
fn keeps_running_when_closed<R: Runtime>(app: &AppHandle<R>) -> bool {
    if app.tray_by_id(crate::tray::TRAY_ID).is_none() || !crate::tray::is_shown() {
        return false;
    }
    app.try_state::<AppState>()
        .and_then(|s| s.keyport().ok().map(|kp| kp.settings()))
        .is_some_and(|settings| match settings {
            Ok(s) => s.close_to_tray,
            Err(e) => {
                tracing::warn!(code = e.code(), "cannot read the settings: {e}");
                true
            }
        })
}
