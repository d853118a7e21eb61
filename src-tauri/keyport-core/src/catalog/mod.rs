//! The integration catalog: built-in entries embedded in the binary, merged
//! field by field with the user's `integrations.toml` (ARCHITECTURE.md, "The
//! catalog file"). A bad user file is rejected with its path, line, column and field.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use url::Url;

use crate::error::{Error, Result};

const BUILTIN: &str = include_str!("builtin.toml");
const BUILTIN_NAME: &str = "<built-in catalog>";

/// Parameters Keyport sets itself; a catalog entry may not override them.
pub const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "client_secret",
    "code",
    "code_verifier",
    "grant_type",
];

/// How the provider's redirect reaches Keyport (RFC 8252 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default, TS)]
#[serde(rename_all = "kebab-case")]
pub enum RedirectMode {
    /// Private-use URI scheme `dev.keyport:/oauth/callback` (§7.1).
    #[default]
    DeepLink,
    /// `http://127.0.0.1:{port}/callback` (§7.3).
    Loopback,
    /// An https page the distributor hosts, forwarding to the deep link.
    Relay,
}

impl RedirectMode {
    pub const ALL: [RedirectMode; 3] = [Self::DeepLink, Self::Loopback, Self::Relay];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeepLink => "deep-link",
            Self::Loopback => "loopback",
            Self::Relay => "relay",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown redirect mode \"{s}\": use deep-link, loopback or relay"
                ))
            })
    }
}

/// How a provider is asked for a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OfflineStyle {
    /// The OIDC `offline_access` scope (Microsoft and most OIDC providers).
    #[default]
    Scope,
    /// `access_type=offline` (Google, which rejects the scope).
    AccessType,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ScopePreset {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub description: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub default: bool,
}

/// One catalog entry as written in a file: every field optional so a user
/// entry can override a built-in one field by field.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntegrationSpec {
    id: Option<String>,
    name: Option<String>,
    provider: Option<String>,
    icon: Option<String>,
    description: Option<String>,
    authorize_url: Option<Url>,
    token_url: Option<Url>,
    revocation_url: Option<Url>,
    userinfo_url: Option<Url>,
    check_url: Option<Url>,
    api_origins: Option<Vec<Url>>,
    scopes: Option<Vec<String>>,
    identity_scopes: Option<Vec<String>>,
    presets: Option<Vec<ScopePreset>>,
    additional_params: Option<BTreeMap<String, String>>,
    prompt: Option<String>,
    offline_access: Option<bool>,
    offline_style: Option<OfflineStyle>,
    pkce: Option<bool>,
    scope_separator: Option<String>,
    redirect: Option<RedirectMode>,
    redirect_modes: Option<Vec<RedirectMode>>,
    relay_url: Option<Url>,
    client_id: Option<String>,
    client_secret_required: Option<bool>,
    setup_guide: Option<Url>,
    issuer: Option<String>,
}

impl IntegrationSpec {
    /// `self` overridden by every field `over` sets.
    fn overlay(self, over: IntegrationSpec) -> IntegrationSpec {
        macro_rules! pick {
            ($($f:ident),*) => { IntegrationSpec { $($f: over.$f.or(self.$f)),* } };
        }
        pick!(
            id,
            name,
            provider,
            icon,
            description,
            authorize_url,
            token_url,
            revocation_url,
            userinfo_url,
            check_url,
            api_origins,
            scopes,
            identity_scopes,
            presets,
            additional_params,
            prompt,
            offline_access,
            offline_style,
            pkce,
            scope_separator,
            redirect,
            redirect_modes,
            relay_url,
            client_id,
            client_secret_required,
            setup_guide,
            issuer
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    integration: Vec<toml::Spanned<IntegrationSpec>>,
}

/// A resolved integration: everything Keyport needs to run its OAuth flow.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Integration {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub icon: String,
    pub description: String,
    pub authorize_url: Url,
    pub token_url: Url,
    pub revocation_url: Option<Url>,
    pub userinfo_url: Option<Url>,
    pub check_url: Option<Url>,
    /// The origins of the provider's API (`https://gmail.googleapis.com`):
    /// the only hosts `keyport api` sends this integration's token to.
    pub api_origins: Vec<String>,
    /// Scopes requested when no preset or explicit scopes are chosen.
    pub scopes: Vec<String>,
    /// Scopes added so Keyport can tell which account signed in.
    pub identity_scopes: Vec<String>,
    pub presets: Vec<ScopePreset>,
    pub additional_params: BTreeMap<String, String>,
    pub prompt: Option<String>,
    pub offline_access: bool,
    pub offline_style: OfflineStyle,
    pub pkce: bool,
    pub scope_separator: String,
    pub redirect: RedirectMode,
    pub redirect_modes: Vec<RedirectMode>,
    pub relay_url: Option<Url>,
    pub client_id: Option<String>,
    pub client_secret_required: bool,
    pub setup_guide: Option<Url>,
    /// The provider's issuer identifier: an id_token's `iss` must equal it.
    /// `{tenantid}` stands for the token's `tid` claim (Microsoft's
    /// multi-tenant endpoints).
    pub issuer: Option<String>,
    /// Defined by the user's catalog file (not a built-in).
    pub custom: bool,
    /// A built-in the user's catalog file changes.
    pub overridden: bool,
}

impl Integration {
    /// The scopes of the default preset, else `scopes`.
    pub fn default_scopes(&self) -> Vec<String> {
        self.presets
            .iter()
            .find(|p| p.default)
            .or(self.presets.first())
            .map(|p| p.scopes.clone())
            .unwrap_or_else(|| self.scopes.clone())
    }

