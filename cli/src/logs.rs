//! `imgh logs [--follow] [--since 10m] [--filter PATTERN] [--json]`: the handler's request
//! lines from CloudWatch Logs. In a terminal each line is one aligned row (time, status,
//! milliseconds, bytes out, path, process); `--json` prints the lines as logged.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use serde_json::Value;

use crate::aws::{sdk_message, Aws, Session};
use crate::stack;

#[derive(Debug, clap::Args)]
pub struct Logs {
    /// Keep printing new lines until Ctrl-C.
    #[arg(long, short)]
    follow: bool,
    /// How far back to start: 30s, 10m, 2h, 1d.
    #[arg(long, default_value = "10m", value_parser = parse_since)]
    since: Duration,
    /// A CloudWatch Logs filter pattern, e.g. '{ $.fields.status >= 500 }' or a plain term.
    #[arg(long)]
    filter: Option<String>,
    /// Print each request line as logged (JSON), one per line.
    #[arg(long)]
    json: bool,
}

/// `30s`, `10m`, `2h`, `1d`.
fn parse_since(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("{s:?}: expected a number and a unit (30s, 10m, 2h, 1d)"))?;
    let secs = match unit {
        "s" => 1,
        "m" | "" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?}: the unit is s, m, h or d")),
    };
    Ok(Duration::from_secs(n * secs))
}

/// The handler's log group, named in the templates from the stack name.
fn log_group(stack_name: &str, variant: Option<&str>) -> Result<String> {
    match variant {
        Some("lambda") => Ok(format!("/aws/lambda/{stack_name}-handler")),
        Some("ecs") => Ok(format!("/ecs/{stack_name}-handler")),
        _ => bail!("stack {stack_name} has no Variant output: is it an imgh stack, and is its deployment complete?"),
    }
}

impl Logs {
    pub async fn run(self, s: Session) -> Result<()> {
        let (aws, stack_name) = (&s.aws, s.stack());
        let st = stack::require(aws, stack_name).await?;
        let group = log_group(stack_name, stack::outputs(&st).get("Variant").map(String::as_str))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
        let mut from = now.saturating_sub(self.since).as_millis() as i64;
        // Event ids already printed, with their timestamps, for the window read again.
        let mut seen: HashMap<String, i64> = HashMap::new();
        if !self.json {
            println!("{:<24} {:>3} {:>8} {:>9}  {:<40} PROCESS", "TIME (UTC)", "ST", "MS", "BYTES", "PATH");
        }
        loop {
            let mut newest = from;
            let mut token = None;
            loop {
                let page = aws
                    .logs
                    .filter_log_events()
                    .log_group_name(&group)
                    .start_time(from)
                    .set_filter_pattern(self.filter.clone())
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("cannot read log group {group} (logs:FilterLogEvents): {}", sdk_message(&e))
                    })?;
                for e in page.events() {
                    let id = e.event_id().unwrap_or_default().to_string();
                    let at = e.timestamp().unwrap_or(from);
                    newest = newest.max(at);
                    if seen.insert(id, at).is_none() {
                        if let Some(line) = request_line(e.message().unwrap_or_default()) {
                            println!("{}", if self.json { line.to_string() } else { row(&line) });
                        }
                    }
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            if !self.follow {
                return Ok(());
            }
            // Events arrive late and out of order (each task or instance flushes on its own):
            // read the last minute again, and forget what is older than that.
            // An event stamped in the future (a skewed clock) must not hide the ones after it.
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
            from = from.max(newest.min(now) - LATE.as_millis() as i64);
            seen.retain(|_, at| *at >= from);
            tokio::time::sleep(follow_interval(aws)).await;
        }
    }
}

/// How late an event may arrive and still be printed by `--follow`.
const LATE: Duration = Duration::from_secs(60);

fn follow_interval(aws: &Aws) -> Duration {
    aws.poll_interval().max(Duration::from_millis(500))
}

/// The handler's JSON request line (`"message": "request"` in its fields), wherever the
/// log format put it (as logged, or wrapped in Lambda's JSON format); other lines (start-up,
/// EMF metrics, the platform's) are not requests.
fn request_line(message: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(message.trim()).ok()?;
    let fields = |v: &Value| v.get("fields").filter(|f| f["message"] == "request").cloned();
    fields(&v).map(|_| v.clone()).or_else(|| {
        let inner = v.get("message").or_else(|| v.get("record"))?;
        let inner = match inner {
            Value::String(s) => serde_json::from_str(s).ok()?,
            other => other.clone(),
        };
        fields(&inner).map(|_| inner)
    })
}

/// One aligned row of a request line.
fn row(line: &Value) -> String {
    let f = &line["fields"];
    let text = |k: &str| f[k].as_str().unwrap_or("").to_string();
    format!(
        "{:<24} {:>3} {:>8.1} {:>9}  {:<40} {}",
        line["timestamp"].as_str().unwrap_or("").chars().take(23).collect::<String>(),
        f["status"].as_u64().unwrap_or(0),
        f["total_ms"].as_f64().unwrap_or(0.0),
        f["bytes_out"].as_u64().unwrap_or(0),
        text("path"),
        text("process"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"timestamp":"2026-12-01T23:30:08.427615Z","level":"INFO","fields":{"message":"request","method":"GET","path":"/mountain.jpg","process":"image/resize,w_50","status":200,"bytes_in":192296,"bytes_out":806,"cache":false,"total_ms":19.276326},"target":"imgh_handler::serve"}"#;

    #[test]
    fn request_lines_are_found_and_aligned() {
        let row = row(&request_line(LINE).unwrap());
        assert_eq!(row, "2026-12-01T23:30:08.427  200     19.3       806  /mountain.jpg                            image/resize,w_50");
        // Wrapped by Lambda's JSON log format, as text or as an object.
        let wrapped = serde_json::json!({"time": "t", "type": "function", "message": LINE}).to_string();
        assert!(request_line(&wrapped).is_some());
        let nested = format!(r#"{{"record": {LINE}}}"#);
        assert!(request_line(&nested).is_some());
        for other in [
            r#"{"_aws":{"Timestamp":1},"Latency":3}"#,
            "START RequestId: 1",
            r#"{"fields":{"message":"imgh-handler listening"}}"#,
        ] {
            assert!(request_line(other).is_none(), "{other}");
        }
    }

    #[test]
    fn since_takes_a_unit() {
        assert_eq!(parse_since("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_since("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_since("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_since("1d"), Ok(Duration::from_secs(86400)));
        assert!(parse_since("10x").is_err() && parse_since("m").is_err());
    }
}
