//! `imgh init`: a short interactive first run that writes `imgh.toml`. Every command reads
//! that file and flags override it, so CI runs with the file and `--yes`.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context, Result};
use dialoguer::{Confirm, Input, Select};

use crate::config::{check_served_bucket_name, Arch, FileConfig, GlobalArgs, Settings, Variant};

/// Asks, starting from the settings as they are now, and writes the configuration file.
pub fn run(global: &GlobalArgs) -> Result<()> {
    let settings = Settings::load(global)?;
    ask_and_write(&global.config, settings.file())
}

fn ask_and_write(path: &Path, current: &FileConfig) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("imgh init asks questions and needs a terminal; in CI write imgh.toml yourself (see imgh --help for the fields)");
    }
    if path.exists()
        && !Confirm::new().with_prompt(format!("{} exists. Overwrite it?", path.display())).default(false).interact()?
    {
        bail!("left {} unchanged", path.display());
    }
    let mut c = current.clone();
    c.stack_name = Some(
        Input::new()
            .with_prompt("Stack name")
            .default(c.stack_name.clone().unwrap_or_else(|| "imgh".into()))
            .interact_text()?,
    );
    c.region = Some(
        Input::new()
            .with_prompt("AWS region")
            .default(c.region.clone().unwrap_or_else(|| "us-east-1".into()))
            .interact_text()?,
    );
    let profile: String = Input::new()
        .with_prompt("AWS profile (empty: the default chain)")
        .allow_empty(true)
        .default(c.profile.clone().unwrap_or_default())
        .interact_text()?;
    c.profile = Some(profile).filter(|p| !p.is_empty());
    let v = Select::new()
        .with_prompt("Where should the handler run?")
        .items(["Lambda (function URL, streamed responses)", "ECS Fargate (ALB)"])
        .default(usize::from(c.variant == Some(Variant::Ecs)))
        .interact()?;
    c.variant = Some(if v == 0 { Variant::Lambda } else { Variant::Ecs });
    let buckets: String = Input::new()
        .with_prompt(if v == 0 {
            "Source buckets (comma-separated)"
        } else {
            "Source bucket (empty: the stack creates one)"
        })
        .allow_empty(v == 1)
        .default(c.buckets.join(","))
        .validate_with(|s: &String| -> Result<(), String> {
            s.split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .try_for_each(|b| check_served_bucket_name(b).map_err(|e| e.to_string()))
        })
        .interact_text()?;
    c.buckets = buckets.split(',').map(str::trim).filter(|b| !b.is_empty()).map(str::to_string).collect();
    let a = Select::new()
        .with_prompt("CPU architecture")
        .items(["arm64 (Graviton, cheaper)", "x86_64"])
        .default(usize::from(c.arch == Some(Arch::X86_64)))
        .interact()?;
    c.arch = Some(if a == 0 { Arch::Arm64 } else { Arch::X86_64 });
    c.auto_format = Some(
        Confirm::new()
            .with_prompt("Pick AVIF/WebP automatically from the browser's Accept header?")
            .default(c.auto_format.unwrap_or(false))
            .interact()?,
    );
    let text = toml::to_string_pretty(&c).context("internal: cannot serialise the configuration")?;
    std::fs::write(path, format!("# imgh configuration: every command reads it; flags override it.\n{text}"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("Wrote {}. Next: imgh render, then imgh deploy.", path.display());
    Ok(())
}