    pub fn preset(&self, id: &str) -> Result<&ScopePreset> {
        self.presets.iter().find(|p| p.id == id).ok_or_else(|| {
            let known: Vec<&str> = self.presets.iter().map(|p| p.id.as_str()).collect();
            Error::InvalidInput(format!(
                "{} has no access preset \"{id}\" (known: {})",
                self.name,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    /// Plain words for what the default access allows.
    pub fn access_summary(&self) -> String {
        self.presets
            .iter()
            .find(|p| p.default)
            .or(self.presets.first())
            .map(|p| p.label.clone())
            .unwrap_or_else(|| {
                if self.scopes.is_empty() {
                    "Your basic profile".to_string()
                } else {
                    format!("Scopes: {}", self.scopes.join(", "))
                }
            })
    }

    pub fn allows(&self, mode: RedirectMode) -> bool {
        self.redirect_modes.contains(&mode)
    }

    /// The origins Keyport sends secrets to for this integration: the code,
    /// verifier and client secret (token), the access token (userinfo,
    /// check) and the tokens again (revocation).
    pub fn endpoint_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = [
            Some(&self.token_url),
            self.userinfo_url.as_ref(),
            self.check_url.as_ref(),
            self.revocation_url.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|u| u.origin().ascii_serialization())
        .chain(self.api_origins.iter().cloned())
        .collect();
        origins.sort();
        origins.dedup();
        origins
    }
}

/// The merged catalog, in display order (built-ins first, then the user's).
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    integrations: Vec<Integration>,
}

impl Catalog {
    /// The built-in catalog merged with the user file at `user_file` if it exists.
    pub fn load(user_file: &Path) -> Result<Catalog> {
        refuse_shared_file(user_file)?;
        let user = match std::fs::read_to_string(user_file) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::Io(format!(
                    "cannot read {}: {e}",
                    user_file.display()
                )))
            }
        };
        Catalog::from_sources(
            user.as_deref()
                .map(|t| (user_file.display().to_string(), t)),
        )
    }

    /// The built-in catalog merged with a user file's `text` (`name` is
    /// what errors call the file).
    pub fn parse(name: &str, text: &str) -> Result<Catalog> {
        Catalog::from_sources(Some((name.to_string(), text)))
    }

    pub fn builtin() -> Catalog {
        Catalog::from_sources(None).expect("the built-in catalog is valid")
    }

    fn from_sources(user: Option<(String, &str)>) -> Result<Catalog> {
        let builtin = parse_file(BUILTIN_NAME, BUILTIN)?;
        let mut specs: Vec<(IntegrationSpec, Origin)> = builtin
            .into_iter()
            .map(|s| {
                let span = s.span();
                (
                    s.into_inner(),
                    Origin {
                        file: BUILTIN_NAME.into(),
                        text: BUILTIN.into(),
                        span,
                        custom: false,
                        overridden: false,
                    },
                )
            })
            .collect();
        if let Some((name, text)) = user {
            for entry in parse_file(&name, text)? {
                let span = entry.span();
                let entry = entry.into_inner();
                let origin = Origin {
                    file: name.clone(),
                    text: text.to_string(),
                    span,
                    custom: true,
                    overridden: false,
                };
                let Some(id) = entry.id.clone() else {
                    return Err(origin.error("id", "every [[integration]] needs an `id`"));
                };
                match specs
                    .iter_mut()
                    .find(|(s, _)| s.id.as_deref() == Some(id.as_str()))
                {
                    Some(slot) => {
                        if origin.file == slot.1.file {
                            return Err(origin.error("id", &format!("\"{id}\" is defined twice")));
                        }
                        let base = std::mem::take(&mut slot.0);
                        let origin = Origin {
                            custom: false,
                            overridden: true,
                            ..origin
                        };
                        *slot = (base.overlay(entry), origin);
                    }
                    None => specs.push((entry, origin)),
                }
            }
        }
        let integrations = specs
            .into_iter()
            .map(|(spec, origin)| resolve(spec, &origin))
            .collect::<Result<Vec<_>>>()?;
        Ok(Catalog { integrations })
    }

