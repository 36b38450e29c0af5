//! The stack's CloudWatch dashboard, as the JSON body `AWS::CloudWatch::Dashboard` takes
//! (inside an `Fn::Sub`, so `${…}` names the stack's resources). Pure: settings in, text out.
//!
//! CloudFront's metrics live in us-east-1 whatever the stack's region ("CloudFront metrics …
//! are only available in the US East (N. Virginia) Region", CloudFront Developer Guide,
//! *Monitoring CloudFront metrics*), so those widgets name that region; the handler's own
//! metrics (namespace `imgh/<stack>`) and Lambda's or ECS's are the stack's region's. In China
//! the CloudFront widgets are left out: where CloudFront China publishes its metrics is not
//! verified here.

use serde_json::{json, Value};

use crate::config::{Arch, TemplateSettings, Variant};

/// us-east-1 list prices (USD) the cost line uses; a different region or a discount makes
/// the figure an estimate, which its label says.
const CLOUDFRONT_PER_REQUEST: f64 = 0.0075 / 10_000.0;
const CLOUDFRONT_PER_GB: f64 = 0.085;
const LAMBDA_PER_REQUEST: f64 = 0.20 / 1_000_000.0;
const SECONDS_PER_MONTH: f64 = 30.0 * 86_400.0;

/// The handler's metrics: the Lambda EMF lines' namespace (`IMGH_METRICS_NAMESPACE`) and the
/// ECS metric filters'.
pub const NAMESPACE: &str = "imgh/${AWS::StackName}";

/// The dashboard body for `t`, with `distributions` distributions (`Distribution0…`).
pub fn body(t: &TemplateSettings, distributions: usize) -> String {
    let cf = |metric: &str, stat: &str| -> Vec<Value> {
        (0..distributions)
            .map(|i| cloudfront(i, metric, json!({"stat": stat, "label": format!("{metric} {stat} {i}")})))
            .collect()
    };
    let handler = |metric: &str, stat: &str, id: &str, visible: bool| json!([NAMESPACE, metric, {"stat": stat, "id": id, "visible": visible, "label": format!("{metric} {stat}")}]);
    let mut widgets = vec![];
    if !t.china {
        widgets.push(widget("Viewer requests", cf("Requests", "Sum"), "us-east-1"));
        widgets.push(widget(
            "Viewer error rate (%)",
            [cf("4xxErrorRate", "Average"), cf("5xxErrorRate", "Average")].concat(),
            "us-east-1",
        ));
        widgets.push(widget("Bytes out (CloudFront)", cf("BytesDownloaded", "Sum"), "us-east-1"));
        if t.cdn_metrics {
            widgets.push(widget("Cache hit rate (%)", cf("CacheHitRate", "Average"), "us-east-1"));
            widgets.push(widget(
                "Origin latency (ms)",
                [cf("OriginLatency", "p50"), cf("OriginLatency", "p99")].concat(),
                "us-east-1",
            ));
        }
    }
    widgets.push(widget(
        "Handler latency (ms)",
        vec![handler("Latency", "p50", "p50", true), handler("Latency", "p99", "p99", true)],
        "${AWS::Region}",
    ));
    // A request is one Latency sample; the error metrics count errors (the same in both
    // variants, see partials/monitoring.yaml.j2).
    widgets.push(widget(
        "Handler requests and error rates (%)",
        vec![
            handler("Latency", "SampleCount", "requests", true),
            handler("ClientErrors", "Sum", "c", false),
            handler("ServerErrors", "Sum", "s", false),
            json!([{"expression": "100 * FILL(c, 0) / requests", "label": "4xx %", "id": "c_rate", "yAxis": "right"}]),
            json!([{"expression": "100 * FILL(s, 0) / requests", "label": "5xx %", "id": "s_rate", "yAxis": "right"}]),
        ],
        "${AWS::Region}",
    ));
    widgets.push(widget("Handler bytes out", vec![handler("BytesOut", "Sum", "bytes", true)], "${AWS::Region}"));
    let compute = match t.variant {
        Variant::Lambda => {
            let f = |metric: &str, stat: &str| json!(["AWS/Lambda", metric, "FunctionName", "${HandlerFunction}", {"stat": stat, "label": format!("{metric} {stat}")}]);
            vec![
                widget("Lambda duration (ms)", vec![f("Duration", "p50"), f("Duration", "p99")], "${AWS::Region}"),
                widget(
                    "Lambda throttles and concurrency",
                    vec![f("Throttles", "Sum"), f("ConcurrentExecutions", "Maximum")],
                    "${AWS::Region}",
                ),
            ]
        }
        Variant::Ecs => {
            let svc = |ns: &str, metric: &str, stat: &str| json!([ns, metric, "ClusterName", "${Cluster}", "ServiceName", "${Service.Name}", {"stat": stat, "label": format!("{metric} {stat}")}]);
            vec![
                widget(
                    "ECS CPU and memory (%)",
                    vec![svc("AWS/ECS", "CPUUtilization", "Average"), svc("AWS/ECS", "MemoryUtilization", "Average")],
                    "${AWS::Region}",
                ),
                widget(
                    "ECS running tasks",
                    vec![svc("ECS/ContainerInsights", "RunningTaskCount", "Average")],
                    "${AWS::Region}",
                ),
            ]
        }
    };
    widgets.extend(compute);
    if !t.china {
        widgets.extend(cost_widgets(t, distributions));
    }
    for (i, w) in widgets.iter_mut().enumerate() {
        w["x"] = json!((i % 2) * 12);
        w["y"] = json!((i / 2) * 6);
    }
    json!({"widgets": widgets}).to_string()
}

