//! `keyport`, the command line: Keyport's broker for scripts and mail clients
//! (the contract is in ARCHITECTURE.md). It links no GUI library, so it starts
//! fast and runs on a headless machine. With no arguments, or with a lone
//! `dev.keyport:` URL, it starts the app (`keyport-app`) installed beside it.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use keyport_core::callback;
use keyport_core::catalog::RedirectMode;
use keyport_core::error::{Error, Result};
use keyport_core::paths::Paths;
use keyport_core::sasl;
use keyport_core::secrets::Secret;
use keyport_core::service::api::ApiRequest;
use keyport_core::service::{ClientSource, ConnectOptions, Keyport, SignIn};
use keyport_core::store::Connection;

mod app;
mod reset;

#[derive(Parser, Debug)]
#[command(
    name = "keyport",
    version,
    about = "Connect your own accounts through OAuth and keep the connections healthy, locally.",
    after_help = "Run without a command to open the Keyport window."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the integrations Keyport can connect.
    Integrations {
        /// Print JSON instead of text (errors too).
        #[arg(long)]
        json: bool,
    },
    /// Connect an account: opens the browser and waits for the sign-in.
    Connect {
        /// Integration id (see `keyport integrations`).
        integration: String,
        /// Explicit scopes, comma separated (instead of a preset).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// An access preset of the integration (e.g. read, send, full).
        #[arg(long)]
        preset: Option<String>,
        /// Suggest which account to sign in with.
        #[arg(long)]
        login_hint: Option<String>,
        #[command(flatten)]
        flow: BrowserFlow,
    },
    /// Complete a sign-in from a `dev.keyport:` callback URL.
    OpenUrl { url: String },
    /// List connections.
    List {
        /// Print JSON instead of text (errors too).
        #[arg(long)]
        json: bool,
    },
    /// Label a connection and keep a note on it ("Müller GmbH"); both show
    /// in the window and the export. An empty value clears it.
    Label {
        /// Connection id or account email.
        connection: String,
        /// The label; omit it to keep the current one.
        label: Option<String>,
        /// A note ("Client since 2019, VAT returns").
        #[arg(long)]
        note: Option<String>,
        /// Print JSON instead of text (errors too).
        #[arg(long)]
        json: bool,
    },
    /// Write the connection list as CSV or JSON for a spreadsheet or a
    /// script: accounts, labels, notes, status. Never a token or a secret.
    Export {
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Check a connection now: refresh if due, then the provider's check call.
    Check {
        /// Connection id or account email.
        connection: String,
        /// Print JSON instead of text (errors too).
        #[arg(long)]
        json: bool,
    },
    /// Print a fresh access token for a connection (and nothing else).
    /// Exit code 3: the connection needs the person (reconnect or grant).
    Token {
        /// Connection id or account email.
        connection: String,
        #[command(flatten)]
        format: TokenFormat,
    },
    /// Call the connection's provider API with its token (as `gh api`).
    /// The token goes only to the integration's API origins.
    Api {
        /// Connection id or account email.
        connection: String,
        /// A path on the API (`/gmail/v1/users/me/messages`) or a URL on it.
        target: String,
        /// The HTTP method (default GET, or POST with --input).
        #[arg(short = 'X', long, default_value = "")]
        method: String,
        /// A request header, `Name: value` (repeatable).
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// A query field, `key=value` (repeatable).
        #[arg(short = 'f', long = "field")]
        fields: Vec<String>,
        /// The request body from a file, or `-` for standard input.
        #[arg(long)]
        input: Option<std::path::PathBuf>,
        /// Follow nextPageToken / @odata.nextLink and print every page.
        #[arg(long)]
        paginate: bool,
    },
    /// Which programs were handed tokens: of one connection, or of all.
    Log {
        /// Connection id or account email.
        connection: Option<String>,
        /// How many entries, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of text (errors too).
        #[arg(long)]
        json: bool,
    },
    /// Sign in again on a connection; must be the same account.
    Reconnect {
        /// Connection id or account email.
        connection: String,
        #[command(flatten)]
        flow: BrowserFlow,
    },
    /// Grant more access on a connection: the missing scopes, or --scopes.
    Grant {
        /// Connection id or account email.
        connection: String,
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        #[command(flatten)]
        flow: BrowserFlow,
    },
    /// Disconnect: revoke at the provider, delete the tokens and the connection.
    Disconnect {
        /// Connection id or account email.
        connection: String,
        /// Remove the whole account: every integration on its sign-in.
        #[arg(long)]
        account: bool,
        /// Do not ask on a terminal.
        #[arg(long)]
        yes: bool,
        /// Print JSON instead of text (errors too).
        #[arg(long)]
        json: bool,
    },
    /// Create a connection from an existing refresh token (read from stdin).
    Import {
        integration: String,
        #[arg(long, required = true)]
        refresh_token_stdin: bool,
        /// Print JSON instead of text (errors too).
        #[arg(long)]
        json: bool,
    },
    /// Remove all of Keyport's data on this machine: the data folder and
    /// every keyring entry Keyport made. Asks first unless --yes.
    Reset {
        #[arg(long)]
        yes: bool,
    },
    /// Manage the OAuth clients Keyport uses per provider.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
}