    pub fn all(&self) -> &[Integration] {
        &self.integrations
    }

    pub fn get(&self, id: &str) -> Result<&Integration> {
        self.integrations
            .iter()
            .find(|i| i.id == id)
            .ok_or_else(|| {
                Error::unknown_integration(id, self.integrations.iter().map(|i| i.id.as_str()))
            })
    }
}

/// Where a spec came from, to point errors at the right line.
struct Origin {
    file: String,
    text: String,
    span: std::ops::Range<usize>,
    custom: bool,
    overridden: bool,
}

impl Origin {
    /// An error at `field` inside this entry (its line when the entry sets it,
    /// else the entry's first line).
    fn error(&self, field: &str, message: &str) -> Error {
        // The entry runs from its header to the next `[[integration]]`.
        let rest = &self.text[self.span.start..];
        let mut offset = self.span.start;
        let mut found = false;
        for (i, line) in rest.split_inclusive('\n').enumerate() {
            if i > 0 && line.trim_start().starts_with("[[integration]]") {
                break;
            }
            if line.split('=').next().unwrap_or("").trim() == field {
                found = true;
                break;
            }
            offset += line.len();
        }
        if !found {
            offset = self.span.start;
        }
        let (line, column) = line_col(&self.text, offset);
        Error::CatalogInvalid {
            file: self.file.clone(),
            line,
            column,
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

fn parse_file(name: &str, text: &str) -> Result<Vec<toml::Spanned<IntegrationSpec>>> {
    match toml::from_str::<CatalogFile>(text) {
        Ok(file) => Ok(file.integration),
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let (line, column) = line_col(text, offset);
            let message = e.message().trim().to_string();
            Err(Error::CatalogInvalid {
                file: name.to_string(),
                line,
                column,
                field: field_in_error(&message, text, offset),
                message,
            })
        }
    }
}

/// The field an error is about: named in serde's message ("unknown field
/// `x`", "missing field `x`"), else the key on the offending line.
pub(crate) fn field_in_error(message: &str, text: &str, offset: usize) -> String {
    for marker in ["unknown field `", "missing field `", "duplicate key `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            return rest.split('`').next().unwrap_or("").to_string();
        }
    }
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let line = text[start..].lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) => key.trim().to_string(),
        None => line.trim().trim_matches(['[', ']']).to_string(),
    }
}

