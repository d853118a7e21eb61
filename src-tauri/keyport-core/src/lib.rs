//! Keyport: connect your own accounts through OAuth and keep the connections
//! healthy, locally. See ARCHITECTURE.md for the map.
//!
//! The core: it has no GUI dependency (Cargo enforces it: this crate does not
//! depend on Tauri, GTK or WebKit), and the app, the CLI and the tests all call it.

pub mod browser;
pub mod callback;
pub mod catalog;
pub mod error;
pub mod http;
pub mod logging;
pub mod loopback;
pub mod oauth;
pub mod paths;
pub mod policy;
pub mod process;
pub mod sasl;
pub mod secrets;
pub mod service;
pub mod store;

pub use error::{Error, Result};
pub use service::{health, revocation, tokens, Keyport};
