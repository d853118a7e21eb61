//! Token endpoint replies and the id_tokens inside them: a malformed or
//! hostile provider reply is an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tokens) = keyport_core::oauth::parse_token_response(data) {
        if let Some(id_token) = &tokens.id_token {
            let _ = keyport_core::oauth::id_token_identity(id_token, "client", Some("https://issuer.example"));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keyport_core::oauth::id_token_identity(&keyport_core::secrets::Secret::new(text), "client", None);
    }
});
