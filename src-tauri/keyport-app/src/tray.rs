//! The tray (menu-bar) icon: how many connections need the person — in the
//! tooltip, beside the icon, as the menu's first line and as a badge on the
//! icon — and the menu Open Keyport, Check all, Quit. On Linux it is a
//! StatusNotifierItem (libayatana-appindicator) with its menu over
//! `com.canonical.dbusmenu`; a desktop without a tray shows nothing, and
//! starting Keyport again brings the window back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

use crate::shell::{self, AppState};

/// The tray icon's id.
pub const TRAY_ID: &str = "keyport";
const OPEN: &str = "open";
const CHECK_ALL: &str = "check-all";
const QUIT: &str = "quit";
const CHECK_ALL_LABEL: &str = "Check all";

/// What the tray holds on to: the lines it rewrites and the plain icon the
/// badge is drawn on.
struct Tray<R: Runtime> {
    status: MenuItem<R>,
    check_all: MenuItem<R>,
    icon: Option<Image<'static>>,
    /// The count shown now (`None` before the first update).
    shown: Mutex<Option<usize>>,
    checking: AtomicBool,
}

/// The menu's first line: how many connections need the person.
pub fn status_line(count: usize) -> String {
    match count {
        0 => "All connections work".to_string(),
        1 => "1 connection needs you".to_string(),
        n => format!("{n} connections need you"),
    }
}

/// The tooltip (where the desktop shows one).
pub fn tooltip(count: usize) -> String {
    format!("Keyport — {}", status_line(count).to_lowercase())
}

/// Beside the icon (the menu bar's title on macOS, the indicator's label on
/// Linux): the count when something needs the person, else nothing, so the
/// panel stays quiet while everything works.
pub fn title(count: usize) -> String {
    if count == 0 {
        String::new()
    } else {
        count.to_string()
    }
}

/// Adds the tray icon. The count is filled in by [`show_count`].
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    // Tauri's Linux tray loads libappindicator at run time and panics when
    // it is missing (a build from source on a system without it): look first.
    #[cfg(target_os = "linux")]
    if !appindicator_present() {
        return Err(tauri::Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "libayatana-appindicator3.so.1 is not installed (Debian: libayatana-appindicator3-1)",
        )));
    }
    let status = MenuItem::with_id(app, "status", status_line(0), false, None::<&str>)?;
    let open = MenuItem::with_id(app, OPEN, "Open Keyport", true, None::<&str>)?;
    let check_all = MenuItem::with_id(app, CHECK_ALL, CHECK_ALL_LABEL, true, None::<&str>)?;
    let quit = MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &open,
            &check_all,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let icon = app.default_window_icon().cloned().map(Image::to_owned);
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip(tooltip(0))
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event);
    if let Some(icon) = icon.clone() {
        builder = builder.icon(icon);
    }
    builder.build(app)?;
    app.manage(Tray {
        status,
        check_all,
        icon,
        shown: Mutex::new(None),
        checking: AtomicBool::new(false),
    });
    Ok(())
}

/// Whether the library Tauri's Linux tray loads is on this system (the names
/// it tries, in its order).
#[cfg(target_os = "linux")]
fn appindicator_present() -> bool {
    ["libayatana-appindicator3.so.1", "libappindicator3.so.1"]
        .iter()
        // SAFETY: loading a system library whose initialisers are the ones the
        // tray would run anyway; the handle is dropped at once.
        .any(|name| unsafe { libloading::Library::new(name) }.is_ok())
}

/// Whether the desktop shows tray icons. On Linux a StatusNotifierItem
/// needs a host (a panel, or GNOME's AppIndicator extension) registered with
/// the `org.kde.StatusNotifierWatcher`; without one the icon exists but
/// nobody sees it, so Keyport must not hide its window behind it.
#[cfg(target_os = "linux")]
pub fn is_shown() -> bool {
    let host = || -> zbus::Result<bool> {
        let bus = zbus::blocking::Connection::session()?;
        let watcher = zbus::blocking::Proxy::new(
            &bus,
            "org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            "org.kde.StatusNotifierWatcher",
        )?;
        watcher.get_property::<bool>("IsStatusNotifierHostRegistered")
    };
    match host() {
        Ok(registered) => registered,
        Err(e) => {
            tracing::info!("no tray host on the session bus: {e}");
            false
        }
    }
}

/// Windows and macOS always show tray (menu-bar) icons.
#[cfg(not(target_os = "linux"))]
pub fn is_shown() -> bool {
    true
}

fn on_menu_event<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    match event.id().as_ref() {
        OPEN => shell::focus(app),
        CHECK_ALL => check_all(app),
        QUIT => app.exit(0),
        _ => {}
    }
}

/// Shows `count` (connections that need the person) on the tray; nothing
/// when there is no tray, or when it already shows that count.
pub fn show_count<R: Runtime>(app: &AppHandle<R>, count: usize) {
    let (Some(tray), Some(icon)) = (app.try_state::<Tray<R>>(), app.tray_by_id(TRAY_ID)) else {
        return;
    };
    // Held while the tray changes: callers on other threads (the watch, the
    // scheduler, a command) apply their counts one at a time.
    let mut shown = tray.shown.lock().unwrap_or_else(|p| p.into_inner());
    if *shown == Some(count) {
        return;
    }
    *shown = Some(count);
    let _ = tray.status.set_text(status_line(count));
    let _ = icon.set_tooltip(Some(tooltip(count)));
    let _ = icon.set_title(Some(title(count)));
    if let Some(plain) = &tray.icon {
        let _ = icon.set_icon(Some(badged(plain, count)));
    }
}