/// How a sign-in in the browser runs (connect, reconnect, grant).
#[derive(clap::Args, Debug)]
pub struct BrowserFlow {
    /// deep-link, loopback or relay (default: Settings, else the integration's).
    #[arg(long)]
    redirect: Option<String>,
    /// Print the URL instead of opening the browser.
    #[arg(long)]
    no_browser: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Print JSON instead of text (errors too).
    #[arg(long)]
    json: bool,
}

impl BrowserFlow {
    fn redirect(&self) -> Result<Option<RedirectMode>> {
        self.redirect
            .as_deref()
            .map(RedirectMode::parse)
            .transpose()
    }
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Set the client id (and secret, read from standard input) of a provider.
    Set {
        /// The provider: google or microsoft.
        provider: String,
        /// The OAuth client id from the provider's console (Google: …apps.googleusercontent.com).
        #[arg(long)]
        client_id: String,
        /// Read the client secret from standard input (never from arguments).
        #[arg(long)]
        client_secret_stdin: bool,
    },
    /// Each provider's client and where it comes from (built-in, your
    /// organisation, you). Never a secret.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set your Google client from the JSON file Google Cloud console
    /// downloads (client_secret_….json, a Desktop app client).
    Import {
        /// The downloaded file.
        file: std::path::PathBuf,
    },
    /// Remove a provider's client and its secret.
    Remove {
        /// The provider: google or microsoft.
        provider: String,
    },
    /// Let an integration whose catalog entry points at other servers than
    /// its provider's use the provider's client (only for an entry you
    /// wrote yourself).
    Trust {
        /// Integration id (see `keyport integrations`).
        integration: String,
        /// Do not ask; confirm at once.
        #[arg(long)]
        yes: bool,
    },
}

/// What a process was started to do.
pub enum Invocation {
    Gui { deep_link: Option<String> },
    Command(Cli),
}

fn parse(args: Vec<OsString>) -> std::result::Result<Invocation, clap::Error> {
    match args.len() {
        0 | 1 => return Ok(Invocation::Gui { deep_link: None }),
        2 => {
            if let Some(a) = args[1].to_str().filter(|a| callback::is_deep_link(a)) {
                return Ok(Invocation::Gui {
                    deep_link: Some(a.to_string()),
                });
            }
        }
        _ => {}
    }
    Cli::try_parse_from(args).map(Invocation::Command)
}

fn main() {
    std::process::exit(run_args(std::env::args_os().collect()));
}

/// How `keyport token` writes the token: bare, or as mail software and
/// scripts take it.
#[derive(clap::Args, Debug, Default)]
#[group(multiple = false)]
pub struct TokenFormat {
    /// The SASL XOAUTH2 initial response (base64), for IMAP and SMTP.
    #[arg(long)]
    xoauth2: bool,
    /// The SASL OAUTHBEARER initial response (RFC 7628, base64).
    #[arg(long)]
    oauthbearer: bool,
    /// JSON: token, type, expiry, scopes, account; errors as JSON too.
    #[arg(long)]
    json: bool,
}

/// Exit code of a command that failed because the connection needs the
/// person — to reconnect (`connection.needs_reauth`,
/// `keyring.secret_missing`) or grant access (`oauth.scopes_missing`):
/// scripts tell it from other errors.
const EXIT_NEEDS_PERSON: i32 = 3;

