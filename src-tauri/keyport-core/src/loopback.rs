//! The RFC 8252 §7.3 loopback redirect: listen on `127.0.0.1` (and `[::1]`)
//! on an ephemeral port — never on "localhost", which can resolve elsewhere —
//! answer requests to `/callback` until the one carrying this flow's state
//! arrives and hand it back (the service completes it), then close. Other paths and other states are refused without
//! ending the flow.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use crate::callback::{self, Callback};
use crate::error::{Error, Result};
use crate::store::Connection;

const MAX_REQUEST: usize = 16 * 1024;
/// How long a connection may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections read at once; more are dropped until one ends.
const MAX_CONNECTIONS: usize = 64;

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
    /// callback and the connection to answer it on. Each connection is read
    /// by its own task with a short header timeout, so idle or slow local
    /// connections cannot starve the real callback. Other paths and other
    /// states are refused without ending the wait; requests from outside the
    /// loopback range, or (on Linux) from another user's process, too.
    pub async fn next_callback(&self, state: &str) -> (Callback, Reply) {
        let state: Arc<str> = Arc::from(state);
        let (found, mut arrived) = mpsc::channel::<(Callback, TcpStream)>(1);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let own_uid = peer::own_uid();
        loop {
            let (mut stream, addr) = tokio::select! {
                Some((cb, stream)) = arrived.recv() => return (cb, Reply { stream }),
                accepted = self.accept() => match accepted {
                    Ok(a) => a,
                    Err(_) => continue,
                },
            };
            if !addr.ip().is_loopback() {
                continue;
            }
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue; // too many open connections: drop this one
            };
            let ours = stream.local_addr().ok();
            let state = state.clone();
            let found = found.clone();
            tokio::spawn(async move {
                let _slot = slot;
                if let (Some(uid), Some(local)) = (own_uid, ours) {
                    if peer::owner(addr, local) != Some(uid) {
                        tracing::warn!(
                            code = "loopback.foreign_peer",
                            "loopback request from another user's process refused"
                        );
                        respond(
                            &mut stream,
                            403,
                            "Not your sign-in",
                            "This sign-in belongs to another user of this computer.",
                        )
                        .await;
                        return;
                    }
                }
                if let Some(cb) = screen(&mut stream, &state).await {
                    let _ = found.send((cb, stream)).await;
                }
            });
        }
    }
}

/// Reads one request; answers it unless it is the callback for `state`.
async fn screen(stream: &mut TcpStream, state: &str) -> Option<Callback> {
    let Some(target) = read_request_target(stream).await else {
        respond(
            stream,
            400,
            "Bad request",
            "Keyport could not read this request.",
        )
        .await;
        return None;
    };
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    if path != "/callback" {
        respond(stream, 404, "Not found", "There is nothing here.").await;
        return None;
    }
    let cb = match callback::parse_query(query) {
        Ok(cb) => cb,
        Err(e) => {
            respond(stream, 400, "Not a sign-in response", &e.to_string()).await;
            return None;
        }
    };
    if cb.state != state {
        tracing::warn!(
            code = "oauth.state_mismatch",
            "loopback request with another state ignored"
        );
        respond(
            stream,
            400,
            "Not this sign-in",
            "This response does not belong to the sign-in Keyport is waiting for.",
        )
        .await;
        return None;
    }
    Some(cb)
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
        403 => "Forbidden",
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

/// Which local user a loopback TCP peer belongs to. On Linux the kernel
/// lists every socket with its owner in `/proc/net/tcp` and `/proc/net/tcp6`;
/// elsewhere the check is not made.
mod peer {
    use std::net::{IpAddr, SocketAddr};

    /// This process's user id (`None` where sockets carry no owner).
    pub fn own_uid() -> Option<u32> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self").ok().map(|m| m.uid())
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// The owner of the socket connected from `peer` to `local`.
    pub fn owner(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
        ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .find_map(|table| {
                let text = std::fs::read_to_string(table).ok()?;
                find(&text, peer, local)
            })
    }

    /// The `uid` column of the row whose local address is `peer` and whose
    /// remote address is `local` (the client's side of the connection).
    pub fn find(table: &str, peer: SocketAddr, local: SocketAddr) -> Option<u32> {
        let (want_local, want_remote) = (hex(peer), hex(local));
        table.lines().skip(1).find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (l, r, uid) = (cols.get(1)?, cols.get(2)?, cols.get(7)?);
            (want_local.iter().any(|w| l.eq_ignore_ascii_case(w))
                && want_remote.iter().any(|w| r.eq_ignore_ascii_case(w)))
            .then(|| uid.parse().ok())
            .flatten()
        })
    }

    /// The kernel's spellings of an address: 32-bit words in host order,
    /// the port in hex; an IPv4 address also as its IPv6-mapped form.
    fn hex(addr: SocketAddr) -> Vec<String> {
        let port = format!("{:04X}", addr.port());
        let host_order = |octets: &[u8]| -> String {
            octets
                .chunks(4)
                .map(|w| {
                    let mut b = [w[0], w[1], w[2], w[3]];
                    if cfg!(target_endian = "little") {
                        b.reverse();
                    }
                    format!("{:08X}", u32::from_be_bytes(b))
                })
                .collect()
        };
        match addr.ip() {
            IpAddr::V4(ip) => vec![
                format!("{}:{port}", host_order(&ip.octets())),
                format!("{}:{port}", host_order(&ip.to_ipv6_mapped().octets())),
            ],
            IpAddr::V6(ip) => vec![format!("{}:{port}", host_order(&ip.octets()))],
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_the_owner_from_the_kernel_table() {
            // Two rows as Linux prints them: 127.0.0.1:34567 -> 127.0.0.1:8080
            // (uid 1000) and the listener's side (uid 0).
            let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
   0: 0100007F:8707 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 20 4 30 10 -1\n   \
   1: 0100007F:1F90 0100007F:8707 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1\n";
            let peer: SocketAddr = "127.0.0.1:34567".parse().unwrap();
            let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
            assert_eq!(find(table, peer, local), Some(1000));
            assert_eq!(find(table, local, peer), Some(0));
            let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
   0: 00000000000000000000000001000000:8707 00000000000000000000000001000000:1F90 01 00000000:00000000 00:00000000 00000000   65534        0 3 1 0000000000000000 20 4 30 10 -1\n";
            let peer: SocketAddr = "[::1]:34567".parse().unwrap();
            let local: SocketAddr = "[::1]:8080".parse().unwrap();
            assert_eq!(find(v6, peer, local), Some(65534));
            assert_eq!(find(v6, local, peer), None);
        }
    }
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