fn widget(title: &str, metrics: Vec<Value>, region: &str) -> Value {
    json!({"type": "metric", "width": 12, "height": 6,
        "properties": {"title": title, "metrics": metrics, "region": region, "view": "timeSeries", "stat": "Sum", "period": 300}})
}

/// The monthly cost at the current rate, at us-east-1 list prices (an estimate, as the labels
/// say): CloudFront requests and bytes in one widget (its metrics are us-east-1's), Lambda
/// GB-s or Fargate vCPU-h and GB-h in the other (the stack's region), since one expression
/// reads metrics of one region.
fn cost_widgets(t: &TemplateSettings, distributions: usize) -> [Value; 2] {
    let mut cdn = vec![];
    let mut terms = vec![];
    for i in 0..distributions {
        for (id, metric) in [("r", "Requests"), ("b", "BytesDownloaded")] {
            cdn.push(cloudfront(i, metric, json!({"id": format!("{id}{i}"), "stat": "Sum", "visible": false})));
        }
        terms.push(format!(
            "(r{i}*{}+b{i}/1000000000*{CLOUDFRONT_PER_GB})*{SECONDS_PER_MONTH}/PERIOD(r{i})",
            decimal(CLOUDFRONT_PER_REQUEST)
        ));
    }
    cdn.push(json!([{"expression": terms.join("+"), "label": "CloudFront USD/month at this rate (list prices, estimate)", "id": "cdn"}]));
    let arm = t.arch == Arch::Arm64;
    let compute = match t.variant {
        Variant::Lambda => {
            let per_gb_s = if arm { 0.0000133334 } else { 0.0000166667 };
            let gb = f64::from(t.memory) / 1024.0;
            let function = |metric: &str, id: &str| json!(["AWS/Lambda", metric, "FunctionName", "${HandlerFunction}", {"id": id, "stat": "Sum", "visible": false}]);
            vec![
                function("Duration", "d"),
                function("Invocations", "i"),
                json!([{"expression": format!("(d/1000*{gb}*{}+i*{})*{SECONDS_PER_MONTH}/PERIOD(d)", decimal(per_gb_s), decimal(LAMBDA_PER_REQUEST)),
                    "label": "Lambda USD/month at this rate (list prices, estimate)", "id": "compute"}]),
            ]
        }
        Variant::Ecs => {
            let (per_vcpu_h, per_gb_h) = if arm { (0.03238, 0.00356) } else { (0.04048, 0.004445) };
            let hourly = f64::from(t.cpu) / 1024.0 * per_vcpu_h + f64::from(t.task_memory) / 1024.0 * per_gb_h;
            vec![
                json!(["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", "${Cluster}", "ServiceName", "${Service.Name}",
                    {"id": "n", "stat": "Average", "visible": false}]),
                json!([{"expression": format!("n*{}*720", decimal(hourly)),
                    "label": "Fargate USD/month at this rate (list prices, estimate)", "id": "compute"}]),
            ]
        }
    };
    // One figure over the dashboard's whole time range, not its newest (partial) period.
    let single = |title: &str, metrics: Vec<Value>, region: &str| {
        let mut w = widget(title, metrics, region);
        w["properties"]["view"] = json!("singleValue");
        w["properties"]["setPeriodToTimeRange"] = json!(true);
        w
    };
    [single("Estimated CloudFront cost", cdn, "us-east-1"), single("Estimated compute cost", compute, "${AWS::Region}")]
}

/// Distribution `i`'s `metric`, with the widget options `options`.
fn cloudfront(i: usize, metric: &str, options: Value) -> Value {
    json!(["AWS/CloudFront", metric, "DistributionId", format!("${{Distribution{i}}}"), "Region", "Global", options])
}

/// A price as metric math reads it: plain decimals.
fn decimal(x: f64) -> String {
    let s = format!("{x:.10}");
    s.trim_end_matches('0').to_string()
}