/// Runs what the arguments ask for; returns the exit code.
fn run_args(args: Vec<OsString>) -> i32 {
    match parse(args) {
        Ok(Invocation::Gui { deep_link }) => app::start(deep_link),
        Ok(Invocation::Command(cli)) => run(cli),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                2
            } else {
                0
            }
        }
    }
}

fn wants_json(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Integrations { json: true }
            | Command::Connect {
                flow: BrowserFlow { json: true, .. },
                ..
            }
            | Command::List { json: true }
            | Command::Label { json: true, .. }
            | Command::Check { json: true, .. }
            | Command::Reconnect {
                flow: BrowserFlow { json: true, .. },
                ..
            }
            | Command::Grant {
                flow: BrowserFlow { json: true, .. },
                ..
            }
            | Command::Disconnect { json: true, .. }
            | Command::Import { json: true, .. }
            | Command::Client {
                command: ClientCommand::List { json: true }
            }
            | Command::Token {
                format: TokenFormat { json: true, .. },
                ..
            }
            | Command::Log { json: true, .. }
    )
}

/// Runs one command; errors go to stderr (as JSON with `--json`).
fn run(cli: Cli) -> i32 {
    let json = wants_json(&cli.command);
    let outcome = Paths::from_env().and_then(|paths| {
        keyport_core::logging::init(&paths, false);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        rt.block_on(execute(paths, cli.command))
    });
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            tracing::warn!(code = e.code(), "command failed: {e}");
            if json {
                eprintln!("{}", e.to_json());
            } else {
                eprintln!("error: {e} [{}]", e.code());
            }
            if matches!(
                e,
                Error::NeedsReauth(_) | Error::ScopesMissing(_) | Error::SecretMissing
            ) {
                EXIT_NEEDS_PERSON
            } else {
                1
            }
        }
    }
}

async fn token(kp: &Keyport, connection: &str, format: &TokenFormat) -> Result<()> {
    let sasl = format.xoauth2 || format.oauthbearer;
    // A SASL login names the account: checked before a token is handed out.
    if sasl && kp.get(connection)?.email.is_none() {
        return Err(Error::InvalidInput(format!(
            "connection {connection} has no account email for a SASL login"
        )));
    }
    let kind = if format.xoauth2 {
        "xoauth2"
    } else if format.oauthbearer {
        "oauthbearer"
    } else if format.json {
        "json"
    } else {
        "token"
    };
    let issued = kp
        .issue_token(connection, kind, keyport_core::process::requester())
        .await?;
    let account = || issued.account.clone().unwrap_or_default();
    if format.xoauth2 {
        println!(
            "{}",
            sasl::xoauth2(&account(), &issued.access_token).expose()
        );
    } else if format.oauthbearer {
        println!(
            "{}",
            sasl::oauthbearer(&account(), &issued.access_token).expose()
        );
    } else if format.json {
        let out = serde_json::json!({
            "access_token": issued.access_token.expose(),
            "token_type": issued.token_type,
            "expires_at": issued.expires_at,
            "scopes": issued.scopes,
            "account": issued.account,
            "connection": issued.connection,
            "integration": issued.integration,
        });
        println!("{out}");
    } else {
        println!("{}", issued.access_token.expose());
    }
    Ok(())
}

/// `Name: value` / `key=value` arguments as pairs. The error names the
/// argument's position, never its text (a header may hold a credential).
fn split_pairs(
    args: &[String],
    sep: char,
    what: &str,
    form: &str,
) -> Result<Vec<(String, String)>> {
    args.iter()
        .enumerate()
        .map(|(i, a)| match a.split_once(sep) {
            Some((k, v)) if !k.trim().is_empty() => {
                // A header's value is trimmed as HTTP does; a field's is kept.
                let v = if sep == ':' { v.trim() } else { v };
                Ok((k.trim().to_string(), v.to_string()))
            }
            _ => Err(Error::InvalidInput(format!(
                "{what} {} is not `{form}`",
                i + 1
            ))),
        })
        .collect()
}

fn read_body(path: &std::path::Path) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin().read_to_end(&mut body)?;
        return Ok(body);
    }
    std::fs::read(path).map_err(|e| {
        Error::InvalidInput(format!("cannot read the body file {}: {e}", path.display()))
    })
}

