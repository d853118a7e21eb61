//! The RFC 8252 §7.3 loopback redirect: listen on `127.0.0.1` (and `[::1]`)
//! on an ephemeral port — never on "localhost", which can resolve elsewhere —
//! answer requests to `/callback` until the one carrying this flow's state
//! arrives and hand it back (the service completes it), then close. Other paths and other states are refused without
//! ending the flow.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::callback::{self, Callback};
use crate::error::{Error, Result};
use crate::store::Connection;

const MAX_REQUEST: usize = 16 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Listener {
    v4: TcpListener,
    v6: Option<TcpListener>,
    port: u16,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Listener(127.0.0.1:{})", self.port)
    }
}

impl Listener {
    /// Binds `127.0.0.1:port` (0 = any free port) and, when the system has
    /// IPv6 loopback, `[::1]` on the same port.
    pub async fn bind(port: u16) -> Result<Listener> {
        let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await
            .map_err(|e| Error::Io(format!("cannot listen on 127.0.0.1: {e}")))?;
        let port = v4.local_addr()?.port();
        let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
            .await
            .ok();
        Ok(Listener { v4, v6, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses actually bound (loopback only).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.v4.local_addr().into_iter().collect();
        if let Some(v6) = &self.v6 {
            v.extend(v6.local_addr());
        }
        v
    }

    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    async fn accept(&self) -> std::io::Result<(TcpStream, SocketAddr)> {
        match &self.v6 {
            Some(v6) => tokio::select! {
                r = self.v4.accept() => r,
                r = v6.accept() => r,
            },
            None => self.v4.accept().await,
        }
    }

    /// Answers requests until one carries `state`, then hands back its
    /// callback and the connection to answer it on. Other paths and other
    /// states are refused without ending the wait; requests from outside
    /// the loopback range are dropped.
    pub async fn next_callback(&self, state: &str) -> (Callback, Reply) {
        loop {
            let Ok((mut stream, peer)) = self.accept().await else {
                continue;
            };
            if !peer.ip().is_loopback() {
                continue;
            }
            let Some(target) = read_request_target(&mut stream).await else {
                respond(
                    &mut stream,
                    400,
                    "Bad request",
                    "Keyport could not read this request.",
                )
                .await;
                continue;
            };
            let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
            if path != "/callback" {
                respond(&mut stream, 404, "Not found", "There is nothing here.").await;
                continue;
            }
            let cb = match callback::parse_query(query) {
                Ok(cb) => cb,
                Err(e) => {
                    respond(&mut stream, 400, "Not a sign-in response", &e.to_string()).await;
                    continue;
                }
            };
            if cb.state != state {
                tracing::warn!(
                    code = "oauth.state_mismatch",
                    "loopback request with another state ignored"
                );
                respond(
                    &mut stream,
                    400,
                    "Not this sign-in",
                    "This response does not belong to the sign-in Keyport is waiting for.",
                )
                .await;
                continue;
            }
            return (cb, Reply { stream });
        }
    }
}

/// The browser's request that carried the callback, waiting for the page
/// that tells the person how the sign-in ended.
pub struct Reply {
    stream: TcpStream,
}

impl Reply {
    pub async fn send(mut self, result: &Result<Connection>) {
        match result {
            Ok(c) => {
                let who = c.email.as_deref().unwrap_or("your account");
                respond(
                    &mut self.stream,
                    200,
                    "Keyport is connected",
                    &format!("You can close this tab — Keyport is connected as {who}."),
                )
                .await
            }
            Err(e) => {
                respond(
                    &mut self.stream,
                    200,
                    "Keyport could not connect",
                    &e.to_string(),
                )
                .await
            }
        }
    }
}

/// Reads the request head and returns its target (`/callback?…`).
async fn read_request_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let read = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 || buf.len() + n > MAX_REQUEST {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some(())
    };
    tokio::time::timeout(READ_TIMEOUT, read).await.ok()??;
    let head = std::str::from_utf8(&buf).ok()?;
    let mut parts = head.lines().next()?.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    (method == "GET" && target.starts_with('/')).then(|| target.to_string())
}

async fn respond(stream: &mut TcpStream, status: u16, title: &str, message: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = page(title, message);
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{t}</title><style>body{{font:16px system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;color:#1b1f24}}\
@media (prefers-color-scheme:dark){{body{{background:#16181c;color:#e6e8eb}}a{{color:#8ab4f8}}}}</style>\
<h1>{t}</h1><p>{m}</p><p><a href=\"dev.keyport:/open\">Return to Keyport</a></p></html>",
        t = escape(title),
        m = escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_provider_text() {
        let p = page("x", "<script>alert(1)</script>");
        assert!(!p.contains("<script>"));
    }
}
