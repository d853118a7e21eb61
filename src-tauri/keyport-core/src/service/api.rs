//! `keyport api`: a call to a connection's provider API with its token, in
//! the manner of `gh api`. The token goes only to the integration's
//! `api_origins` (any other host is refused before a request is made); a
//! 401 gets one refresh and one retry; `--paginate` follows Google's
//! `nextPageToken` and Microsoft's `@odata.nextLink`. Every call is in the
//! usage history.

use url::Url;

use super::Keyport;
use crate::catalog::Integration;
use crate::error::{Error, Result};
use crate::http::ApiReply;
use crate::process::Program;

/// What a local program asks of the API.
#[derive(Clone, Debug, Default)]
pub struct ApiRequest {
    pub method: String,
    /// A path (`/gmail/v1/users/me/messages`, on the first API origin) or a
    /// whole URL on one of the API origins.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// Query fields added to the URL.
    pub fields: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub paginate: bool,
}

/// Pages followed at most with `paginate` (a loop guard, not a limit a
/// mailbox reaches: 1,000 pages of 500 messages).
const MAX_PAGES: usize = 1000;

/// The URL `target` names, if the integration's token may go there.
pub fn api_url(integration: &Integration, target: &str) -> Result<Url> {
    let Some(first) = integration.api_origins.first() else {
        return Err(Error::InvalidInput(format!(
            "{} has no API Keyport may call (its catalog entry sets no `api_origins`)",
            integration.name
        )));
    };
    let url = if target.starts_with('/') && !target.starts_with("//") {
        Url::parse(&format!("{first}{target}"))
    } else {
        Url::parse(target)
    }
    // Not echoed: a URL's query may hold something private.
    .map_err(|e| Error::InvalidInput(format!("the API target is not a path or URL ({e})")))?;
    let origin = url.origin().ascii_serialization();
    if !integration.api_origins.contains(&origin)
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Error::ForeignHost {
            integration: integration.name.clone(),
            host: origin,
            allowed: integration.api_origins.join(", "),
        });
    }
    Ok(url)
}

/// The next page's URL: Google's `nextPageToken` (as `pageToken`) or
/// Microsoft's `@odata.nextLink`.
fn next_page(url: &Url, reply: &ApiReply) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
    if let Some(link) = json.get("@odata.nextLink").and_then(|v| v.as_str()) {
        return Some(link.to_string());
    }
    let token = json.get("nextPageToken").and_then(|v| v.as_str())?;
    let mut next = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "pageToken")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    next.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("pageToken", token);
    Some(next.into())
}

impl Keyport {
    /// Calls the API for a local program, handing each page's reply to
    /// `on_page` as it arrives (one page without `paginate`, which follows
    /// only GET requests). A non-2xx reply ends the pages; the caller prints
    /// it and fails with [`Error::ApiStatus`]. The request is checked before
    /// any token is read: method, headers, the host.
    pub async fn api(
        &self,
        id_or_email: &str,
        req: ApiRequest,
        requester: Option<Program>,
        mut on_page: impl FnMut(&ApiReply) -> Result<()>,
    ) -> Result<()> {
        let conn = self.get(id_or_email)?;
        let integration = self.integration(&conn.integration)?.clone();
        // The token goes to the API origins: only confirmed ones.
        self.check_endpoints(&integration)?;
        let method = method_of(&req)?;
        check_headers(&req.headers)?;
        let mut url = api_url(&integration, &req.target)?;
        if !req.fields.is_empty() {
            url.query_pairs_mut().extend_pairs(&req.fields);
        }
        let tokens = self.token_for(&conn, None).await?;
        let mut token = tokens.access_token;
        // Just issued and refused anyway: the API will not take this token
        // (another audience, a missing scope); a refresh would not change
        // that, and one per call would hammer the token endpoint.
        let fresh = self.clock.now_ms() / 1000 - tokens.obtained_at < 60;
        self.record_use(&conn.id, "api", requester)?;
        let paginate = req.paginate && method == "GET";
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut reply = self.send_api(&method, &req, &url, &token).await?;
            if reply.status == 401 && !fresh {
                // The token was refused: refresh once (unless another
                // process did) and try again.
                token = self.token_for(&conn, Some(&token)).await?.access_token;
                reply = self.send_api(&method, &req, &url, &token).await?;
            }
            let next = (paginate && (200..300).contains(&reply.status))
                .then(|| next_page(&url, &reply))
                .flatten();
            on_page(&reply)?;
            let Some(next) = next else { return Ok(()) };
            // A relative link is on the current page's origin; whichever it
            // is, it must be one of the API's.
            let next = url.join(&next).map_err(|_| {
                Error::ProviderMalformed("the next page's link is not a URL".into())
            })?;
            if !seen.insert(next.to_string()) {
                return Err(Error::ProviderMalformed(
                    "the API named a page it had already given as the next one".into(),
                ));
            }
            url = api_url(&integration, next.as_str())?;
        }
        Err(Error::ProviderMalformed(format!(
            "the API still had more pages after {MAX_PAGES}; stopped"
        )))
    }

    async fn send_api(
        &self,
        method: &str,
        req: &ApiRequest,
        url: &Url,
        token: &crate::secrets::Secret,
    ) -> Result<ApiReply> {
        self.http
            .api(method, url, &req.headers, req.body.clone(), token.expose())
            .await
            .map_err(Error::from)
    }
}

