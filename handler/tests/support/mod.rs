//! Starting the `imgh-handler` binary as a process, and the emulators the tests need.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

mod child;
mod http;
pub use child::KillOnDrop;
#[allow(unused_imports)]
pub use http::{get, http, send, Got};

/// The moto server's URL from `tests/run.sh`, or `None` (the test then skips) — unless
/// `IMGH_TEST_REQUIRE_ALL` is set, where a missing emulator fails the test.
pub fn moto_url() -> Option<String> {
    match std::env::var("IMGH_TEST_MOTO_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("IMGH_TEST_REQUIRE_ALL").is_some() => {
            panic!("IMGH_TEST_MOTO_URL is not set: run the tests through tests/run.sh")
        }
        Err(_) => {
            eprintln!("skipped: IMGH_TEST_MOTO_URL is not set (run tests/run.sh to start moto)");
            None
        }
    }
}

pub fn samples_dir() -> String {
    format!("{}/../samples", env!("CARGO_MANIFEST_DIR"))
}

/// A running `imgh-handler`, killed on drop.
pub struct Proc {
    pub child: KillOnDrop,
    pub base: String,
    /// The JSON log lines the process wrote after it started listening.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// The first `count` request log lines for `path`, waiting briefly for them: a line is
    /// written as its reply goes out.
    pub fn request_logs(&self, path: &str, count: usize) -> Vec<serde_json::Value> {
        for _ in 0..100 {
            let lines: Vec<serde_json::Value> = self
                .log
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["fields"]["message"] == "request" && v["fields"]["path"] == path)
                .collect();
            if lines.len() >= count {
                return lines.into_iter().take(count).collect();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("fewer than {count} request log lines for {path}: {:?}", self.log.lock().unwrap());
    }
}

/// Environment shared by every handler process: dummy AWS credentials and region.
pub fn base_env(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("AWS_PROFILE")
}

/// Starts the HTTP server mode on a free port and waits until it listens.
pub fn start_server(env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imgh-handler"));
    base_env(&mut cmd).env("PORT", "0").env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start imgh-handler");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("imgh-handler exited before listening").expect("stderr");
        if line.contains("imgh-handler listening") {
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
            break v["fields"]["port"].as_u64().expect("port field");
        }
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || lines.map_while(|l| l.ok()).for_each(|l| sink.lock().unwrap().push(l)));
    Proc { child: KillOnDrop(child), base: format!("http://127.0.0.1:{port}"), log }
}

/// AWS settings for moto at `moto`, with its test credentials.
pub async fn moto_config(moto: &str) -> aws_config::SdkConfig {
    imgh_handler::config::aws_defaults()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(moto)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await
}

/// An S3 client for moto (path-style addressing, as emulators need).
pub fn moto_s3(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(conf).force_path_style(true).build())
}
