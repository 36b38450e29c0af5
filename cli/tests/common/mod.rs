//! Shared helpers for the CLI's integration tests: finding the real tools the test command
//! (`tests/run.sh`) provides, and running the `imgh` binary as a subprocess.
#![allow(dead_code)]

#[path = "../../../handler/tests/support/child.rs"]
mod child;
#[path = "../../../handler/tests/support/http.rs"]
mod http;
#[allow(unused_imports)]
pub use child::KillOnDrop;
#[allow(unused_imports)]
pub use http::{get, http, Got};

use std::path::PathBuf;
use std::process::{Command, Output};

/// Reads a tool location from the environment. When it is unset the test is skipped with a
/// clear line, unless IMGH_TEST_REQUIRE_ALL is set (as `tests/run.sh` does): then it fails.
pub fn required_env(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var_os("IMGH_TEST_REQUIRE_ALL").is_some() {
                panic!("{var} is not set but IMGH_TEST_REQUIRE_ALL is: {what} is required (run tests/run.sh)");
            }
            eprintln!("skipped: {var} is not set ({what}); run tests/run.sh to provide it");
            None
        }
    }
}

pub fn moto_url() -> Option<String> {
    required_env("IMGH_TEST_MOTO_URL", "a running moto_server")
}

/// An S3 client for the emulator at `endpoint`, with the dummy credentials `imgh` gets.
pub fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn cfn_lint() -> Option<String> {
    required_env("IMGH_TEST_CFN_LINT", "the cfn-lint executable")
}

pub fn checkov() -> Option<String> {
    required_env("IMGH_TEST_CHECKOV", "the checkov executable")
}

/// A scratch directory under the target dir, unique per test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `imgh` with a clean environment for AWS: dummy credentials, a fixed region, no config
/// file, and (when given) every call sent to the emulator.
pub fn imgh(cwd: &PathBuf, endpoint: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imgh"));
    c.current_dir(cwd)
        .env_remove("AWS_PROFILE")
        .env_remove("IMGH_STACK_NAME")
        .env_remove("IMGH_CONFIG")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", cwd.join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", cwd.join("no-aws-credentials"))
        .env("NO_COLOR", "1");
    match endpoint {
        Some(e) => c.env("IMGH_ENDPOINT_URL", e),
        None => c.env_remove("IMGH_ENDPOINT_URL"),
    };
    c
}

/// Runs and returns the output; panics with both streams when the exit code differs.
pub fn run_expect(cmd: &mut Command, code: i32) -> Output {
    let out = cmd.output().expect("start imgh");
    if out.status.code() != Some(code) {
        panic!(
            "{cmd:?}\nexpected exit {code}, got {:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            tail(&out.stdout),
            tail(&out.stderr)
        );
    }
    out
}

/// The last lines of a stream: where the error is, after a build's long `Compiling` log
/// (CI logs keep a failure's first lines and cut the rest).
fn tail(stream: &[u8]) -> String {
    const LINES: usize = 40;
    let text = String::from_utf8_lossy(stream);
    let lines: Vec<&str> = text.lines().collect();
    match lines.len().checked_sub(LINES) {
        Some(cut) if cut > 0 => format!("[… {cut} lines cut]\n{}", lines[cut..].join("\n")),
        _ => text.into_owned(),
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The Sid imgh gives its statement (`ImghOacRead`, `ImghOacDecrypt`) for a stack: the name's
/// letters and digits, then 8 hex digits of the exact name's SHA-256.
pub fn sid(prefix: &str, stack: &str) -> String {
    use sha2::{Digest, Sha256};
    let letters: String = stack.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("{prefix}{letters}{}", &hex::encode(Sha256::digest(stack.as_bytes()))[..8])
}

/// A suffix for names in the shared emulator: the process id alone repeats across runs.
pub fn unique() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{}", std::process::id(), nanos % 100_000)
}