/// The method: `-X`, else POST with a body and GET without.
fn method_of(req: &ApiRequest) -> Result<String> {
    let method = match req.method.as_str() {
        "" if req.body.is_some() => "POST".to_string(),
        "" => "GET".to_string(),
        m => m.to_ascii_uppercase(),
    };
    reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| Error::InvalidInput("the method (-X) is not an HTTP method".into()))?;
    Ok(method)
}

/// Header names and values HTTP allows (no line breaks smuggling more).
/// The error names the header's position, never its value (it may hold a
/// credential).
fn check_headers(headers: &[(String, String)]) -> Result<()> {
    for (i, (name, value)) in headers.iter().enumerate() {
        let ok = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && reqwest::header::HeaderValue::from_str(value).is_ok();
        if !ok {
            return Err(Error::InvalidInput(format!(
                "header {} (-H) is not a valid HTTP header",
                i + 1
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn gmail() -> Integration {
        Catalog::builtin().get("gmail").unwrap().clone()
    }

    #[test]
    fn paths_go_to_the_first_api_origin_and_other_hosts_are_refused() {
        let g = gmail();
        let u = api_url(&g, "/gmail/v1/users/me/messages?q=invoice").unwrap();
        assert_eq!(
            u.as_str(),
            "https://gmail.googleapis.com/gmail/v1/users/me/messages?q=invoice"
        );
        assert!(api_url(&g, "https://gmail.googleapis.com/gmail/v1/users/me/profile").is_ok());
        for foreign in [
            "https://evil.example/gmail/v1/users/me/messages",
            "http://gmail.googleapis.com/gmail/v1/users/me/profile",
            "https://gmail.googleapis.com:444/x",
            "https://gmail.googleapis.com.evil.example/x",
            "https://user@gmail.googleapis.com/x",
        ] {
            let err = api_url(&g, foreign).unwrap_err();
            assert_eq!(err.code(), "api.foreign_host", "{foreign}");
        }
        assert_eq!(
            api_url(&g, "not a url").unwrap_err().code(),
            "input.invalid"
        );
    }

    #[test]
    fn the_next_page_follows_google_and_microsoft() {
        let url = Url::parse("https://gmail.googleapis.com/x?maxResults=10&pageToken=old").unwrap();
        let reply = |body: &str| ApiReply {
            status: 200,
            content_type: None,
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(
            next_page(&url, &reply(r#"{"nextPageToken":"n 2"}"#)).as_deref(),
            Some("https://gmail.googleapis.com/x?maxResults=10&pageToken=n+2")
        );
        assert_eq!(
            next_page(
                &url,
                &reply(
                    r#"{"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/messages?$skip=10"}"#
                )
            )
            .as_deref(),
            Some("https://graph.microsoft.com/v1.0/me/messages?$skip=10")
        );
        assert_eq!(next_page(&url, &reply(r#"{"messages":[]}"#)), None);
        assert_eq!(next_page(&url, &reply("not json")), None);
    }
}
