//! Keyport's integration tests: one crate, one module per story. They run
//! against the real OS keyring (a Secret Service inside the test session),
//! real SQLite files and the fake provider on 127.0.0.1.

mod common;

mod architecture;
mod attack_surface;
mod bad_callbacks;
mod broker;
mod catalog;
mod cli;
mod clients;
mod concurrency;
mod connect;
mod crash;
mod grants;
mod health;
mod imap;
mod providers;
mod security;
