//! Token endpoint replies as the code exchange and the refresh really take
//! them in: status, headers and a body in chunks go through Keyport's reply
//! intake (`http::Incoming`: 5xx / 429, Content-Length and streaming caps),
//! then the `oauth2` crate's token path and Keyport's error mapping
//! (`oauth::exchange_code`, `oauth::refresh`), then the id_token's claims.
//! A malformed or hostile reply — success or error body — is a typed error,
//! never a panic.
//!
//! Input: 2 bytes status (100–599), 1 byte flags, 1 byte chunk size, body.
//! Flags: 1 JSON content type, 2 Retry-After (the body's first bytes),
//! 4 Content-Length (8: a wrong one), 16 refresh instead of exchange.
#![no_main]
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use keyport_core::catalog::{Catalog, Integration};
use keyport_core::http::{
    HeaderMap, HeaderValue, HttpError, HttpRequest, HttpResponse, Incoming, StatusCode,
};
use keyport_core::oauth::{self, ClientCredentials};
use keyport_core::secrets::Secret;
use libfuzzer_sys::fuzz_target;

fn gmail() -> &'static Integration {
    static GMAIL: OnceLock<Integration> = OnceLock::new();
    GMAIL.get_or_init(|| Catalog::builtin().get("gmail").unwrap().clone())
}

/// The reply the endpoint gives, taken in as `Http::send` does.
fn reply(status: u16, flags: u8, chunk: usize, body: &[u8]) -> Result<HttpResponse, HttpError> {
    let mut headers = HeaderMap::new();
    if flags & 1 != 0 {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    if flags & 2 != 0 {
        if let Ok(v) = HeaderValue::from_bytes(&body[..body.len().min(6)]) {
            headers.insert("retry-after", v);
        }
    }
    if flags & 4 != 0 {
        let len = if flags & 8 != 0 {
            body.len() as u64 * 1000 + 7
        } else {
            body.len() as u64
        };
        headers.insert("content-length", HeaderValue::from(len));
    }
    let status = StatusCode::from_u16(status).expect("100–599");
    let mut incoming = Incoming::start(status, &headers)?;
    for c in body.chunks(chunk) {
        incoming.push(c)?;
    }
    incoming.finish()
}

/// The token futures finish in one poll: the canned client answers at once.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the token request waited on nothing"),
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    let (flags, chunk, body) = (data[2], 1 + data[3] as usize * 16, &data[4..]);
    let client = |_request: HttpRequest| std::future::ready(reply(status, flags, chunk, body));
    let creds = ClientCredentials {
        client_id: "client".into(),
        client_secret: Some(Secret::new("secret")),
    };
    let result = if flags & 16 != 0 {
        now(oauth::refresh(
            &client,
            gmail(),
            &creds,
            &Secret::new("1//refresh"),
        ))
    } else {
        let verifier = Secret::new("v".repeat(43));
        now(oauth::exchange_code(
            &client,
            gmail(),
            &creds,
            "dev.keyport:/oauth/callback",
            &Secret::new("4/0Acode"),
            Some(&verifier),
        ))
    };
    match result {
        Ok(tokens) => {
            if let Some(id_token) = &tokens.id_token {
                let _ =
                    oauth::id_token_identity(id_token, "client", Some("https://issuer.example"));
            }
        }
        Err(e) => {
            let _ = (e.code(), e.to_string(), e.to_json(), e.is_transient());
        }
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = oauth::id_token_identity(&Secret::new(text), "client", None);
    }
});
