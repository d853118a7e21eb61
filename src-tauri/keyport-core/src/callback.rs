//! The authorization response as it comes back to Keyport: a deep link
//! (`dev.keyport:/oauth/callback?…`) or a loopback request's query. Parsing is
//! strict — hostile input gets `deeplink.invalid`, never a panic.

use std::fmt;

use url::Url;

use crate::error::{Error, Result};
use crate::secrets::Secret;

/// The private-use URI scheme (RFC 8252 §7.1), registered by the installers.
pub const SCHEME: &str = "dev.keyport";
/// The redirect URI for deep-link mode.
pub const DEEP_LINK_REDIRECT: &str = "dev.keyport:/oauth/callback";

const MAX_URL_LEN: usize = 8 * 1024;
const MAX_PARAM_LEN: usize = 4 * 1024;

/// What the provider sent back to the redirect URI.
pub struct Callback {
    pub state: String,
    pub outcome: Outcome,
    /// RFC 9207's `iss`: which authorization server answered (Google sends
    /// it; most providers do not).
    pub issuer: Option<String>,
}

pub enum Outcome {
    /// The authorization code (a secret until redeemed).
    Code(Secret),
    /// `error=…` (RFC 6749 §4.1.2.1).
    Error {
        error: String,
        description: Option<String>,
    },
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match &self.outcome {
            Outcome::Code(_) => "code=[redacted]".to_string(),
            Outcome::Error { error, .. } => format!("error={error}"),
        };
        write!(
            f,
            "Callback {{ state: {}…, {outcome} }}",
            state_prefix(&self.state)
        )
    }
}

/// The first characters of a state, enough to tell flows apart in logs.
pub fn state_prefix(state: &str) -> &str {
    let end = state
        .char_indices()
        .nth(6)
        .map(|(i, _)| i)
        .unwrap_or(state.len());
    &state[..end]
}

/// Is `arg` meant as a deep link (a `dev.keyport:` URL)?
pub fn is_deep_link(arg: &str) -> bool {
    let bytes = arg.as_bytes();
    bytes.len() > SCHEME.len()
        && bytes[..SCHEME.len()].eq_ignore_ascii_case(SCHEME.as_bytes())
        && bytes[SCHEME.len()] == b':'
}

/// Parses a `dev.keyport:/oauth/callback?…` URL.
pub fn parse_deep_link(raw: &str) -> Result<Callback> {
    if raw.len() > MAX_URL_LEN {
        return Err(Error::DeepLinkInvalid("the link is too long".into()));
    }
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::DeepLinkInvalid(format!("it is not a valid URL ({e})")))?;
    if url.scheme() != SCHEME {
        return Err(Error::DeepLinkInvalid(format!(
            "the scheme is \"{}\", not \"{SCHEME}\"",
            url.scheme()
        )));
    }
    // `dev.keyport:/oauth/callback` (RFC 8252 form) or `dev.keyport://oauth/callback`.
    let path_ok = match url.host_str() {
        None | Some("") => url.path() == "/oauth/callback",
        Some("oauth") => url.path() == "/callback",
        Some(_) => false,
    };
    if !path_ok || url.username() != "" || url.password().is_some() || url.port().is_some() {
        return Err(Error::DeepLinkInvalid(
            "Keyport only accepts dev.keyport:/oauth/callback".into(),
        ));
    }
    parse_query(url.query().unwrap_or(""))
}

/// Parses the query of an authorization response (deep link or loopback).
pub fn parse_query(query: &str) -> Result<Callback> {
    if query.len() > MAX_URL_LEN {
        return Err(Error::DeepLinkInvalid("the response is too long".into()));
    }
    let mut state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    let mut issuer = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "state" => &mut state,
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            "iss" => &mut issuer,
            _ => continue, // scope, authuser, session_state…
        };
        if slot.is_some() {
            return Err(Error::DeepLinkInvalid(format!("`{key}` appears twice")));
        }
        if value.len() > MAX_PARAM_LEN || value.chars().any(|c| c.is_control()) {
            return Err(Error::DeepLinkInvalid(format!("`{key}` is malformed")));
        }
        *slot = Some(value.into_owned());
    }
    let state = state
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::DeepLinkInvalid("it has no `state`".into()))?;
    let outcome = match (error, code) {
        (Some(error), _) => Outcome::Error {
            error: sanitize(&error, 64),
            description: description.map(|d| sanitize(&d, 300)),
        },
        (None, Some(code)) if !code.is_empty() => Outcome::Code(Secret::new(code)),
        (None, _) => Outcome::Error {
            error: String::new(),
            description: None,
        },
    };
    Ok(Callback {
        state,
        outcome,
        issuer,
    })
}

