//! What the CLI shows and asks on the terminal: confirmations, tables, progress bars, and
//! the exit code an error carries. Every subcommand uses these; none defines its own.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

/// An error that carries its own exit code (see EXIT_CODES).
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}
impl std::error::Error for Exit {}

/// The process exit code for a command's result, the error printed first.
pub fn exit_code(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.downcast_ref::<Exit>().map_or(1, |x| x.0);
            eprintln!("error: {e:#}");
            ExitCode::from(code)
        }
    }
}

/// Asks on the terminal; `yes` skips the question. Without a terminal (CI) and without
/// `yes`, refuses rather than guessing (exit code 3).
pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(
            Exit(3, "no terminal to confirm on: re-run with --yes to proceed without confirmation".into()).into()
        );
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .context("cannot read the answer from the terminal")?;
    if !ok {
        return Err(Exit(3, "not confirmed: nothing was changed".into()).into());
    }
    Ok(())
}

/// A progress bar on stderr of `len` units, drawn from `template` (indicatif's syntax);
/// hidden when stderr is not a terminal.
pub fn progress_bar(len: u64, template: &str) -> ProgressBar {
    ProgressBar::new(len)
        .with_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()))
}

/// A plain text table with aligned columns.
pub fn table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}
