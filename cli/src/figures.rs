//! The last hour's headline figures of a stack, for `imgh status`: CloudFront's (from
//! us-east-1, where CloudFront publishes its metrics; none in China, see dashboard.rs), the
//! handler's own (the same names in both variants), Lambda's, and the alarms' states.
//!
//! Each group is read on its own, and one that cannot be read (a policy denying us-east-1, a
//! statistic an emulator lacks) is shown as `-` with the reason on stderr: the rest of the
//! status is still worth printing.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use serde_json::{json, Value};

use crate::aws::{sdk_message, Aws};

const HOUR: Duration = Duration::from_secs(3600);

/// One figure to read: an id for GetMetricData, the metric and its statistic.
struct Query {
    id: String,
    namespace: String,
    metric: &'static str,
    dimensions: Vec<(&'static str, String)>,
    stat: &'static str,
}

fn query(id: impl Into<String>, namespace: &str, metric: &'static str, stat: &'static str) -> Query {
    Query { id: id.into(), namespace: namespace.to_string(), metric, dimensions: vec![], stat }
}

impl Query {
    fn on(mut self, name: &'static str, value: &str) -> Self {
        self.dimensions.push((name, value.to_string()));
        self
    }

    fn build(&self) -> MetricDataQuery {
        let dimensions = self.dimensions.iter().map(|(n, v)| Dimension::builder().name(*n).value(v).build());
        let metric = Metric::builder()
            .namespace(&self.namespace)
            .metric_name(self.metric)
            .set_dimensions(Some(dimensions.collect()))
            .build();
        let stat = MetricStat::builder().metric(metric).period(HOUR.as_secs() as i32).stat(self.stat).build();
        MetricDataQuery::builder().id(&self.id).metric_stat(stat).return_data(true).build()
    }
}

/// [`read`], or nothing and a warning naming `what` could not be read.
async fn read_or_warn(client: &aws_sdk_cloudwatch::Client, queries: &[Query], what: &str) -> BTreeMap<String, f64> {
    read(client, queries).await.unwrap_or_else(|e| {
        eprintln!("warning: {what} left out: {e:#}");
        BTreeMap::new()
    })
}

/// The value of each query over the last hour, by id; a metric without data is left out.
/// The hour ends at the last whole minute, so it is one period of CloudWatch's.
async fn read(client: &aws_sdk_cloudwatch::Client, queries: &[Query]) -> Result<BTreeMap<String, f64>> {
    let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let end = SystemTime::UNIX_EPOCH + Duration::from_secs(now - now % 60);
    let out = client
        .get_metric_data()
        .set_metric_data_queries(Some(queries.iter().map(Query::build).collect()))
        .start_time(DateTime::from(end - HOUR))
        .end_time(DateTime::from(end))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot read the stack's metrics (cloudwatch:GetMetricData): {}", sdk_message(&e))
        })?;
    Ok(out.metric_data_results().iter().filter_map(|r| Some((r.id()?.to_string(), *r.values().first()?))).collect())
}

/// The figures as JSON (absent metrics as null) and as the lines `imgh status` prints.
pub struct Figures {
    pub json: Value,
    pub lines: Vec<String>,
}

/// Reads the last hour of `stack_name`, whose variant and distributions `outputs` name.
pub async fn last_hour(aws: &Aws, stack_name: &str, outputs: &BTreeMap<String, String>) -> Figures {
    let ns = crate::dashboard::NAMESPACE.replace("${AWS::StackName}", stack_name);
    let lambda = outputs.get("Variant").map(String::as_str) == Some("lambda");
    let function = format!("{stack_name}-handler");
    let mut queries = vec![
        query("requests", &ns, "Latency", "SampleCount"),
        query("client_errors", &ns, "ClientErrors", "Sum"),
        query("server_errors", &ns, "ServerErrors", "Sum"),
        query("bytes_out", &ns, "BytesOut", "Sum"),
    ];
    if lambda {
        queries.push(query("throttles", "AWS/Lambda", "Throttles", "Sum").on("FunctionName", &function));
        queries
            .push(query("concurrency", "AWS/Lambda", "ConcurrentExecutions", "Maximum").on("FunctionName", &function));
    }
    let ecs = ecs_service(aws, stack_name, outputs).await;
    if let Some((cluster, service)) = &ecs {
        let on = |q: Query| q.on("ClusterName", cluster).on("ServiceName", service);
        queries.push(on(query("tasks", "ECS/ContainerInsights", "RunningTaskCount", "Average")));
        queries.push(on(query("cpu", "AWS/ECS", "CPUUtilization", "Average")));
    }
    let mut handler = read_or_warn(&aws.cloudwatch, &queries, "the handler's figures").await;
    let percentiles = [query("p50", &ns, "Latency", "p50"), query("p99", &ns, "Latency", "p99")];
    handler.extend(read_or_warn(&aws.cloudwatch, &percentiles, "the handler's latency percentiles").await);

    let distributions: Vec<String> = crate::stack::buckets(outputs)
        .iter()
        .filter_map(|b| Some(b.dist_arn.as_deref()?.rsplit('/').next()?.to_string()))
        .collect();
    let cdn =
        if crate::config::is_china(&aws.region) { BTreeMap::new() } else { cloudfront(aws, &distributions).await };

    let alarms = alarm_states(aws, stack_name).await.unwrap_or_else(|e| {
        eprintln!("warning: the alarms left out: {e:#}");
        BTreeMap::new()
    });
    let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied();
    let requests = get(&handler, "requests").unwrap_or(0.0);
    let percent = |errors: Option<f64>| (requests > 0.0).then(|| 100.0 * errors.unwrap_or(0.0) / requests);
    let json = json!({
        "cloudfront": cdn,
        "handler": handler,
        "alarms": alarms,
    });
    let mut lines = vec![];
    if !cdn.is_empty() {
        lines.push(format!(
            "CloudFront  {} requests, {} out, cache hits {}, 4xx {}, 5xx {}",
            count(get(&cdn, "requests")),
            bytes(get(&cdn, "bytes")),
            pct(get(&cdn, "hit_rate")),
            pct(get(&cdn, "rate_4xx")),
            pct(get(&cdn, "rate_5xx")),
        ));
    }
    lines.push(format!(
        "Handler     {} requests, p50 {}, p99 {}, 4xx {}, 5xx {}, {} out",
        count(Some(requests)),
        ms(get(&handler, "p50")),
        ms(get(&handler, "p99")),
        pct(percent(get(&handler, "client_errors"))),
        pct(percent(get(&handler, "server_errors"))),
        bytes(get(&handler, "bytes_out")),
    ));
    if lambda {
        lines.push(format!(
            "Lambda      {} throttled, {} concurrent at most",
            count(Some(get(&handler, "throttles").unwrap_or(0.0))),
            count(get(&handler, "concurrency"))
        ));
    }
    if ecs.is_some() {
        lines.push(format!(
            "ECS         {} tasks running on average, CPU {}",
            get(&handler, "tasks").map_or("-".into(), |n| format!("{n:.1}")),
            pct(get(&handler, "cpu"))
        ));
    }
    if !alarms.is_empty() {
        let states: Vec<String> = alarms.iter().map(|(n, s)| format!("{n} {s}")).collect();
        lines.push(format!("Alarms      {}", states.join(", ")));
    }
    Figures { json, lines }
}