/// Prints each page as it arrives: pretty JSON on a terminal, the bytes as
/// they came otherwise; a non-2xx reply is printed too, then fails with its
/// status.
async fn api(kp: &Keyport, connection: &str, req: ApiRequest) -> Result<()> {
    let terminal = std::io::stdout().is_terminal();
    let mut failed = None;
    kp.api(
        connection,
        req,
        keyport_core::process::requester(),
        |page| {
            let pretty = terminal
                .then(|| serde_json::from_slice::<serde_json::Value>(&page.body).ok())
                .flatten()
                .and_then(|v| serde_json::to_vec_pretty(&v).ok());
            let mut out = std::io::stdout().lock();
            out.write_all(pretty.as_deref().unwrap_or(&page.body))?;
            if !page.body.ends_with(b"\n") {
                out.write_all(b"\n")?;
            }
            out.flush()?;
            if !(200..300).contains(&page.status) {
                failed = Some(page.status);
            }
            Ok(())
        },
    )
    .await?;
    match failed {
        Some(status) => Err(Error::ApiStatus(status)),
        None => Ok(()),
    }
}

fn log(kp: &Keyport, connection: Option<&str>, limit: usize, json: bool) -> Result<()> {
    let uses = kp.usage(connection, limit)?;
    if json {
        return print_json(&uses);
    }
    if uses.is_empty() {
        println!("No program has been handed a token yet.");
        return Ok(());
    }
    let accounts: std::collections::HashMap<String, String> = kp
        .list()?
        .into_iter()
        .map(|c| (c.id.clone(), c.email.unwrap_or(c.id)))
        .collect();
    let mut out = std::io::stdout().lock();
    for u in uses {
        let account = accounts.get(&u.connection_id).unwrap_or(&u.connection_id);
        let program = u.program.as_deref().unwrap_or("an unknown program");
        let path = u
            .program_path
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        writeln!(
            out,
            "{}  {account}  {}  {program}{path}",
            keyport_core::store::utc_time(u.at),
            u.kind
        )?;
    }
    Ok(())
}

