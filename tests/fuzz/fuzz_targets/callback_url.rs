//! Deep links and loopback queries: anything a hostile page can send.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cb) = keyport_core::callback::parse_deep_link(text) {
            assert!(!cb.state.is_empty());
            // Debug output never shows the code: it is exactly the redacted
            // form (a substring check is fooled by a code that spells part
            // of that form).
            let shown = format!("{cb:?}");
            if let keyport_core::callback::Outcome::Code(_) = &cb.outcome {
                let prefix = keyport_core::callback::state_prefix(&cb.state);
                assert_eq!(shown, format!("Callback {{ state: {prefix}…, code=[redacted] }}"));
            }
        }
        let _ = keyport_core::callback::parse_query(text);
        let _ = keyport_core::callback::is_deep_link(text);
    }
});