fn resolve(spec: IntegrationSpec, origin: &Origin) -> Result<Integration> {
    let required = |v: Option<String>, field: &str| {
        v.filter(|s| !s.trim().is_empty())
            .ok_or_else(|| origin.error(field, &format!("`{field}` is required")))
    };
    let id = required(spec.id, "id")?;
    if id.len() > 40
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(origin.error(
            "id",
            "use 1–40 lower-case letters, digits and dashes (it is typed on the command line)",
        ));
    }
    let name = required(spec.name, "name")?;
    let provider = required(spec.provider, "provider")?;
    let url = |v: Option<Url>, field: &str| -> Result<Option<Url>> {
        match v {
            Some(u) if !matches!(u.scheme(), "https" | "http") => Err(origin.error(
                field,
                &format!("`{field}` must be an https URL (http only for 127.0.0.1 test servers)"),
            )),
            Some(u) if u.scheme() == "http" && !is_loopback_host(&u) => Err(origin.error(
                field,
                &format!("`{field}` must use https; plain http is allowed only on 127.0.0.1"),
            )),
            other => Ok(other),
        }
    };
    let authorize_url = url(spec.authorize_url, "authorize_url")?
        .ok_or_else(|| origin.error("authorize_url", "`authorize_url` is required"))?;
    let token_url = url(spec.token_url, "token_url")?
        .ok_or_else(|| origin.error("token_url", "`token_url` is required"))?;
    let additional_params = spec.additional_params.unwrap_or_default();
    if let Some(bad) = additional_params
        .keys()
        .find(|k| RESERVED_PARAMS.contains(&k.as_str()))
    {
        return Err(origin.error(
            "additional_params",
            &format!("`{bad}` is set by Keyport itself and cannot be overridden"),
        ));
    }
    let presets = spec.presets.unwrap_or_default();
    if presets.iter().filter(|p| p.default).count() > 1 {
        return Err(origin.error("presets", "only one preset can be the default"));
    }
    let redirect_modes = spec
        .redirect_modes
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| RedirectMode::ALL.to_vec());
    let redirect = spec.redirect.unwrap_or(redirect_modes[0]);
    if !redirect_modes.contains(&redirect) {
        return Err(origin.error(
            "redirect",
            "the default redirect is not among `redirect_modes`",
        ));
    }
    let relay_url = spec.relay_url;
    if let Some(relay) = &relay_url {
        if relay.scheme() != "https" && !is_loopback_host(relay) {
            return Err(origin.error("relay_url", "`relay_url` must be an https URL"));
        }
    }
    // redirect = "relay" without a relay_url uses the relay page set in
    // Settings; initiating says so if there is none.
    let scope_separator = spec.scope_separator.unwrap_or_else(|| " ".to_string());
    if scope_separator.is_empty() {
        return Err(origin.error("scope_separator", "the scope separator cannot be empty"));
    }
    Ok(Integration {
        icon: spec.icon.unwrap_or_else(|| id.clone()),
        description: spec.description.unwrap_or_default(),
        revocation_url: url(spec.revocation_url, "revocation_url")?,
        userinfo_url: url(spec.userinfo_url, "userinfo_url")?,
        check_url: url(spec.check_url, "check_url")?,
        api_origins: api_origins(spec.api_origins, origin)?,
        scopes: spec.scopes.unwrap_or_default(),
        identity_scopes: spec.identity_scopes.unwrap_or_default(),
        presets,
        additional_params,
        prompt: spec.prompt.filter(|p| !p.is_empty()),
        offline_access: spec.offline_access.unwrap_or(false),
        offline_style: spec.offline_style.unwrap_or_default(),
        pkce: spec.pkce.unwrap_or(true),
        scope_separator,
        redirect,
        redirect_modes,
        relay_url,
        client_id: spec.client_id.filter(|c| !c.is_empty()),
        client_secret_required: spec.client_secret_required.unwrap_or(false),
        setup_guide: spec.setup_guide,
        issuer: spec.issuer.filter(|i| !i.trim().is_empty()),
        custom: origin.custom,
        overridden: origin.overridden,
        id,
        name,
        provider,
        authorize_url,
        token_url,
    })
}

