//! The one HTTP client Keyport uses to talk to providers: no redirects
//! followed (a token endpoint that redirects is refused, not obeyed), bounded
//! time and bounded reply size, and 5xx / 429 surfaced with their status so
//! callers can tell transient failures from answers.

use std::time::Duration;

use oauth2::http;
pub use oauth2::http::{HeaderMap, HeaderValue, StatusCode};
pub use oauth2::{HttpRequest, HttpResponse};

use crate::error::Error;

/// Replies larger than this are refused (a token reply is a few KB).
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Unreachable(String),
    #[error("HTTP {status}")]
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    #[error("the reply is larger than {0} bytes")]
    TooLarge(usize),
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Error {
        match e {
            HttpError::Unreachable(why) => Error::ProviderUnreachable(why),
            HttpError::Status {
                status: 429,
                retry_after_secs,
            } => Error::RateLimited { retry_after_secs },
            HttpError::Status { status, .. } => Error::ProviderError(status),
            HttpError::TooLarge(max) => {
                Error::ProviderMalformed(format!("the reply is larger than {max} bytes"))
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    pub fn new(timeout: Duration) -> Http {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .user_agent(concat!("Keyport/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Http { client }
    }

    /// Sends one request; 5xx and 429 come back as [`HttpError::Status`].
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        // Method, host and path only: queries and bodies carry codes and tokens.
        tracing::debug!(
            method = %parts.method,
            host = parts.uri.host().unwrap_or(""),
            path = parts.uri.path(),
            "provider request"
        );
        let mut req = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers);
        if !body.is_empty() {
            req = req.body(body);
        }
        let mut resp = req.send().await.map_err(describe)?;
        tracing::trace!(status = resp.status().as_u16(), "provider reply");
        let mut reply = Incoming::start(resp.status(), resp.headers())?;
        while let Some(chunk) = resp.chunk().await.map_err(describe)? {
            reply.push(&chunk)?;
        }
        reply.finish()
    }

    /// GET `url` with a bearer token; returns status and body.
    pub async fn get_bearer(
        &self,
        url: &url::Url,
        token: &str,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| HttpError::Unreachable("the access token is not a valid header".into()))?;
        let req = http::Request::builder()
            .method(http::Method::GET)
            .uri(url.as_str())
            .header(http::header::AUTHORIZATION, auth)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| HttpError::Unreachable(e.to_string()))?;
        let resp = self.send(req).await?;
        Ok((resp.status().as_u16(), resp.into_body()))
    }
}

/// Replies to `keyport api` may be mail with attachments: a larger cap.
pub const MAX_API_BODY: usize = 64 * 1024 * 1024;

/// A provider API's reply as `keyport api` passes it on: any status.
#[derive(Debug)]
pub struct ApiReply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Http {
    /// One call to a provider's API with a bearer token; every status comes
    /// back as an answer (the caller decides), redirects are not followed
    /// (the token must not go to another host), the body is capped at
    /// [`MAX_API_BODY`].
    pub async fn api(
        &self,
        method: &str,
        url: &url::Url,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
        token: &str,
    ) -> Result<ApiReply, HttpError> {
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| HttpError::Unreachable(format!("`{method}` is not an HTTP method")))?;
        tracing::debug!(%method, host = url.host_str().unwrap_or(""), path = url.path(), "API request");
        let mut req = self.client.request(method, url.as_str()).bearer_auth(token);
        for (name, value) in headers {
            req = req.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let mut resp = req.send().await.map_err(describe)?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > MAX_API_BODY {
                return Err(HttpError::TooLarge(MAX_API_BODY));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(ApiReply {
            status,
            content_type,
            body,
        })
    }
}

/// A reply as Keyport takes it in: the status and headers first — 5xx and
/// 429 end it there with their status (and Retry-After), as does a
/// Content-Length over [`MAX_BODY`] — then the body chunk by chunk, refused
/// once it passes [`MAX_BODY`] (a chunked reply announces no length). What
/// [`Http::send`] does with every reply; the fuzz target drives it too.
pub struct Incoming {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Incoming {
    pub fn start(status: StatusCode, headers: &HeaderMap) -> Result<Incoming, HttpError> {
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(HttpError::Status {
                status: status.as_u16(),
                retry_after_secs: headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok()),
            });
        }
        let announced = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.unwrap_or(0) > MAX_BODY as u64 {
            return Err(HttpError::TooLarge(MAX_BODY));
        }
        Ok(Incoming {
            status,
            headers: headers.clone(),
            body: Vec::new(),
        })
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), HttpError> {
        if self.body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError::TooLarge(MAX_BODY));
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    pub fn finish(self) -> Result<HttpResponse, HttpError> {
        let mut out = http::Response::builder().status(self.status);
        for (k, v) in &self.headers {
            out = out.header(k, v);
        }
        out.body(self.body)
            .map_err(|e| HttpError::Unreachable(e.to_string()))
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// A reqwest error as a sentence without its URL (URLs can carry tokens).
fn describe(e: reqwest::Error) -> HttpError {
    let kind = if e.is_timeout() {
        "the request timed out"
    } else if e.is_connect() {
        "the connection failed"
    } else if e.is_body() || e.is_decode() {
        "the reply was cut off"
    } else {
        "the request failed"
    };
    HttpError::Unreachable(kind.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcing(len: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        h
    }

    /// The cap holds to the byte, announced or counted: exactly
    /// [`MAX_BODY`] is taken, one byte more is refused.
    #[test]
    fn the_reply_cap_is_exact() {
        assert!(Incoming::start(StatusCode::OK, &announcing(MAX_BODY)).is_ok());
        assert!(matches!(
            Incoming::start(StatusCode::OK, &announcing(MAX_BODY + 1)),
            Err(HttpError::TooLarge(MAX_BODY))
        ));

        let mut reply = Incoming::start(StatusCode::OK, &HeaderMap::new()).unwrap();
        reply.push(&vec![b'a'; MAX_BODY - 1]).unwrap();
        reply.push(b"b").unwrap();
        assert!(matches!(
            reply.push(b"c"),
            Err(HttpError::TooLarge(MAX_BODY))
        ));
        assert_eq!(reply.finish().unwrap().body().len(), MAX_BODY);
    }
}
