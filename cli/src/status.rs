//! `imgh status` and `imgh outputs`: what the stack is doing and what it produced.

use anyhow::Result;
use serde_json::json;

use crate::aws::{Aws, Session};
use crate::{figures, stack};

/// `imgh outputs`.
#[derive(Debug, clap::Args)]
pub struct Outputs {
    #[arg(long)]
    json: bool,
}

impl Outputs {
    pub async fn run(self, s: Session) -> Result<()> {
        print_outputs(&s.aws, s.stack(), self.json).await
    }
}

/// `imgh status`.
#[derive(Debug, clap::Args)]
pub struct Status {
    #[arg(long)]
    json: bool,
}

impl Status {
    pub async fn run(self, s: Session) -> Result<()> {
        print_status(&s.aws, s.stack(), self.json).await
    }
}

/// Prints the outputs as `Key = Value` lines, or one JSON object with `json`.
pub async fn print_outputs(aws: &Aws, stack_name: &str, json: bool) -> Result<()> {
    let st = stack::require(aws, stack_name).await?;
    let out = stack::outputs(&st);
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if out.is_empty() {
        eprintln!("Stack {stack_name} has no outputs.");
    } else {
        let w = out.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in &out {
            println!("{k:<w$}  {v}");
        }
    }
    Ok(())
}

/// Prints the stack's status, reason and last change, its dashboard and the last hour's
/// figures (once the stack has them: a stack being created has no dashboard yet).
async fn print_status(aws: &Aws, stack_name: &str, json: bool) -> Result<()> {
    let st = stack::require(aws, stack_name).await?;
    let status = st.stack_status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
    let reason = st.stack_status_reason();
    let updated = st.last_updated_time().or(st.creation_time()).map(|t| t.to_string());
    let out = stack::outputs(&st);
    let dashboard = out.get("DashboardUrl");
    let figures = match dashboard {
        Some(_) => Some(figures::last_hour(aws, stack_name, &out).await),
        None => None,
    };
    if json {
        let v = json!({
            "stack": stack_name,
            "status": status,
            "reason": reason,
            "updated": updated,
            "region": aws.region,
            "outputs": out,
            "dashboard": dashboard,
            "last_hour": figures.map(|f| f.json),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("Stack       {stack_name} ({})", aws.region);
        println!("Status      {status}{}", reason.map(|r| format!(" ({r})")).unwrap_or_default());
        if let Some(u) = updated {
            println!("Updated     {u}");
        }
        for b in stack::buckets(&out) {
            let url = out.get(&format!("DistUrl{}", b.index)).map(String::as_str).unwrap_or("-");
            println!("Bucket      {}  →  {url}{}", b.name, if b.created { "  (created by the stack)" } else { "" });
        }
        if let Some(url) = dashboard {
            println!("Dashboard   {url}");
        }
        if let Some(f) = figures {
            println!("Last hour:");
            for line in f.lines {
                println!("  {line}");
            }
        }
    }
    Ok(())
}
