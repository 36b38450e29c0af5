//! The edge as a rendered template configures it, run here: the router function's own code
//! (extracted from the template, run by node with a stand-in of the `cloudfront` module),
//! then the cache policy's query strings and headers (the only ones CloudFront forwards)
//! and the origin's custom headers, then the real handler behind them.
//!
//! CloudFront itself cannot run here. What this relies on from AWS's documentation is
//! listed in the README ("What is verified"): a viewer-request function may select an
//! origin of its distribution, and only what the cache key names reaches the origin.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use common::{imgh, run_expect, scratch, stdout};
use imgh_handler::guard::signature::SigningKeys;
use imgh_handler::guard::Limits;
use imgh_handler::request;
use imgh_handler::serve::{Handler, Incoming, Options, Reply};
use imgh_handler::store::MemStore;
use imgh_handler::style::{StyleFuture, StyleSource, Styles};
use serde_json::{json, Value};

fn render(args: &[&str]) -> serde_yaml::Value {
    let dir = scratch("edge-render");
    let out = run_expect(imgh(&dir, None).arg("render").args(args).args(["--stack-name", "imgh-edge"]), 0);
    serde_yaml::from_str(&stdout(&out)).expect("template parses")
}

/// One viewer request.
#[derive(Clone)]
struct Viewer {
    method: &'static str,
    /// Path and query as the viewer sends them (percent-encoded).
    uri: String,
    headers: Vec<(&'static str, String)>,
}

fn get(uri: &str) -> Viewer {
    Viewer { method: "GET", uri: uri.to_string(), headers: vec![] }
}

/// What the router did with a request: the origin it selected (None: the behaviour's
/// default, the handler), and the request or the response it returned.
#[derive(Debug)]
struct Routed {
    origin: Option<String>,
    result: Value,
}

/// Runs the template's router function on each request, in one node process.
fn route(doc: &serde_yaml::Value, viewers: &[Viewer]) -> Vec<Routed> {
    let code = doc["Resources"]["RouterFunction"]["Properties"]["FunctionCode"].as_str().expect("function code");
    let events: Vec<Value> = viewers
        .iter()
        .map(|v| {
            let (path, query) = v.uri.split_once('?').unwrap_or((&v.uri, ""));
            // CloudFront's querystring object: names and values as sent, repeats in multiValue.
            let mut qs = serde_json::Map::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
                match qs.get_mut(k) {
                    None => {
                        qs.insert(k.into(), json!({"value": val}));
                    }
                    Some(e) => {
                        let first = e["value"].clone();
                        let list = e.as_object_mut().unwrap().entry("multiValue").or_insert(json!([{"value": first}]));
                        list.as_array_mut().unwrap().push(json!({"value": val}));
                    }
                }
            }
            let headers: serde_json::Map<String, Value> =
                v.headers.iter().map(|(k, val)| (k.to_string(), json!({"value": val}))).collect();
            json!({"version": "1.0", "context": {"eventType": "viewer-request"}, "viewer": {"ip": "192.0.2.1"},
                   "request": {"method": v.method, "uri": path, "querystring": qs, "headers": headers, "cookies": {}}})
        })
        .collect();
    let dir = scratch("edge-node");
    std::fs::write(dir.join("router.js"), code).unwrap();
    std::fs::write(dir.join("events.json"), serde_json::to_string(&events).unwrap()).unwrap();
    std::fs::write(
        dir.join("run.js"),
        r#"const fs = require('fs'), vm = require('vm');
const code = fs.readFileSync(process.argv[2], 'utf8');
if (!code.startsWith("import cf from 'cloudfront';")) throw new Error('the function must import cf first');
if (Buffer.byteLength(code) > 10240) throw new Error('over the 10 KB CloudFront Functions limit');
const body = code.replace("import cf from 'cloudfront';", '');
const out = [];
for (const event of JSON.parse(fs.readFileSync(process.argv[3], 'utf8'))) {
  let origin = null;
  const ctx = vm.createContext({ cf: { selectRequestOriginById: (id) => { origin = id; } } });
  vm.runInContext(body, ctx);
  const result = ctx.handler(event);
  out.push({ origin, result });
}
process.stdout.write(JSON.stringify(out));
"#,
    )
    .unwrap();
    let out = Command::new("node")
        .arg(dir.join("run.js"))
        .arg(dir.join("router.js"))
        .arg(dir.join("events.json"))
        .output()
        .expect("node runs (tests/setup.sh installs it)");
    assert!(out.status.success(), "router failed: {}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("router output");
    list.into_iter()
        .map(|r| Routed { origin: r["origin"].as_str().map(str::to_string), result: r["result"].clone() })
        .collect()
}

/// The origin request CloudFront makes from a routed request: the path, the query strings
/// and headers the cache policy names (nothing else), and the origin's custom headers.
fn origin_request(doc: &serde_yaml::Value, routed: &Value) -> (String, Option<String>, Vec<(String, String)>) {
    let key = &doc["Resources"]["ImageCachePolicy"]["Properties"]["CachePolicyConfig"]
        ["ParametersInCacheKeyAndForwardedToOrigin"];
    let names = |v: &serde_yaml::Value| -> Vec<String> {
        v.as_sequence().map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let queries = names(&key["QueryStringsConfig"]["QueryStrings"]);
    let headers_kept: Vec<String> = names(&key["HeadersConfig"]["Headers"]).iter().map(|h| h.to_lowercase()).collect();
    let req = &routed;
    let mut pairs = vec![];
    for (name, v) in req["querystring"].as_object().expect("querystring object") {
        if !queries.contains(name) {
            continue;
        }
        match v["multiValue"].as_array() {
            Some(list) => pairs.extend(list.iter().map(|m| format!("{name}={}", m["value"].as_str().unwrap()))),
            None => pairs.push(format!("{name}={}", v["value"].as_str().unwrap())),
        }
    }
    let mut headers: Vec<(String, String)> = req["headers"]
        .as_object()
        .expect("headers object")
        .iter()
        .filter(|(k, _)| headers_kept.contains(k))
        .map(|(k, v)| (k.clone(), v["value"].as_str().unwrap().to_string()))
        .collect();
    let dist = doc["Resources"]["Distribution0"]["Properties"]["DistributionConfig"].clone();
    let handler_origin =
        dist["Origins"].as_sequence().unwrap().iter().find(|o| o["Id"].as_str() == Some("handler")).unwrap().clone();
    for h in handler_origin["OriginCustomHeaders"].as_sequence().unwrap() {
        let value = h["HeaderValue"].as_str().map(str::to_string).unwrap_or_else(|| "photos-0".into());
        headers.push((h["HeaderName"].as_str().unwrap().to_string(), value));
    }
    let query = (!pairs.is_empty()).then(|| pairs.join("&"));
    (req["uri"].as_str().unwrap().to_string(), query, headers)
}

/// The handler serving bucket `photos-0` (the renders' bucket) from memory.
fn handler(options: Options) -> Handler {
    let store = MemStore::default();
    store.insert("a.jpg", include_bytes!("../../samples/mountain.jpg").as_slice());
    store.insert("wow!.jpg", include_bytes!("../../samples/sunset.jpg").as_slice());
    let stores = HashMap::from([("photos-0".to_string(), Arc::new(store) as Arc<dyn imgh_handler::store::Store>)]);
    Handler::new(stores, Arc::new(Styles::default()), Limits::default(), options)
}

async fn serve(h: &Handler, doc: &serde_yaml::Value, routed: &Value) -> Reply {
    let (path, query, headers) = origin_request(doc, routed);
    let mut map = http::HeaderMap::new();
    for (k, v) in &headers {
        map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    h.handle(&Incoming { method: "GET", path: &path, query: query.as_deref(), headers: &map, body: &[] }).await
}

/// A style source in which every valid name exists: where the router must send a request
/// if the handler might process it.
struct EveryStyle;

impl StyleSource for EveryStyle {
    fn get<'a>(&'a self, _name: &'a str) -> StyleFuture<'a> {
        Box::pin(async { Ok(Some("image/resize,w_10".to_string())) })
    }
}

/// The router sends to the handler exactly the requests the handler would process (or
/// refuse) with every style defined, and everything else to S3 with no query string.
#[tokio::test]
async fn router_sends_processing_to_the_handler_and_originals_to_s3() {
    let doc = render(&["--variant", "lambda", "--bucket", "photos-0"]);
    let uris = [
        "/a.jpg?x-oss-process=image/resize,w_100",
        "/a.jpg?image_process=image/resize,w_100",
        "/a.jpg?x-oss-process=style/thumb",
        "/a.jpg?x%2Doss%2Dprocess=image%2Fresize%2Cw_100",
        "/a.jpg?utm_source=x&x-oss-process=image/resize,w_100",
        "/a.jpg?x-oss-process=",
        "/a.jpg?x-oss-process=image/resize,w_abc",
        "/dir/a.jpg@!thumb",
        "/dir/a.jpg%40%21thumb",
        "/a.jpg@!not%20valid",
        "/a.jpg!thumb",
        "/wow!.jpg",
        "/%E4%B8%AD%E6%96%87.jpg!small_1",
        "/a.jpg",
        "/a.jpg?utm_source=newsletter",
        "/a.jpg?X-OSS-PROCESS=image/resize,w_100",
        "/a%20b.jpg",
        "/a!b%20c.jpg",
        "/a%ZZ!x",
        "/100%.jpg",
        "/a.jpg?Expires=1&Signature=abc",
        "/a+b.jpg",
        "/a.jpg?x-oss-process=image/resize,w_10&x%2Doss%2Dprocess=image/resize,w_20",
    ];
    let viewers: Vec<Viewer> = uris.iter().map(|u| get(u)).collect();
    let routed = route(&doc, &viewers);
    for (uri, r) in uris.iter().zip(&routed) {
        let (path, query) = uri.split_once('?').map_or((*uri, None), |(p, q)| (p, Some(q)));
        let wants_handler = match request::resolve(path, query, &EveryStyle).await {
            Ok(resolved) => resolved.process.is_some(),
            Err(_) => true, // the handler's error must reach the viewer, not an original
        };
        let to_s3 = r.origin.as_deref() == Some("s3");
        assert_eq!(!to_s3, wants_handler, "{uri}: routed to {:?}", r.origin);
        assert!(r.origin.is_none() || to_s3, "{uri}: unknown origin {:?}", r.origin);
        if to_s3 {
            assert_eq!(r.result["querystring"], json!({}), "{uri}: S3 gets no query string");
        }
    }
    // An encoded parameter name is rewritten to the plain one the cache key names.
    assert!(routed[3].result["querystring"].get("x-oss-process").is_some(), "{:?}", routed[3].result);
    // `+` is part of the key for S3 too, as for the handler.
    assert_eq!(routed[21].result["uri"], "/a%2Bb.jpg");
    // Two spellings of the process parameter: the first wins, as in the handler.
    let (_, query, _) = origin_request(&doc, &routed[22].result);
    assert_eq!(query.as_deref(), Some("x-oss-process=image/resize,w_10"));
}

/// Through the edge as rendered, the handler processes, refuses, and never answers a
/// failure with the original.
#[tokio::test]
async fn processed_requests_reach_the_handler_with_their_process() {
    let doc = render(&["--variant", "lambda", "--bucket", "photos-0"]);
    let h = handler(Options::default());
    let viewers =
        [get("/a.jpg?x-oss-process=image/resize,w_120&utm=1"), get("/a.jpg?x-oss-process=image/resize,w_abc")];
    let routed = route(&doc, &viewers);
    let ok = serve(&h, &doc, &routed[0].result).await;
    assert_eq!(ok.status, 200);
    assert_eq!(image::load_from_memory(&ok.body).expect("decodes").width(), 120);
    let bad = serve(&h, &doc, &routed[1].result).await;
    assert_eq!(bad.status, 400, "an error, not the original");
    assert_eq!(bad.header("cache-control"), Some("public, max-age=60"));
}

/// With --signed-urls, Expires and Signature are in the cache key, so a signed URL reaches
/// the handler whole and verifies; a tampered or unsigned one is refused.
#[tokio::test]
async fn signed_urls_pass_the_edge_and_verify() {
    let keys = SigningKeys::parse("k-new,k-old");
    let h = handler(Options { signing: Some(keys.clone()), ..Options::default() });
    let signed = keys.sign("/a.jpg", Some("x-oss-process=image/resize,w_80"), 4_000_000_000).unwrap();
    let tampered = signed.replace("w_80", "w_81");
    let unsigned = "/a.jpg?x-oss-process=image/resize,w_80".to_string();
    // `wow!.jpg` is an original whose key merely looks like a style suffix: the router sends
    // it to the handler, which serves it as S3 serves originals, without a signature.
    let viewers = [get(&signed), get(&tampered), get(&unsigned), get("/wow!.jpg")];

    let doc = render(&["--variant", "lambda", "--bucket", "photos-0", "--signed-urls"]);
    let routed = route(&doc, &viewers);
    let statuses: Vec<u16> = {
        let mut v = vec![];
        for r in &routed {
            // The router refuses an unsigned process itself (`signed_urls_expire_at_the_edge`).
            match r.result["statusCode"].as_u64() {
                Some(status) => v.push(status as u16),
                None => v.push(serve(&h, &doc, &r.result).await.status),
            }
        }
        v
    };
    assert_eq!(statuses, [200, 403, 403, 200]);

    // Without --signed-urls the edge drops both parameters: a handler that requires
    // signatures could never be reached (the defect this option fixes).
    let plain = render(&["--variant", "lambda", "--bucket", "photos-0"]);
    let routed = route(&plain, &viewers[..1]);
    assert_eq!(serve(&h, &plain, &routed[0].result).await.status, 403);
}

/// With --cors-origin, the router answers preflights for allowed origins, and the response
/// headers policy (with OPTIONS allowed) adds the CORS headers to every answer.
#[test]
fn cors_preflight_and_headers_at_the_edge() {
    let doc = render(&["--variant", "lambda", "--bucket", "photos-0", "--cors-origin", "https://app.example.com"]);
    let preflight = |origin: &str| Viewer {
        method: "OPTIONS",
        uri: "/a.jpg?x-oss-process=image/resize,w_10".into(),
        headers: vec![("origin", origin.into()), ("access-control-request-method", "GET".into())],
    };
    let routed = route(&doc, &[preflight("https://app.example.com"), preflight("https://evil.example")]);
    assert_eq!(routed[0].result["statusCode"], 204);
    assert_eq!(routed[0].result["headers"]["access-control-allow-origin"]["value"], "https://app.example.com");
    assert_eq!(routed[1].result["statusCode"], 403);
    let dist = &doc["Resources"]["Distribution0"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"];
    let methods: Vec<&str> = dist["AllowedMethods"].as_sequence().unwrap().iter().filter_map(|m| m.as_str()).collect();
    assert_eq!(methods, ["GET", "HEAD", "OPTIONS"]);
    assert_eq!(dist["ResponseHeadersPolicyId"]["Ref"].as_str(), Some("CorsHeadersPolicy"));
    let cors = &doc["Resources"]["CorsHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["CorsConfig"];
    assert_eq!(cors["AccessControlAllowOrigins"]["Items"][0].as_str(), Some("https://app.example.com"));
    assert_eq!(cors["OriginOverride"].as_bool(), Some(true));

    // Without the option: no OPTIONS, no policy; a preflight gets the router's 403.
    let plain = render(&["--variant", "lambda", "--bucket", "photos-0"]);
    assert!(plain["Resources"]["CorsHeadersPolicy"].is_null());
    let methods = &plain["Resources"]["Distribution0"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
        ["AllowedMethods"];
    assert_eq!(methods.as_sequence().map(Vec::len), Some(2));
}

/// With auto-format the router collapses Accept to what the handler acts on, and the
/// handler answers in that format.
#[tokio::test]
async fn auto_format_accept_is_normalised_for_the_handler() {
    let doc = render(&["--variant", "lambda", "--bucket", "photos-0", "--auto-format"]);
    let mut v = get("/a.jpg?x-oss-process=image/resize,w_64");
    v.headers.push(("accept", "image/avif,image/webp,image/apng,*/*;q=0.8".into()));
    let mut orig = get("/a.jpg");
    orig.headers.push(("accept", "image/webp".into()));
    let routed = route(&doc, &[v, orig]);
    assert_eq!(routed[0].result["headers"]["accept"]["value"], "image/avif");
    assert!(routed[1].result["headers"].get("accept").is_none(), "originals are not keyed on Accept");
    let h = handler(Options { auto_format: true, ..Options::default() });
    let reply = serve(&h, &doc, &routed[0].result).await;
    assert_eq!((reply.status, reply.header("content-type")), (200, Some("image/avif")));
}

/// The router reads only the viewer's own query names (`constructor`, `__proto__` are names
/// like any other, never inherited properties), keeps the first spelling of a forwarded
/// name, and takes `image/avif;q=0` as a refusal of AVIF (RFC 9110: "a value of 0 means
/// not acceptable").
#[tokio::test]
async fn router_reads_own_names_and_accept_qualities() {
    let doc = render(&["--variant", "lambda", "--bucket", "photos-0", "--auto-format"]);
    let accept = |uri: &str, accept: &str| {
        let mut v = get(uri);
        v.headers.push(("accept", accept.into()));
        v
    };
    let viewers = [
        get("/a.jpg?constructor=1&toString=2&hasOwnProperty=3"),
        get("/a.jpg?__proto__=x&x%2Doss%2Dprocess=image/resize,w_10&x-oss-process=image/resize,w_20"),
        accept("/a.jpg?x-oss-process=image/resize,w_10", "image/avif;q=0,image/webp,*/*;q=0.8"),
        accept("/a.jpg?x-oss-process=image/resize,w_10", "image/avif;q=0, image/webp;q=0"),
        accept("/a.jpg?x-oss-process=image/resize,w_10", "image/webp;q=0.5,image/avif;q=0.9"),
    ];
    let routed = route(&doc, &viewers);
    assert_eq!(routed[0].origin.as_deref(), Some("s3"), "no process named: an original");
    assert_eq!(routed[1].origin, None, "to the handler");
    assert_eq!(routed[1].result["querystring"], json!({"x-oss-process": {"value": "image/resize,w_10"}}));
    assert_eq!(routed[2].result["headers"]["accept"]["value"], "image/webp");
    assert!(routed[3].result["headers"].get("accept").is_none(), "neither format is acceptable");
    assert_eq!(routed[4].result["headers"]["accept"]["value"], "image/avif");
    // The handler (which reads the raw Accept in China) agrees.
    let h = handler(Options { auto_format: true, ..Options::default() });
    let mut map = http::HeaderMap::new();
    map.insert("accept", "image/avif;q=0,image/webp".parse().unwrap());
    map.insert(imgh_handler::serve::BUCKET_HEADER, "photos-0".parse().unwrap());
    let reply = h
        .handle(&Incoming {
            method: "GET",
            path: "/a.jpg",
            query: Some("x-oss-process=image/resize,w_10"),
            headers: &map,
            body: &[],
        })
        .await;
    assert_eq!(reply.header("content-type"), Some("image/webp"));
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// With --signed-urls the router refuses an expired URL before CloudFront looks in its
/// cache, so an answer cached while the URL was valid is never served after its Expires;
/// and the handler's answer is cached no longer than the URL is valid.
#[tokio::test]
async fn signed_urls_expire_at_the_edge() {
    let keys = SigningKeys::parse("k1");
    let h = handler(Options { signing: Some(keys.clone()), ..Options::default() });
    let doc = render(&["--variant", "lambda", "--bucket", "photos-0", "--signed-urls"]);
    let now = unix_now();
    let valid = keys.sign("/a.jpg", Some("x-oss-process=image/resize,w_80"), now + 600).unwrap();
    let expired = keys.sign("/a.jpg", Some("x-oss-process=image/resize,w_80"), now - 1).unwrap();
    let style_expired = keys.sign("/a.jpg@!thumb", None, now - 1).unwrap();
    let viewers = [
        get(&valid),
        get(&expired),
        get("/a.jpg?x-oss-process=image/resize,w_80"),
        get("/a.jpg@!thumb"),
        get(&style_expired),
        get("/a.jpg?x-oss-process=image/resize,w_80&Expires=soon&Signature=x"),
        // `wow!.jpg` may be an original whose key has a `!`: the handler decides.
        get("/wow!.jpg"),
    ];
    let routed = route(&doc, &viewers);
    let refused: Vec<bool> = routed.iter().map(|r| r.result["statusCode"] == 403).collect();
    assert_eq!(refused, [false, true, true, true, true, true, false]);
    for r in routed.iter().filter(|r| r.result["statusCode"] == 403) {
        assert_eq!(r.result["headers"]["cache-control"]["value"], "no-store");
    }
    let reply = serve(&h, &doc, &routed[0].result).await;
    assert_eq!(reply.status, 200);
    let max_age: u64 = reply
        .header("cache-control")
        .and_then(|c| c.split(", ").find_map(|d| d.strip_prefix("max-age=")))
        .expect("max-age")
        .parse()
        .unwrap();
    assert!((590..=600).contains(&max_age), "cached no longer than the URL is valid: {max_age}");
    // Nor served stale past it when the origin fails (China has no router to refuse it).
    assert!(reply.header("cache-control").is_some_and(|c| c.contains("stale-if-error=0")));
    assert_eq!(serve(&h, &doc, &routed[6].result).await.status, 200, "an original");
}

/// China: the legacy cache settings forward every query name while keying on the ones the
/// handler reads. A signed URL with a name added by anyone (`&x=1`) shares the cache entry
/// of the signed URL, so it must verify and get the same answer, not a refusal that would be
/// cached under it.
#[tokio::test]
async fn china_forwards_every_name_and_the_handler_reads_only_the_key() {
    let doc = render(&[
        "--region",
        "cn-north-1",
        "--variant",
        "lambda",
        "--bucket",
        "photos-0",
        "--domain",
        "img.example.cn",
        "--iam-certificate-id",
        "ASCACKCEVSQ6C2EXAMPLE",
        "--signed-urls",
    ]);
    let behaviour = &doc["Resources"]["Distribution0"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"];
    assert_eq!(behaviour["ForwardedValues"]["QueryString"].as_bool(), Some(true), "every name forwarded");
    let env = &doc["Resources"]["HandlerFunction"]["Properties"]["Environment"]["Variables"];
    // The handler as the template configures it: names read as spelled, as the key matches them.
    let exact_query_names = env["IMGH_EXACT_QUERY_NAMES"].as_str() == Some("1");
    assert!(exact_query_names, "the China handler reads query names as sent");
    let keys = SigningKeys::parse("k1");
    let signing = handler(Options { signing: Some(keys.clone()), exact_query_names, ..Options::default() });
    let plain = handler(Options { exact_query_names, ..Options::default() });
    let signed = keys.sign("/a.jpg", Some("x-oss-process=image/resize,w_90"), unix_now() + 600).unwrap();
    let mut answers = vec![];
    for uri in [signed.clone(), format!("{signed}&x=1"), format!("{signed}&x=1&x=2&__proto__=3&utm=%ZZ")] {
        let reply = ask(&signing, &uri).await;
        assert_eq!(reply.status, 200, "{uri}: {}", String::from_utf8_lossy(&reply.body));
        answers.push(reply.body);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "one answer under one cache key");
    // Names the key does not match as spelled are not read: `x%2Doss%2Dprocess` is cached
    // under the original's key, so the handler answers the original; beside the plain name,
    // the plain one is what the key holds and what the handler processes.
    let original = ask(&plain, "/a.jpg").await;
    let encoded = ask(&plain, "/a.jpg?x%2Doss%2Dprocess=image/resize,w_10").await;
    assert_eq!((encoded.status, &encoded.body), (200, &original.body), "the original, as its cache key says");
    let keyed = ask(&plain, "/a.jpg?x-oss-process=image/resize,w_90").await;
    let both = ask(&plain, "/a.jpg?x%2Doss%2Dprocess=image/resize,w_10&x-oss-process=image/resize,w_90").await;
    assert_eq!(image::load_from_memory(&both.body).expect("an image").width(), 90);
    assert_eq!(both.body, keyed.body);
    // A signed URL whose Expires and Signature are spelled encoded is cached under the
    // unsigned key: to the handler it is unsigned, refused and not cached.
    let respelled = signed.replace("Expires=", "Expir%65s=").replace("Signature=", "Sig%6Eature=");
    let refused = ask(&signing, &respelled).await;
    assert_eq!((refused.status, refused.header("cache-control")), (403, Some("no-store")), "{respelled}");
}

/// The handler's answer to `uri` (path and raw query) for the renders' bucket, as the origin
/// receives it when every query name is forwarded (China's legacy cache settings).
async fn ask(h: &Handler, uri: &str) -> Reply {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut map = http::HeaderMap::new();
    map.insert(imgh_handler::serve::BUCKET_HEADER, "photos-0".parse().unwrap());
    h.handle(&Incoming { method: "GET", path, query: Some(query), headers: &map, body: &[] }).await
}