/// CloudFront's figures over the stack's distributions: counts summed, rates weighted by each
/// distribution's requests.
async fn cloudfront(aws: &Aws, distributions: &[String]) -> BTreeMap<String, f64> {
    if distributions.is_empty() {
        return BTreeMap::new();
    }
    let cf = "AWS/CloudFront";
    let mut queries = vec![];
    for (i, d) in distributions.iter().enumerate() {
        for (name, metric, stat) in [
            ("requests", "Requests", "Sum"),
            ("bytes", "BytesDownloaded", "Sum"),
            ("rate_4xx", "4xxErrorRate", "Average"),
            ("rate_5xx", "5xxErrorRate", "Average"),
            ("hit_rate", "CacheHitRate", "Average"),
        ] {
            queries.push(query(format!("{name}_{i}"), cf, metric, stat).on("DistributionId", d).on("Region", "Global"));
        }
    }
    let got = read_or_warn(&aws.cloudwatch_us_east_1, &queries, "CloudFront's figures").await;
    let (mut out, mut weighted) = (BTreeMap::new(), BTreeMap::new());
    for i in 0..distributions.len() {
        let Some(&requests) = got.get(&format!("requests_{i}")) else { continue };
        *out.entry("requests".to_string()).or_insert(0.0) += requests;
        *out.entry("bytes".to_string()).or_insert(0.0) += got.get(&format!("bytes_{i}")).unwrap_or(&0.0);
        for rate in ["rate_4xx", "rate_5xx", "hit_rate"] {
            if let Some(r) = got.get(&format!("{rate}_{i}")) {
                let (sum, count) = weighted.entry(rate).or_insert((0.0, 0.0));
                (*sum, *count) = (*sum + r * requests, *count + requests);
            }
        }
    }
    for (rate, (sum, count)) in weighted {
        if count > 0.0 {
            out.insert(rate.to_string(), sum / count);
        }
    }
    out
}

/// The ECS variant's cluster and service names, as their metrics name them (none for Lambda,
/// or with a warning when the stack's resources cannot be read).
async fn ecs_service(aws: &Aws, stack_name: &str, outputs: &BTreeMap<String, String>) -> Option<(String, String)> {
    if outputs.get("Variant").map(String::as_str) != Some("ecs") {
        return None;
    }
    let names = async {
        let cluster = crate::stack::physical_id(aws, stack_name, "Cluster").await?;
        let service = crate::stack::physical_id(aws, stack_name, "Service").await?;
        let last = |arn: &str| arn.rsplit('/').next().unwrap_or(arn).to_string();
        anyhow::Ok((last(&cluster), last(&service)))
    };
    names.await.map_err(|e| eprintln!("warning: the ECS figures left out: {e:#}")).ok()
}

/// The state of each of the stack's alarms (named `<stack>-<name>` by the templates), by name.
async fn alarm_states(aws: &Aws, stack_name: &str) -> Result<BTreeMap<String, String>> {
    const NAMES: [&str; 4] = ["origin-errors", "client-errors", "throttles", "tasks-below-minimum"];
    let out = aws
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(NAMES.iter().map(|n| format!("{stack_name}-{n}")).collect()))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot read the stack's alarms (cloudwatch:DescribeAlarms): {}", sdk_message(&e))
        })?;
    let prefix = format!("{stack_name}-");
    Ok(out
        .metric_alarms()
        .iter()
        .filter_map(|a| {
            let name = a.alarm_name()?.strip_prefix(&prefix)?;
            Some((name.to_string(), a.state_value()?.as_str().to_string()))
        })
        .collect())
}

fn count(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}%"))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0} ms"))
}

fn bytes(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(b) if b >= 1e9 => format!("{:.2} GB", b / 1e9),
        Some(b) if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        Some(b) if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        Some(b) => format!("{b:.0} B"),
    }
}
