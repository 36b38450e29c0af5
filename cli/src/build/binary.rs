//! The static handler binary: built with `cargo zigbuild` for a musl target (zig is the C
//! compiler and linker for the vendored codecs, for either architecture from either host),
//! or taken as given with `--binary` and checked to be a static ELF of the right machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::config::Arch;

impl Arch {
    /// The Rust target the handler is built for.
    pub fn musl_target(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-musl",
            Arch::X86_64 => "x86_64-unknown-linux-musl",
        }
    }

    /// ELF `e_machine` of binaries for this architecture.
    fn elf_machine(self) -> u16 {
        match self {
            Arch::Arm64 => 0xB7,
            Arch::X86_64 => 0x3E,
        }
    }
}

/// Builds `imgh-handler` from the workspace at `source` (stripped, release) and returns the
/// path of the binary.
pub fn build(arch: Arch, source: &Path) -> Result<PathBuf> {
    let target = arch.musl_target();
    check_toolchain(target)?;
    eprintln!("Building imgh-handler for {target} in {} (cargo zigbuild --release)", source.display());
    let out = Command::new("cargo")
        .current_dir(source)
        .args(["zigbuild", "--release", "-p", "imgh-handler", "--bin", "imgh-handler", "--target", target])
        // Whole-program LTO in one unit: the deployed binary is a quarter smaller than the
        // workspace's thin-LTO release, for a build of about the same time.
        .args(["--config", "profile.release.strip=true", "--config", "profile.release.lto=\"fat\""])
        .args(["--config", "profile.release.codegen-units=1", "--message-format=json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !out.status.success() {
        bail!("building imgh-handler for {target} failed (the compiler's messages are above)");
    }
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "imgh-handler")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo reported no imgh-handler executable")?;
    Ok(path)
}

/// Checks what the build needs and installs the Rust target if rustup can; anything else
/// missing is named with the command that installs it.
fn check_toolchain(target: &str) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is not on PATH: install Rust with rustup (https://rustup.rs) or pass --binary")?;
    if !String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == target) {
        eprintln!("Installing the Rust target {target} (rustup target add {target})");
        let ok = Command::new("rustup").args(["target", "add", target]).status().is_ok_and(|s| s.success());
        if !ok {
            bail!("cannot add the Rust target: run `rustup target add {target}`");
        }
    }
    if !runs("cargo-zigbuild", &["--version"]) {
        bail!("cargo-zigbuild is missing: run `cargo install --locked cargo-zigbuild` (or pass --binary)");
    }
    let has_zig = std::env::var_os("CARGO_ZIGBUILD_ZIG_PATH").is_some()
        || runs("zig", &["version"])
        || runs("python3", &["-m", "ziglang", "version"]);
    if !has_zig {
        bail!("zig is missing: run `pip install ziglang` (or put zig on PATH, or set CARGO_ZIGBUILD_ZIG_PATH)");
    }
    if !runs("nasm", &["-v"]) {
        bail!("nasm is missing (the codecs' SIMD code): run `sudo apt-get install nasm`");
    }
    Ok(())
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Reads `path` and checks that it is a statically linked 64-bit little-endian ELF
/// executable for `arch`: a Lambda `provided` runtime and a `FROM scratch` image have no
/// dynamic loader or shared libraries to offer.
pub fn read_static(path: &Path, arch: Arch) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if let Err(problem) = check_elf(&bytes, arch) {
        bail!("{} is not usable as the handler: {problem}", path.display());
    }
    Ok(bytes)
}

fn check_elf(b: &[u8], arch: Arch) -> Result<(), String> {
    let field = |o: usize, n: usize| {
        b.get(o..o + n)
            .map(|s| s.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
            .ok_or_else(|| "a truncated ELF file".to_string())
    };
    if b.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let machine = field(18, 2)?;
    if machine != u64::from(arch.elf_machine()) {
        return Err(format!("built for another CPU (ELF machine {machine:#x}), not {}", arch.musl_target()));
    }
    let (phoff, phentsize, phnum) = (field(32, 8)? as usize, field(54, 2)? as usize, field(56, 2)? as usize);
    const PT_INTERP: u64 = 3;
    for i in 0..phnum {
        if field(phoff + i * phentsize, 4)? == PT_INTERP {
            return Err("dynamically linked (it names a program interpreter); build for a musl target".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_and_other_machines() {
        assert!(check_elf(b"#!/bin/sh\n", Arch::X86_64).unwrap_err().contains("not a 64-bit"));
        // The imgh test binary itself: this machine's CPU, dynamically linked (glibc).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let (this, other) =
            if cfg!(target_arch = "aarch64") { (Arch::Arm64, Arch::X86_64) } else { (Arch::X86_64, Arch::Arm64) };
        assert!(check_elf(&me, other).unwrap_err().contains("another CPU"));
        assert!(check_elf(&me, this).unwrap_err().contains("dynamically linked"));
    }
}
