//! `imgh style set|get|list|rm`: named styles in the stack's DynamoDB table (output
//! `StyleConfig`). An item is `{ style: NAME, process: "image/resize,w_200/…" }`; the
//! handler resolves `style/NAME` to that process string.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;

use imgh_handler::style::{is_valid_name, KEY_ATTRIBUTE as KEY, PROCESS_ATTRIBUTE as PROCESS};

use crate::aws::{Aws, SdkResultExt, Session};
use crate::stack;

async fn table_name(aws: &Aws, stack_name: &str) -> Result<String> {
    let st = stack::require(aws, stack_name).await?;
    stack::outputs(&st).get("StyleConfig").cloned().with_context(|| {
        format!("stack {stack_name} has no StyleConfig output: is it an imgh stack, and is its deployment complete?")
    })
}

/// `imgh style …`.
#[derive(Debug, clap::Subcommand)]
pub enum StyleCommand {
    /// Define or replace a style.
    Set {
        name: String,
        /// The process string, e.g. image/resize,w_200/format,webp
        process: String,
    },
    /// Print one style's process string.
    Get {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List every style.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a style.
    Rm { name: String },
    /// Define every style of a TOML file (`name = "image/…"`, the form `imgh destroy` saves
    /// and `imgh serve --styles` reads), each checked as `set` checks it.
    Import { file: std::path::PathBuf },
}

impl StyleCommand {
    pub async fn run(self, s: Session) -> Result<()> {
        let (aws, stack) = (&s.aws, s.stack());
        match self {
            StyleCommand::Set { name, process } => set(aws, stack, &name, &process).await,
            StyleCommand::Get { name, json } => get(aws, stack, &name, json).await,
            StyleCommand::List { json } => list(aws, stack, json).await,
            StyleCommand::Rm { name } => rm(aws, stack, &name).await,
            StyleCommand::Import { file } => import(aws, stack, &file).await,
        }
    }
}

/// A style is stored only when the handler would accept its name and its process.
fn check(name: &str, process: &str) -> Result<()> {
    if !is_valid_name(name) {
        bail!("style name {name:?}: use 1-63 letters, digits, '_', '-' or '.'");
    }
    imgh_handler::process::check(process).map_err(|e| {
        anyhow::anyhow!(
            "process {process:?} is not one the handler accepts: {} (e.g. image/resize,w_200/format,webp)",
            e.message
        )
    })?;
    Ok(())
}

async fn set(aws: &Aws, stack_name: &str, name: &str, process: &str) -> Result<()> {
    let process = process.strip_prefix("x-oss-process=").unwrap_or(process);
    check(name, process)?;
    put(aws, &table_name(aws, stack_name).await?, name, process).await
}

async fn import(aws: &Aws, stack_name: &str, file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let styles: BTreeMap<String, String> = toml::from_str(&text)
        .with_context(|| format!("{} is not a styles file (name = \"image/…\" per line)", file.display()))?;
    // Every style checked before any is written: a bad file changes nothing.
    for (name, process) in &styles {
        check(name, process).with_context(|| format!("{}: style {name}", file.display()))?;
    }
    let t = table_name(aws, stack_name).await?;
    for (name, process) in &styles {
        put(aws, &t, name, process).await?;
    }
    eprintln!("{} styles imported from {}.", styles.len(), file.display());
    Ok(())
}

async fn put(aws: &Aws, t: &str, name: &str, process: &str) -> Result<()> {
    aws.ddb
        .put_item()
        .table_name(t)
        .item(KEY, AttributeValue::S(name.into()))
        .item(PROCESS, AttributeValue::S(process.into()))
        .send()
        .await
        .sdk()
        .with_context(|| format!("cannot write style {name} to table {t}"))?;
    eprintln!("Style {name} = {process}");
    Ok(())
}

async fn get(aws: &Aws, stack_name: &str, name: &str, json: bool) -> Result<()> {
    let t = table_name(aws, stack_name).await?;
    let item = aws
        .ddb
        .get_item()
        .table_name(&t)
        .key(KEY, AttributeValue::S(name.into()))
        .consistent_read(true)
        .send()
        .await
        .sdk()
        .with_context(|| format!("cannot read style {name} from table {t}"))?;
    let Some(process) = item.item().and_then(|i| i.get(PROCESS)).and_then(|v| v.as_s().ok()) else {
        bail!("no style named {name} (imgh style list shows the defined ones)");
    };
    if json {
        println!("{}", serde_json::json!({ "style": name, "process": process }));
    } else {
        println!("{process}");
    }
    Ok(())
}

async fn list(aws: &Aws, stack_name: &str, json: bool) -> Result<()> {
    let all = all(aws, &table_name(aws, stack_name).await?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        let w = all.keys().map(String::len).max().unwrap_or(0);
        for (n, p) in &all {
            println!("{n:<w$}  {p}");
        }
    }
    Ok(())
}

/// Every style of the stack's table (none when the stack has no table), by name.
pub async fn of_stack(aws: &Aws, stack: &aws_sdk_cloudformation::types::Stack) -> Result<BTreeMap<String, String>> {
    match stack::outputs(stack).get("StyleConfig") {
        Some(t) => all(aws, t).await,
        None => Ok(BTreeMap::new()),
    }
}

/// Writes `styles` to `dir` as a file `imgh style import` (and `imgh serve --styles`) reads.
pub fn save(styles: &BTreeMap<String, String>, dir: &Path, stack_name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let path = dir.join(format!("{stack_name}-styles-{stamp}.toml"));
    let text = toml::to_string(styles).context("styles as TOML")?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

async fn all(aws: &Aws, t: &str) -> Result<BTreeMap<String, String>> {
    let mut all = BTreeMap::new();
    let mut start = None;
    loop {
        let page = aws
            .ddb
            .scan()
            .table_name(t)
            .set_exclusive_start_key(start)
            .send()
            .await
            .sdk()
            .with_context(|| format!("cannot list styles in table {t}"))?;
        for i in page.items() {
            if let (Some(Ok(n)), Some(Ok(p))) = (i.get(KEY).map(|v| v.as_s()), i.get(PROCESS).map(|v| v.as_s())) {
                all.insert(n.clone(), p.clone());
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    Ok(all)
}

async fn rm(aws: &Aws, stack_name: &str, name: &str) -> Result<()> {
    let t = table_name(aws, stack_name).await?;
    let out = aws
        .ddb
        .delete_item()
        .table_name(&t)
        .key(KEY, AttributeValue::S(name.into()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .sdk()
        .with_context(|| format!("cannot delete style {name} from table {t}"))?;
    if out.attributes().is_none() {
        bail!("no style named {name} (imgh style list shows the defined ones)");
    }
    eprintln!("Style {name} removed.");
    Ok(())
}