/// A catalog file others can write could be changed to send sign-ins
/// elsewhere: refused.
fn refuse_shared_file(file: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(file) {
            if meta.permissions().mode() & 0o022 != 0 {
                return Err(Error::CatalogUnsafe {
                    file: file.display().to_string(),
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// `api_origins`: bare https origins (http only on 127.0.0.1), serialised
/// as `scheme://host[:port]`.
fn api_origins(v: Option<Vec<Url>>, origin: &Origin) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for u in v.unwrap_or_default() {
        let secure = u.scheme() == "https" || (u.scheme() == "http" && is_loopback_host(&u));
        let bare = u.path() == "/"
            && u.query().is_none()
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none();
        if !secure || !bare {
            return Err(origin.error(
                "api_origins",
                &format!("`{u}` is not an https origin (scheme and host only, as https://gmail.googleapis.com)"),
            ));
        }
        out.push(u.origin().ascii_serialization());
    }
    Ok(out)
}

fn is_loopback_host(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_user(text: &str) -> Result<Catalog> {
        Catalog::from_sources(Some(("user.toml".to_string(), text)))
    }

    fn expect_invalid(text: &str) -> (usize, String, String) {
        match with_user(text) {
            Err(Error::CatalogInvalid {
                line,
                field,
                message,
                file,
                ..
            }) => {
                assert_eq!(file, "user.toml");
                (line, field, message)
            }
            other => panic!("expected catalog.invalid, got {other:?}"),
        }
    }

    #[test]
    fn builtin_has_the_four_integrations_with_real_endpoints() {
        let c = Catalog::builtin();
        let ids: Vec<&str> = c.all().iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["gmail", "google-calendar", "google-drive", "outlook"]);
        let gmail = c.get("gmail").unwrap();
        assert_eq!(
            gmail.token_url.as_str(),
            "https://oauth2.googleapis.com/token"
        );
        assert_eq!(gmail.redirect, RedirectMode::Loopback);
        assert_eq!(gmail.offline_style, OfflineStyle::AccessType);
        assert_eq!(
            gmail.default_scopes(),
            ["https://www.googleapis.com/auth/gmail.readonly"]
        );
        assert_eq!(gmail.presets.len(), 3);
        assert!(c.get("outlook").unwrap().revocation_url.is_none());
        assert!(!gmail.custom);
    }

    #[test]
    fn user_entry_overrides_only_the_fields_it_sets() {
        let c = with_user(
            "[[integration]]\nid = \"gmail\"\ntoken_url = \"http://127.0.0.1:9/token\"\nclient_id = \"abc\"\n",
        )
        .unwrap();
        let gmail = c.get("gmail").unwrap();
        assert_eq!(gmail.token_url.as_str(), "http://127.0.0.1:9/token");
        assert_eq!(gmail.client_id.as_deref(), Some("abc"));
        assert_eq!(
            gmail.authorize_url.as_str(),
            "https://accounts.google.com/o/oauth2/v2/auth"
        );
        assert!(gmail.overridden && !gmail.custom);
        assert_eq!(c.all().len(), 4);
    }

    #[test]
    fn user_can_add_a_custom_provider() {
        let c = with_user(
            r#"
[[integration]]
id = "acme-mail"
name = "Acme Mail"
provider = "acme"
authorize_url = "https://id.acme.example/authorize"
token_url = "https://id.acme.example/token"
scopes = ["openid", "email", "mail.read"]
additional_params = { audience = "mail" }
redirect = "deep-link"
"#,
        )
        .unwrap();
        let acme = c.get("acme-mail").unwrap();
        assert_eq!(acme.additional_params["audience"], "mail");
        assert_eq!(acme.default_scopes(), ["openid", "email", "mail.read"]);
        assert_eq!(c.all().len(), 5);
    }

    #[test]
    fn syntax_error_names_line() {
        let (line, _, _) = expect_invalid("[[integration]]\nid = \"x\"\nname = \n");
        assert_eq!(line, 3);
    }

    #[test]
    fn unknown_field_names_the_field_and_line() {
        let (line, field, _) =
            expect_invalid("[[integration]]\nid = \"gmail\"\nscopse = [\"a\"]\n");
        assert_eq!((line, field.as_str()), (3, "scopse"));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let (line, field, _) =
            expect_invalid("[[integration]]\nid = \"gmail\"\n\nscopes = \"mail\"\n");
        assert_eq!((line, field.as_str()), (4, "scopes"));
    }

    #[test]
    fn bad_url_names_the_field() {
        let (line, field, _) =
            expect_invalid("[[integration]]\nid = \"gmail\"\ntoken_url = \"not a url\"\n");
        assert_eq!((line, field.as_str()), (3, "token_url"));
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let (line, field, _) = expect_invalid(
            "[[integration]]\nid = \"gmail\"\ntoken_url = \"http://evil.example/token\"\n",
        );
        assert_eq!((line, field.as_str()), (3, "token_url"));
    }

    #[test]
    fn reserved_params_are_rejected() {
        let (line, field, message) = expect_invalid(
            "[[integration]]\nid = \"gmail\"\nadditional_params = { state = \"fixed\" }\n",
        );
        assert_eq!((line, field.as_str()), (3, "additional_params"));
        assert!(message.contains("state"), "{message}");
    }

    #[test]
    fn new_entry_missing_required_field() {
        let (line, field, _) = expect_invalid(
            "\n[[integration]]\nid = \"acme\"\nname = \"Acme\"\nprovider = \"acme\"\nauthorize_url = \"https://a.example/auth\"\n",
        );
        assert_eq!((line, field.as_str()), (2, "token_url"));
    }

    #[test]
    fn bad_id_and_duplicates() {
        let (_, field, _) = expect_invalid("[[integration]]\nid = \"Bad Id\"\nname=\"x\"\n");
        assert_eq!(field, "id");
        let (line, field, _) =
            expect_invalid("[[integration]]\nid = \"gmail\"\n[[integration]]\nid = \"gmail\"\n");
        assert_eq!((line, field.as_str()), (4, "id"));
    }

    #[test]
    fn ids_are_at_most_forty_characters() {
        let entry = |id: &str| {
            format!(
                "[[integration]]\nid = \"{id}\"\nname = \"X\"\nprovider = \"x\"\n\
                 authorize_url = \"https://x.example/a\"\ntoken_url = \"https://x.example/t\"\n"
            )
        };
        let forty = "a".repeat(40);
        assert!(with_user(&entry(&forty)).unwrap().get(&forty).is_ok());
        let (_, field, _) = expect_invalid(&entry(&"a".repeat(41)));
        assert_eq!(field, "id");
    }

    #[test]
    fn urls_of_other_schemes_are_refused() {
        for url in [
            "ftp://x.example/token",
            "file:///etc/passwd",
            "javascript:alert(1)",
        ] {
            let (_, field, message) = expect_invalid(&format!(
                "[[integration]]\nid = \"gmail\"\ntoken_url = \"{url}\"\n"
            ));
            assert_eq!(field, "token_url", "{url}");
            assert!(message.contains("https"), "{url}: {message}");
        }
    }

    #[test]
    fn ipv6_loopback_counts_as_loopback() {
        let c =
            with_user("[[integration]]\nid = \"gmail\"\ntoken_url = \"http://[::1]:9/token\"\n")
                .unwrap();
        assert_eq!(
            c.get("gmail").unwrap().token_url.as_str(),
            "http://[::1]:9/token"
        );
        let (_, field, _) = expect_invalid(
            "[[integration]]\nid = \"gmail\"\ntoken_url = \"http://[2001:db8::1]:9/token\"\n",
        );
        assert_eq!(field, "token_url");
    }

    /// Empty and blank values mean "not set", never an empty prompt, client
    /// id or issuer sent on or checked against.
    #[test]
    fn empty_values_are_unset() {
        let c = with_user(
            "[[integration]]\nid = \"gmail\"\nprompt = \"\"\nclient_id = \"\"\nissuer = \"  \"\n",
        )
        .unwrap();
        let g = c.get("gmail").unwrap();
        assert_eq!(
            (
                g.prompt.as_deref(),
                g.client_id.as_deref(),
                g.issuer.as_deref()
            ),
            (None, None, None)
        );
        let c = with_user(
            "[[integration]]\nid = \"gmail\"\nprompt = \"login\"\nclient_id = \"1-x.apps.googleusercontent.com\"\nissuer = \"https://accounts.google.com\"\n",
        )
        .unwrap();
        let g = c.get("gmail").unwrap();
        assert_eq!(g.prompt.as_deref(), Some("login"));
        assert_eq!(
            g.client_id.as_deref(),
            Some("1-x.apps.googleusercontent.com")
        );
        assert_eq!(g.issuer.as_deref(), Some("https://accounts.google.com"));
    }

    #[test]
    fn a_relay_page_is_https_or_on_loopback() {
        let c = with_user(
            "[[integration]]\nid = \"gmail\"\nrelay_url = \"http://127.0.0.1:9/relay\"\n",
        )
        .unwrap();
        assert_eq!(
            c.get("gmail")
                .unwrap()
                .relay_url
                .as_ref()
                .map(|u| u.as_str()),
            Some("http://127.0.0.1:9/relay")
        );
        let (_, field, _) = expect_invalid(
            "[[integration]]\nid = \"gmail\"\nrelay_url = \"http://relay.example/r\"\n",
        );
        assert_eq!(field, "relay_url");
    }

    #[test]
    fn api_origins_are_bare_https_origins() {
        let c = with_user(
            "[[integration]]\nid = \"gmail\"\napi_origins = [\"https://gmail.googleapis.com\", \"http://127.0.0.1:9\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.get("gmail").unwrap().api_origins,
            ["https://gmail.googleapis.com", "http://127.0.0.1:9"]
        );
        for bad in [
            "http://gmail.googleapis.com",
            "https://gmail.googleapis.com/gmail",
            "https://u@x.example",
        ] {
            let (_, field, _) = expect_invalid(&format!(
                "[[integration]]\nid = \"gmail\"\napi_origins = [\"{bad}\"]\n"
            ));
            assert_eq!(field, "api_origins", "{bad}");
        }
    }

    #[test]
    fn missing_user_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::load(&dir.path().join("integrations.toml")).unwrap();
        assert_eq!(c.all().len(), 4);
    }
}
