//! `keyport-app`, Keyport's window: the Tauri shell over keyport-core. The
//! operating system's `dev.keyport:` registration points here; a lone
//! `dev.keyport:` URL argument is a sign-in callback (forwarded to a running
//! instance by the single-instance plugin). `--background` (the login
//! start) keeps the window hidden: Keyport runs in the tray.

// No console window next to the GUI on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[cfg(test)]
mod bindings;
mod commands;
#[cfg(test)]
mod ipc_tests;
mod shell;
mod tray;

fn main() {
    let deep_link = std::env::args()
        .skip(1)
        .find(|a| keyport_core::callback::is_deep_link(a));
    let background = std::env::args().skip(1).any(|a| a == shell::BACKGROUND_ARG);
    std::process::exit(shell::run(deep_link, background));
}