async fn execute(paths: Paths, command: Command) -> Result<()> {
    if let Command::Reset { yes } = command {
        return reset::run(paths, yes).await;
    }
    let kp = Keyport::open(paths)?;
    if !matches!(command, Command::Integrations { .. }) {
        kp.recover().await?;
    }
    if matches!(
        command,
        Command::List { .. } | Command::Check { .. } | Command::Disconnect { .. }
    ) {
        kp.retry_revocations().await?;
    }
    match command {
        Command::Integrations { json } => integrations(&kp, json),
        Command::Connect {
            integration,
            scopes,
            preset,
            login_hint,
            flow,
        } => {
            let opts = ConnectOptions {
                preset,
                scopes,
                redirect: flow.redirect()?,
                login_hint,
                ..Default::default()
            };
            let started = kp.initiate(&integration, opts).await?;
            finish_in_browser(&kp, started, &flow).await
        }
        Command::OpenUrl { url } => {
            let c = kp.handle_deep_link(&url).await?;
            println!("{}", describe(&c));
            Ok(())
        }
        Command::List { json } => list(&kp, json),
        Command::Label {
            connection,
            label,
            note,
            json,
        } => {
            if label.is_none() && note.is_none() {
                return Err(Error::InvalidInput(
                    "give a label, --note, or both (an empty one clears it)".into(),
                ));
            }
            // Both are checked before either is written: no half-applied change.
            keyport_core::service::clean_label(label.as_deref())?;
            keyport_core::service::clean_note(note.as_deref())?;
            let mut c = kp.get(&connection)?;
            if let Some(label) = label {
                c = kp.rename(&c.id, Some(&label))?;
            }
            if let Some(note) = note {
                c = kp.set_note(&c.id, Some(&note))?;
            }
            if json {
                print_json(&c)
            } else {
                println!(
                    "{} · {}\nLabel: {}\nNote: {}",
                    c.email.as_deref().unwrap_or(&c.id),
                    c.integration,
                    c.label.as_deref().unwrap_or("(none)"),
                    c.note.as_deref().unwrap_or("(none)")
                );
                Ok(())
            }
        }
        Command::Export { format, output } => {
            let format = keyport_core::service::export::ExportFormat::parse(&format)?;
            let (text, count) = kp.export(format)?;
            match output {
                Some(path) => {
                    keyport_core::service::export::write_private(&path, &text, false).map_err(
                        |e| Error::Io(format!("could not write {}: {e}", path.display())),
                    )?;
                    eprintln!(
                        "Wrote {count} connection{} to {}",
                        if count == 1 { "" } else { "s" },
                        path.display()
                    );
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Check { connection, json } => {
            let result = kp.check(&connection).await;
            let c = kp.get(&connection)?;
            if json {
                print_json(&c)?;
            } else {
                println!("{}", health_line(&c));
            }
            result.map(|_| ())
        }
        Command::Token { connection, format } => token(&kp, &connection, &format).await,
        Command::Log {
            connection,
            limit,
            json,
        } => log(&kp, connection.as_deref(), limit, json),
        Command::Api {
            connection,
            target,
            method,
            headers,
            fields,
            input,
            paginate,
        } => {
            let req = ApiRequest {
                method,
                target,
                headers: split_pairs(&headers, ':', "header", "Name: value")?,
                fields: split_pairs(&fields, '=', "field", "key=value")?,
                body: input.map(|p| read_body(&p)).transpose()?,
                paginate,
            };
            api(&kp, &connection, req).await
        }
        Command::Reconnect { connection, flow } => {
            let opts = ConnectOptions {
                redirect: flow.redirect()?,
                ..Default::default()
            };
            let started = kp.reconnect(&connection, opts).await?;
            finish_in_browser(&kp, started, &flow).await
        }
        Command::Grant {
            connection,
            scopes,
            flow,
        } => {
            let opts = ConnectOptions {
                redirect: flow.redirect()?,
                ..Default::default()
            };
            let started = kp.grant_more(&connection, scopes, opts).await?;
            finish_in_browser(&kp, started, &flow).await
        }
        Command::Disconnect {
            connection,
            account,
            yes,
            json,
        } => {
            // Said before it is done: what stops working, what keeps working.
            let plan = kp.disconnect_plan(&connection, account)?;
            eprintln!("{}", plan.summary);
            if !yes && std::io::stdin().is_terminal() && !confirm("Disconnect?")? {
                return Err(Error::Cancelled);
            }
            let done = if account {
                kp.remove_account(&connection).await?
            } else {
                kp.disconnect(&connection).await?
            };
            if json {
                print_json(&done)
            } else {
                println!("{}", done.message);
                Ok(())
            }
        }
        Command::Import {
            integration, json, ..
        } => {
            let token = read_secret_stdin("refresh token")?;
            let c = kp.import(&integration, token).await?;
            if json {
                print_json(&c)
            } else {
                println!("{}", describe(&c));
                Ok(())
            }
        }
        Command::Reset { .. } => unreachable!("handled above"),
        Command::Client { command } => client(&kp, command).await,
    }
}

fn integrations(kp: &Keyport, json: bool) -> Result<()> {
    let all = kp.integrations()?;
    if json {
        return print_json(&all);
    }
    let mut out = String::new();
    out.push_str(&format!(
        "{:<18} {:<26} {:<10} {:<10} {:<7} {}\n",
        "ID", "NAME", "PROVIDER", "REDIRECT", "CLIENT", "NOTE"
    ));
    for i in &all {
        let mut notes = Vec::new();
        if i.custom {
            notes.push("custom (your catalog file)".to_string());
        }
        if i.overridden {
            notes.push("overridden by your catalog file".to_string());
        }
        if !i.unconfirmed_origins.is_empty() {
            notes.push(format!(
                "sends to {}: confirm with `keyport client trust {}`",
                i.unconfirmed_origins.join(", "),
                i.id
            ));
        }
        if !i.pkce {
            notes.push("PKCE off".to_string());
        }
        out.push_str(&format!(
            "{:<18} {:<26} {:<10} {:<10} {:<7} {}\n",
            i.id,
            i.name,
            i.provider,
            i.redirect.as_str(),
            if i.configured { "set" } else { "needed" },
            notes.join("; ")
        ));
    }
    print!("{out}");
    Ok(())
}

/// Sends the person to the browser and waits for the sign-in to end.
async fn finish_in_browser(kp: &Keyport, started: SignIn, flow: &BrowserFlow) -> Result<()> {
    let name = kp
        .integration(&started.integration)
        .map(|i| i.name.clone())
        .unwrap_or_default();
    if flow.no_browser {
        eprintln!("Open this link in your browser to connect {name}:");
        println!("{}", started.auth_url);
        let _ = std::io::stdout().flush();
    } else {
        eprintln!(
            "Opening your browser to connect {name}… If it does not open, visit:\n{}",
            started.auth_url
        );
        if let Err(e) = keyport_core::browser::open(&started.auth_url) {
            eprintln!("{e}");
        }
    }
    let connection = kp
        .await_flow(
            started,
            Duration::from_secs(flow.timeout),
            Arc::new(tokio::sync::Notify::new()),
        )
        .await?;
    if flow.json {
        print_json(&connection)?;
    } else {
        println!("{}", describe(&connection));
    }
    Ok(())
}

fn describe(c: &Connection) -> String {
    let who = c.email.as_deref().or(c.subject.as_deref()).unwrap_or("?");
    let mut s = format!("Connected {} as {who} (connection {})", c.integration, c.id);
    if !c.missing_scopes.is_empty() {
        s.push_str(&format!(
            "\nAccess was granted without: {}. Run `keyport connect {}` again and allow it.",
            c.missing_scopes.join(", "),
            c.integration
        ));
    }
    s
}

fn list(kp: &Keyport, json: bool) -> Result<()> {
    let all = kp.list()?;
    if json {
        return print_json(&all);
    }
    if all.is_empty() {
        println!("No connections yet. Run `keyport connect gmail` to add one.");
        return Ok(());
    }
    let names: std::collections::HashMap<String, String> = kp
        .integrations()?
        .into_iter()
        .map(|i| (i.id, i.name))
        .collect();
    // By account: an account's integrations share one sign-in.
    let mut order: Vec<&str> = Vec::new();
    for c in &all {
        if !order.contains(&c.holder()) {
            order.push(c.holder());
        }
    }
    let mut out = format!(
        "{:<30} {:<22} {:<24} {:<13} {}\n",
        "ACCOUNT", "INTEGRATION", "LABEL", "STATUS", "ID"
    );
    for grant in order {
        for c in all.iter().filter(|c| c.holder() == grant) {
            let status = match (&c.status, c.last_error_code.as_deref()) {
                (_, Some(code)) => format!("{} ({code})", c.status.as_str()),
                _ => c.status.as_str().to_string(),
            };
            out.push_str(&format!(
                "{:<30} {:<22} {:<24} {:<13} {}\n",
                c.email.as_deref().unwrap_or("-"),
                names.get(&c.integration).unwrap_or(&c.integration),
                c.label.as_deref().unwrap_or(""),
                status,
                c.id
            ));
        }
    }
    print!("{out}");
    Ok(())
}

async fn client(kp: &Keyport, command: ClientCommand) -> Result<()> {
    match command {
        ClientCommand::Set {
            provider,
            client_id,
            client_secret_stdin,
        } => {
            let secret = if client_secret_stdin {
                Some(read_secret_stdin("client secret")?)
            } else {
                None
            };
            kp.set_client(&provider, &client_id, secret).await?;
            println!("Client for {provider} saved.");
            Ok(())
        }
        ClientCommand::List { json } => {
            let clients = kp.client_sources()?;
            if json {
                return print_json(&clients);
            }
            if clients.iter().all(|c| c.client_id.is_none()) {
                println!(
                    "No OAuth client: this build of Keyport has none built in, your organisation sets none, \
                     and you have added none. Add yours with `keyport client import client_secret.json` \
                     (Google) or `keyport client set <provider> --client-id …`."
                );
                return Ok(());
            }
            println!(
                "{:<12} {:<16} {:<8} CLIENT ID",
                "PROVIDER", "FROM", "SECRET"
            );
            for c in clients {
                let from = match (c.source, c.locked) {
                    (Some(ClientSource::Organisation), true) => "organisation (locked)",
                    (Some(ClientSource::Organisation), false) => "organisation",
                    (Some(ClientSource::Personal), _) => "you",
                    (Some(ClientSource::Catalog), _) => "catalog file",
                    (Some(ClientSource::BuiltIn), _) => "built in",
                    (None, _) => "none",
                };
                println!(
                    "{:<12} {:<16} {:<8} {}",
                    c.provider,
                    from,
                    if c.has_secret { "set" } else { "-" },
                    c.client_id.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        ClientCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::Io(format!("cannot read {}: {e}", file.display())))?;
            let id = kp.import_client_json(&text).await?;
            println!("Google client {id} saved (with its secret, in the keyring).");
            Ok(())
        }
        ClientCommand::Trust { integration, yes } => {
            let all = kp.integrations()?;
            let summary = all
                .iter()
                .find(|i| i.id == integration)
                .cloned()
                .ok_or_else(|| {
                    Error::unknown_integration(&integration, all.iter().map(|i| i.id.as_str()))
                })?;
            if summary.unconfirmed_origins.is_empty() {
                println!(
                    "{} uses only the servers its client was saved for; nothing to confirm.",
                    summary.name
                );
                return Ok(());
            }
            let origins = summary.unconfirmed_origins.join(", ");
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Error::InvalidInput(format!(
                        "{} would send sign-ins and tokens to {origins}; pass --yes to confirm without a terminal",
                        summary.name
                    )));
                }
                eprint!(
                    "{} would send your sign-in, the {} client secret and your tokens to {origins}.\n\
                     Only confirm if you wrote this catalog entry yourself. Type \"yes\" to confirm: ",
                    summary.name, summary.provider
                );
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if answer.trim() != "yes" {
                    return Err(Error::Cancelled);
                }
            }
            kp.trust_endpoints(&integration)?;
            println!("{} may now use {origins}.", summary.name);
            Ok(())
        }
        ClientCommand::Remove { provider } => {
            if kp.remove_client(&provider).await? {
                println!("Client for {provider} removed.");
                Ok(())
            } else {
                Err(Error::InvalidInput(format!(
                    "no client is set for {provider}"
                )))
            }
        }
    }
}

/// Reads a secret from standard input (never from arguments, which other
/// users can see in the process list).
fn read_secret_stdin(what: &str) -> Result<Secret> {
    if std::io::stdin().is_terminal() {
        eprintln!("Paste the {what}, then press Enter and Ctrl-D:");
    }
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let s = s.trim().to_string();
    if s.is_empty() {
        return Err(Error::InvalidInput(format!("no {what} on standard input")));
    }
    Ok(Secret::new(s))
}

/// One line for `keyport check`.
fn health_line(c: &Connection) -> String {
    let who = c.email.as_deref().unwrap_or("?");
    let checked = c
        .last_checked_at
        .map(|t| {
            format!(
                "checked {} s ago",
                ((keyport_core::store::now_ms() - t) / 1000).max(0)
            )
        })
        .unwrap_or_else(|| "never checked".into());
    let mut line = format!(
        "{who} — {} — {} — {checked}",
        c.integration,
        c.status.as_str()
    );
    if let Some(code) = &c.last_error_code {
        line.push_str(&format!(
            " — last error {code}: {}",
            c.last_error_message.as_deref().unwrap_or("")
        ));
    }
    if !c.missing_scopes.is_empty() {
        line.push_str(&format!(" — missing {}", c.missing_scopes.join(", ")));
    }
    line
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::Io(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Asks a yes/no question on the terminal; only "y" or "yes" is yes.
fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn no_arguments_is_the_gui() {
        assert!(matches!(
            parse(args(&["keyport"])),
            Ok(Invocation::Gui { deep_link: None })
        ));
    }

    #[test]
    fn a_lone_deep_link_is_the_gui_with_a_url() {
        match parse(args(&[
            "keyport",
            "dev.keyport:/oauth/callback?state=x&code=y",
        ])) {
            Ok(Invocation::Gui { deep_link: Some(u) }) => assert!(u.starts_with("dev.keyport:")),
            _ => panic!("expected a deep link"),
        }
    }

    #[test]
    fn commands_parse() {
        assert!(matches!(
            parse(args(&["keyport", "integrations", "--json"])),
            Ok(Invocation::Command(Cli {
                command: Command::Integrations { json: true }
            }))
        ));
        assert!(parse(args(&["keyport", "frobnicate"])).is_err());
    }
}
