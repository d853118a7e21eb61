//! The connection list as a file for a spreadsheet or a script (CSV or
//! JSON): accounts, integrations, labels, notes and how each one is doing.
//! Never a token, a client secret or anything else from the keyring: the
//! rows are built from the database's records alone.

use serde::Serialize;
use std::collections::HashMap;

use super::Keyport;
use crate::error::{Error, Result};
use crate::store::{utc_time, Connection, Status};

/// How `export` writes the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Result<ExportFormat> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(ExportFormat::Csv),
            "json" => Ok(ExportFormat::Json),
            _ => Err(Error::InvalidInput(format!(
                "\"{s}\" is not an export format; use csv or json"
            ))),
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }
}

/// One connection as it is exported (the CSV's columns, in order).
#[derive(Debug, Serialize)]
pub struct ExportRow {
    pub account: String,
    pub name: String,
    pub provider: String,
    pub integration: String,
    pub label: String,
    pub note: String,
    /// In words: "Active", "Needs a new sign-in", …
    pub status: String,
    /// The record's status (`needs_reauth`), for scripts.
    pub status_code: String,
    /// The last problem in words, when there is one.
    pub problem: String,
    pub problem_code: String,
    /// Granted scopes, space separated.
    pub permissions: String,
    /// Scopes asked for but not granted, space separated.
    pub missing_permissions: String,
    pub last_checked: String,
    pub last_renewed: String,
    pub connected_since: String,
    pub id: String,
}

/// "Needs a new sign-in": a connection's state as the window words it.
pub fn status_in_words(c: &Connection) -> &'static str {
    match c.status {
        Status::NeedsReauth => "Needs a new sign-in",
        Status::Active | Status::Degraded if !c.missing_scopes.is_empty() => "Needs more access",
        Status::Active => "Active",
        Status::Degraded => "Having trouble",
        Status::Initiated => "Connecting",
        Status::Failed => "Failed",
    }
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a
/// tab or carriage return first) gets a leading `'`, so a label such as
/// `=HYPERLINK(…)` stays text (OWASP's CSV injection advice).
fn inert(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// Writes an export readable by its owner only (0600 on Unix: it names
/// every account, label and note, as the user-only database does). `fresh`:
/// fail when the file exists (the window never replaces one); otherwise it
/// is replaced. A failed write leaves no partial file behind.
pub fn write_private(path: &std::path::Path, text: &str, fresh: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if fresh {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    if let Err(e) = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
    {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// `io.failed` for anything that stops the export being written.
fn unwritten(e: impl std::fmt::Display) -> Error {
    Error::Io(format!("could not write the export: {e}"))
}

fn when(ms: Option<i64>) -> String {
    ms.map(utc_time).unwrap_or_default()
}

impl Keyport {
    /// Every connection as an export row, in the order of `keyport list`
    /// (by account, then integration).
    pub fn export_rows(&self) -> Result<Vec<ExportRow>> {
        let names: HashMap<String, String> = self
            .integrations()?
            .into_iter()
            .map(|i| (i.id, i.name))
            .collect();
        let mut all = self.list()?;
        all.sort_by(|a, b| {
            let key = |c: &Connection| c.email.as_deref().unwrap_or("").to_lowercase();
            key(a).cmp(&key(b)).then(a.created_at.cmp(&b.created_at))
        });
        Ok(all
            .into_iter()
            .map(|c| ExportRow {
                account: c.email.clone().unwrap_or_default(),
                name: c.display_name.clone().unwrap_or_default(),
                provider: c.provider.clone(),
                integration: names
                    .get(&c.integration)
                    .cloned()
                    .unwrap_or_else(|| c.integration.clone()),
                label: c.label.clone().unwrap_or_default(),
                note: c.note.clone().unwrap_or_default(),
                status: status_in_words(&c).to_string(),
                status_code: c.status.as_str().to_string(),
                problem: c.last_error_message.clone().unwrap_or_default(),
                problem_code: c.last_error_code.clone().unwrap_or_default(),
                permissions: c.granted_scopes.join(" "),
                missing_permissions: c.missing_scopes.join(" "),
                last_checked: when(c.last_checked_at),
                last_renewed: when(c.last_refreshed_at),
                connected_since: utc_time(c.created_at),
                id: c.id,
            })
            .collect())
    }

    /// The connection list as CSV (a header row, then one row each) or as
    /// a JSON array; returns the text and how many connections it holds.
    pub fn export(&self, format: ExportFormat) -> Result<(String, usize)> {
        let rows = self.export_rows()?;
        let count = rows.len();
        let text = match format {
            ExportFormat::Json => serde_json::to_string_pretty(&rows).map_err(unwritten)?,
            ExportFormat::Csv => {
                let mut out = csv::Writer::from_writer(Vec::new());
                for row in rows {
                    // Every text cell: names and scopes come from catalogs
                    // and providers too, not only from the person.
                    out.serialize(ExportRow {
                        account: inert(&row.account),
                        name: inert(&row.name),
                        provider: inert(&row.provider),
                        integration: inert(&row.integration),
                        label: inert(&row.label),
                        note: inert(&row.note),
                        status: inert(&row.status),
                        status_code: inert(&row.status_code),
                        problem: inert(&row.problem),
                        problem_code: inert(&row.problem_code),
                        permissions: inert(&row.permissions),
                        missing_permissions: inert(&row.missing_permissions),
                        id: inert(&row.id),
                        ..row
                    })
                    .map_err(unwritten)?;
                }
                let bytes = out.into_inner().map_err(unwritten)?;
                String::from_utf8(bytes).map_err(unwritten)?
            }
        };
        Ok((text, count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_stay_text() {
        assert_eq!(inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("+1"), "'+1");
        assert_eq!(inert("-1"), "'-1");
        assert_eq!(inert("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(inert("\tx"), "'\tx");
        assert_eq!(inert("Client: Müller GmbH"), "Client: Müller GmbH");
        assert_eq!(inert(""), "");
    }

    #[test]
    fn exports_are_private_and_never_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.csv");
        write_private(&path, "a,b\n", true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        let again = write_private(&path, "x", true).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,b\n");
        write_private(&path, "c\n", false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "c\n");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(ExportFormat::parse("CSV").unwrap(), ExportFormat::Csv);
        assert_eq!(ExportFormat::parse("json").unwrap(), ExportFormat::Json);
        assert_eq!(
            ExportFormat::parse("xlsx").unwrap_err().code(),
            "input.invalid"
        );
    }
}