/// "Check all" from the tray: the window's Check all — every signed-in
/// connection, one after another — then the count again. Once at a time.
fn check_all<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.try_state::<Tray<R>>() else {
        return;
    };
    let Some(kp) = app
        .try_state::<AppState>()
        .and_then(|s| s.keyport().ok().cloned())
    else {
        return;
    };
    if tray.checking.swap(true, Ordering::SeqCst) {
        return;
    }
    let _ = tray.check_all.set_enabled(false);
    let _ = tray.check_all.set_text("Checking…");
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let ids: Vec<String> = kp
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.checkable())
            .map(|c| c.id)
            .collect();
        tracing::info!(count = ids.len(), "checking every connection (tray)");
        for id in ids {
            if let Err(e) = kp.check(&id).await {
                tracing::info!(connection = %id, code = e.code(), "check failed: {e}");
            }
            shell::connections_changed(&app);
        }
        shell::connections_changed(&app);
        if let Some(tray) = app.try_state::<Tray<R>>() {
            let _ = tray.check_all.set_text(CHECK_ALL_LABEL);
            let _ = tray.check_all.set_enabled(true);
            tray.checking.store(false, Ordering::SeqCst);
        }
    });
}

/// The icon with a red badge in its top right corner carrying `count` (a
/// plain dot above 9); the icon itself when `count` is 0.
pub fn badged(icon: &Image<'_>, count: usize) -> Image<'static> {
    let (w, h) = (icon.width() as i64, icon.height() as i64);
    let mut rgba = icon.rgba().to_vec();
    if count == 0 || w < 8 || h < 8 {
        return Image::new_owned(rgba, icon.width(), icon.height());
    }
    let size = w.min(h);
    // A disc of 5/8 the icon's side, touching the top right corner.
    let r = size * 5 / 16;
    let (cx, cy) = (w - r, r);
    let mut put = |x: i64, y: i64, px: [u8; 4]| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            let i = ((y * w + x) * 4) as usize;
            rgba[i..i + 4].copy_from_slice(&px);
        }
    };
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x - cx, y - cy);
            let d2 = dx * dx + dy * dy;
            if d2 <= r * r {
                put(x, y, BADGE_RED);
            } else if d2 <= (r + 1) * (r + 1) {
                put(x, y, WHITE);
            }
        }
    }
    if let Some(glyph) = count.checked_sub(1).and_then(|i| DIGITS.get(i)) {
        // The digit's 3×5 cells scaled to about 3/5 of the disc's height.
        let cell = (r * 6 / 5 / 5).max(1);
        let (left, top) = (cx - cell * 3 / 2, cy - cell * 5 / 2);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    for y in 0..cell {
                        for x in 0..cell {
                            put(left + col * cell + x, top + row as i64 * cell + y, WHITE);
                        }
                    }
                }
            }
        }
    }
    Image::new_owned(rgba, icon.width(), icon.height())
}

const BADGE_RED: [u8; 4] = [0xd9, 0x30, 0x25, 0xff];
const WHITE: [u8; 4] = [0xff, 0xff, 0xff, 0xff];

/// 1 to 9 in a 3×5 pixel font, a row per byte (bit 2 is the left column).
const DIGITS: [[u8; 5]; 9] = [
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b011, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_say_how_many_need_the_person() {
        assert_eq!(status_line(0), "All connections work");
        assert_eq!(status_line(1), "1 connection needs you");
        assert_eq!(status_line(2), "2 connections need you");
        assert_eq!(tooltip(0), "Keyport — all connections work");
        assert_eq!(tooltip(2), "Keyport — 2 connections need you");
        assert_eq!(title(0), "");
        assert_eq!(title(12), "12");
    }

    fn pixel(img: &Image<'_>, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * img.width() + x) * 4) as usize;
        img.rgba()[i..i + 4].try_into().unwrap()
    }

    #[test]
    fn the_badge_is_drawn_in_the_top_right_corner_with_the_count() {
        let plain = Image::new_owned([0x20, 0x40, 0x60, 0xff].repeat(32 * 32), 32, 32);
        assert_eq!(badged(&plain, 0).rgba(), plain.rgba(), "no badge at 0");
        let one = badged(&plain, 1);
        let three = badged(&plain, 3);
        let many = badged(&plain, 14);
        // r = 10, centre (22, 10): the corner area is red, the rest untouched.
        assert_eq!(pixel(&many, 22, 10), BADGE_RED, "a dot above 9");
        assert_eq!(pixel(&many, 4, 28), [0x20, 0x40, 0x60, 0xff]);
        assert_eq!(pixel(&many, 0, 0), [0x20, 0x40, 0x60, 0xff]);
        // The digits differ and are white on red.
        assert_ne!(one.rgba(), three.rgba());
        let whites = |img: &Image<'_>| {
            (12..32)
                .flat_map(|x| (0..20).map(move |y| (x, y)))
                .filter(|&(x, y)| {
                    pixel(img, x, y) == WHITE
                        && (x as i64 - 22).pow(2) + (y as i64 - 10).pow(2) < 100
                })
                .count()
        };
        assert!(whites(&one) > 0 && whites(&three) > whites(&one));
        assert_eq!(whites(&many), 0);
        // Sizes are kept.
        assert_eq!((one.width(), one.height()), (32, 32));
    }
}
