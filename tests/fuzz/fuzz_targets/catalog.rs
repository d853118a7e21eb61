//! The user's integrations.toml: any text is a catalog or a located error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match keyport_core::catalog::Catalog::parse("fuzz.toml", text) {
            Ok(c) => assert!(c.all().len() >= 4),
            Err(e) => assert_eq!(e.code(), "catalog.invalid"),
        }
    }
});