/// Provider-supplied text shown to people: printable, bounded.
fn sanitize(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(cb: &Callback) -> &str {
        match &cb.outcome {
            Outcome::Code(c) => c.expose(),
            Outcome::Error { .. } => panic!("expected a code"),
        }
    }

    #[test]
    fn accepts_both_callback_forms() {
        for url in [
            "dev.keyport:/oauth/callback?state=abc&code=xyz",
            "dev.keyport://oauth/callback?code=xyz&state=abc&scope=a%20b",
            "DEV.KEYPORT:/oauth/callback?state=abc&code=xyz",
        ] {
            let cb = parse_deep_link(url).unwrap();
            assert_eq!(cb.state, "abc");
            assert_eq!(code_of(&cb), "xyz");
        }
    }

    #[test]
    fn error_callback() {
        let cb = parse_deep_link(
            "dev.keyport:/oauth/callback?state=s&error=access_denied&error_description=User%20said%20no",
        )
        .unwrap();
        match cb.outcome {
            Outcome::Error { error, description } => {
                assert_eq!(error, "access_denied");
                assert_eq!(description.as_deref(), Some("User said no"));
            }
            Outcome::Code(_) => panic!(),
        }
    }

    #[test]
    fn rejects_hostile_links() {
        let long = format!(
            "dev.keyport:/oauth/callback?state=s&code={}",
            "a".repeat(9000)
        );
        for bad in [
            "",
            "dev.keyport",
            "dev.keyport:",
            "https://evil.example/oauth/callback?state=s&code=c",
            "dev.keyport:/other?state=s&code=c",
            "dev.keyport://evil.example/oauth/callback?state=s&code=c",
            "dev.keyport://user:pw@oauth/callback?state=s&code=c",
            // Each part of an authority alone is refused too.
            "dev.keyport://user@oauth/callback?state=s&code=c",
            "dev.keyport://:pw@oauth/callback?state=s&code=c",
            "dev.keyport://oauth:8080/callback?state=s&code=c",
            "dev.keyport:/oauth/callback?code=c",
            "dev.keyport:/oauth/callback?state=&code=c",
            "dev.keyport:/oauth/callback?state=a&state=b&code=c",
            "dev.keyport:/oauth/callback?state=a&code=c&code=d",
            "dev.keyport:/oauth/callback?state=a%00b&code=c",
            long.as_str(),
        ] {
            let err = parse_deep_link(bad).expect_err(bad);
            assert_eq!(err.code(), "deeplink.invalid", "{bad}");
        }
    }

    #[test]
    fn missing_code_is_an_error_outcome_not_a_panic() {
        for link in [
            "dev.keyport:/oauth/callback?state=s",
            // An empty code is no code: never sent to the token endpoint.
            "dev.keyport:/oauth/callback?state=s&code=",
        ] {
            let cb = parse_deep_link(link).unwrap();
            assert!(
                matches!(cb.outcome, Outcome::Error { ref error, .. } if error.is_empty()),
                "{link}"
            );
        }
    }

    /// The size limits hold to the byte: the longest allowed is taken, one
    /// more is refused (padding goes in a parameter Keyport ignores).
    #[test]
    fn size_limits_are_exact() {
        let padded = |base: &str, len: usize| format!("{base}{}", "a".repeat(len - base.len()));
        let link = |len| padded("dev.keyport:/oauth/callback?state=s&code=c&pad=", len);
        assert_eq!(code_of(&parse_deep_link(&link(MAX_URL_LEN)).unwrap()), "c");
        let err = parse_deep_link(&link(MAX_URL_LEN + 1)).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");

        let query = |len| padded("state=s&code=c&pad=", len);
        assert_eq!(code_of(&parse_query(&query(MAX_URL_LEN)).unwrap()), "c");
        let err = parse_query(&query(MAX_URL_LEN + 1)).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");

        let code = |len| format!("state=s&code={}", "c".repeat(len));
        let cb = parse_query(&code(MAX_PARAM_LEN)).unwrap();
        assert_eq!(code_of(&cb).len(), MAX_PARAM_LEN);
        let err = parse_query(&code(MAX_PARAM_LEN + 1)).unwrap_err();
        assert!(err.to_string().contains("`code` is malformed"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_code() {
        let cb = parse_deep_link("dev.keyport:/oauth/callback?state=abcdefghij&code=SECRETCODE")
            .unwrap();
        let shown = format!("{cb:?}");
        assert!(
            !shown.contains("SECRETCODE") && !shown.contains("abcdefghij"),
            "{shown}"
        );
    }

    #[test]
    fn recognises_deep_link_arguments() {
        assert!(is_deep_link("dev.keyport:/oauth/callback"));
        assert!(!is_deep_link("dev.keyport"));
        assert!(!is_deep_link("list"));
        assert!(!is_deep_link("dev.keyportx:/y"));
        // Found by the fuzzer: a multi-byte character across the prefix.
        assert!(!is_deep_link("eyporyport\u{18e}\u{70d}:q#"));
    }
}
