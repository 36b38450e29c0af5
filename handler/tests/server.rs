//! The HTTP server mode (ECS) of the `imgh-handler` binary, run as a process: S3 and
//! DynamoDB through moto, originals for unprocessed requests, bucket allow-list, key encodings, styles,
//! signed URLs, auto-format, CORS, the origin secret, the result cache, the busy queue,
//! shutdown, and the processing API (`POST /images`, its secret in moto's Secrets Manager).

mod support;

use aws_sdk_s3::primitives::ByteStream;
use imgh_handler::guard::signature::SigningKeys;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use support::*;

/// Encodes a key for a URL path: everything but unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A bucket in moto with `objects` uploaded; names are unique per test run.
fn bucket(moto: &str, name: &str, objects: &[(&str, Vec<u8>)]) -> String {
    let name = format!("{name}-{}", std::process::id());
    rt().block_on(async {
        let conf = moto_config(moto).await;
        let s3 = moto_s3(&conf);
        s3.create_bucket().bucket(&name).send().await.unwrap();
        for (key, bytes) in objects {
            s3.put_object().bucket(&name).key(*key).body(ByteStream::from(bytes.clone())).send().await.unwrap();
        }
    });
    name
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{name}", samples_dir())).unwrap()
}

fn s3_server(moto: &str, buckets: &str, extra: &[(&str, &str)]) -> Proc {
    let mut env = vec![("AWS_ENDPOINT_URL", moto), ("IMGH_BUCKETS", buckets)];
    env.extend_from_slice(extra);
    start_server(&env)
}

#[test]
fn s3_keys_buckets_and_originals() {
    let Some(moto) = moto_url() else { return };
    let jpg = sample("mountain.jpg");
    let keys = [
        "plain.jpg",
        "a b.jpg",
        "中文/图片.jpg",
        "a+b.jpg",
        "(1).jpg",
        "100%.jpg",
        "x%2By.jpg",
        "dir/sub/é.jpg",
        "ping",
    ];
    let objects: Vec<(&str, Vec<u8>)> = keys.iter().map(|k| (*k, jpg.clone())).collect();
    let b0 = bucket(&moto, "imgh-b0", &objects);
    let b1 = bucket(&moto, "imgh-b1", &[("only-in-b1.jpg", jpg.clone())]);
    let server = s3_server(&moto, &format!("{b0},{b1}"), &[]);
    let hdr = |b: &str| vec![("x-imgh-bucket", b.to_string())];

    for key in keys {
        let url = format!("{}/{}?x-oss-process=image/resize,w_100", server.base, utf8_percent_encode(key, PATH));
        let got = http("GET", &url, &[("x-imgh-bucket", &b0)]);
        assert_eq!(got.status, 200, "{key}: {}", got.text());
        assert_eq!(got.image().width(), 100, "{key}");
        assert!(got.header("etag").is_some() && got.header("last-modified").is_some(), "{key}");
    }
    let processed = |b: &str, key: &str| {
        let h = hdr(b);
        http("GET", &format!("{}/{key}?x-oss-process=image/resize,w_10", server.base), &[(h[0].0, &h[0].1)])
    };
    assert_eq!(processed(&b1, "only-in-b1.jpg").status, 200);
    assert_eq!(processed(&b0, "only-in-b1.jpg").status, 404);
    assert_eq!(processed("not-allowed", "plain.jpg").status, 403);
    // Two buckets and no header: the handler cannot guess.
    assert_eq!(get(&format!("{}/plain.jpg?x-oss-process=image/resize,w_10", server.base)).status, 400);
    // No process (behind CloudFront: a `key!name` whose style does not exist): the
    // original bytes, unchanged.
    let got = http("GET", &format!("{}/plain.jpg", server.base), &[("x-imgh-bucket", &b0)]);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, jpg, "the original, byte for byte");
    // A server error is not kept by a CDN; a client error briefly.
    let bad =
        http("GET", &format!("{}/plain.jpg?x-oss-process=image/resize,w_abc", server.base), &[("x-imgh-bucket", &b0)]);
    assert_eq!((bad.status, bad.header("cache-control")), (400, Some("public, max-age=60")));
    // The health check is `/`, the empty key no object can have: every key is served.
    let health = get(&format!("{}/", server.base));
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
}

#[test]
fn styles_from_dynamodb() {
    let Some(moto) = moto_url() else { return };
    let b = bucket(&moto, "imgh-styles", &[("p.jpg", sample("mountain.jpg"))]);
    let table = format!("imgh-styles-{}", std::process::id());
    rt().block_on(async {
        use aws_sdk_dynamodb::types::*;
        let ddb = aws_sdk_dynamodb::Client::new(&moto_config(&moto).await);
        ddb.create_table()
            .table_name(&table)
            .key_schema(KeySchemaElement::builder().attribute_name("style").key_type(KeyType::Hash).build().unwrap())
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("style")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        ddb.put_item()
            .table_name(&table)
            .item("style", AttributeValue::S("thumb".into()))
            .item("process", AttributeValue::S("image/resize,m_fill,w_40,h_40/format,png".into()))
            .send()
            .await
            .unwrap();
    });
    let server = s3_server(&moto, &b, &[("IMGH_STYLE_TABLE", &table)]);
    for url in [format!("{}/p.jpg?x-oss-process=style/thumb", server.base), format!("{}/p.jpg@!thumb", server.base)] {
        let got = get(&url);
        assert_eq!(got.status, 200, "{url}: {}", got.text());
        assert_eq!(got.header("content-type"), Some("image/png"));
        assert_eq!(got.image().width(), 40);
    }
    let got = get(&format!("{}/p.jpg?x-oss-process=style/missing", server.base));
    assert_eq!(got.status, 400);
    assert!(got.text().contains("NoSuchStyle"));
}

#[test]
fn the_processing_api_writes_results_to_allowed_buckets() {
    let Some(moto) = moto_url() else { return };
    let jpg = sample("mountain.jpg");
    let src = bucket(&moto, "imgh-api-src", &[("in/p.jpg", jpg.clone())]);
    let dst = bucket(&moto, "imgh-api-dst", &[]);
    let other = bucket(&moto, "imgh-api-other", &[]);
    let conf = rt().block_on(moto_config(&moto));
    let secret_id = format!("imgh-api-{}", std::process::id());
    rt().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&conf);
        // The seed system's secret format.
        let value = r#"{"X-Client-Authorization": "s3cret"}"#;
        sm.create_secret().name(&secret_id).secret_string(value).send().await.unwrap();
    });
    let targets = format!("{dst},{src}");
    let server = s3_server(&moto, &src, &[("IMGH_API_SECRET_ID", &secret_id), ("IMGH_API_TARGET_BUCKETS", &targets)]);
    let url = format!("{}/images", server.base);
    let job = |params: &str, source: &str, target_bucket: &str, target: &str, extra: &str| {
        format!(
            r#"{{"params":"{params}","sourceBucket":"{src}","sourceObject":"{source}","targetBucket":"{target_bucket}","targetObject":"{target}"{extra}}}"#
        )
    };
    let post = |auth: Option<&str>, body: &str| {
        let mut h = vec![("content-type", "application/json")];
        if let Some(a) = auth {
            h.push(("x-client-authorization", a));
        }
        send("POST", &url, &h, Some(body.as_bytes()))
    };
    let code = |got: &Got| serde_json::from_slice::<serde_json::Value>(&got.body).unwrap()["code"].clone();
    let read = |b: &str, k: &str| {
        rt().block_on(async {
            let s3 = moto_s3(&conf);
            let out = s3.get_object().bucket(b).key(k).send().await.ok()?;
            let ct = out.content_type().unwrap_or_default().to_string();
            Some((ct, out.body.collect().await.unwrap().into_bytes().to_vec()))
        })
    };

    let ok = job("image/resize,w_100/format,webp", "in/p.jpg", &dst, "out/p.webp", "");
    for auth in [None, Some("wrong"), Some("s3cre"), Some("S3CRET"), Some("s3cret2")] {
        let got = post(auth, &ok);
        assert_eq!((got.status, code(&got)), (403, "AccessDenied".into()), "{auth:?}: {}", got.text());
        assert_eq!(got.header("content-type"), Some("application/json"));
    }
    assert!(read(&dst, "out/p.webp").is_none(), "nothing is written without the secret");

    let got = post(Some("s3cret"), &ok);
    assert_eq!(got.status, 200, "{}", got.text());
    let answer: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(answer["message"], format!("saved result to s3://{dst}/out/p.webp"));
    let (content_type, body) = read(&dst, "out/p.webp").expect("the result is in the target bucket");
    assert_eq!(content_type, "image/webp");
    assert_eq!(answer["size"], body.len());
    let img = image::load_from_memory(&body).unwrap();
    assert_eq!((img.width(), img.height()), (100, 66));

    // Only allow-listed targets; only served sources; the source itself only when asked.
    let got = post(Some("s3cret"), &job("image/resize,w_10", "in/p.jpg", &other, "x.jpg", ""));
    assert_eq!((got.status, code(&got)), (403, "AccessDenied".into()));
    let got = post(Some("s3cret"), &job("image/resize,w_10", "in/p.jpg", &src, "in/p.jpg", ""));
    assert_eq!((got.status, code(&got)), (409, "SourceOverwrite".into()));
    assert_eq!(read(&src, "in/p.jpg").unwrap().1, jpg, "the source is untouched");
    let got =
        post(Some("s3cret"), &job("image/resize,w_10", "in/p.jpg", &src, "in/p.jpg", r#","overwriteSource":true"#));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(image::load_from_memory(&read(&src, "in/p.jpg").unwrap().1).unwrap().width(), 10);

    // Errors carry the OSS code, as JSON.
    let got = post(Some("s3cret"), &job("image/resize,w_abc", "in/p.jpg", &dst, "bad.jpg", ""));
    assert_eq!((got.status, code(&got)), (400, "InvalidArgument".into()));
    let got = post(Some("s3cret"), &job("image/resize,w_10", "in/missing.jpg", &dst, "m.jpg", ""));
    assert_eq!((got.status, code(&got)), (404, "NoSuchKey".into()));
    let got = post(Some("s3cret"), "not json");
    assert_eq!((got.status, code(&got)), (400, "InvalidArgument".into()));
    let got = post(Some("s3cret"), &"x".repeat(70_000));
    assert_eq!((got.status, code(&got)), (413, "EntityTooLarge".into()));
    assert!(read(&dst, "bad.jpg").is_none() && read(&dst, "m.jpg").is_none(), "a failed job writes nothing");

    // The image path is unchanged; POST elsewhere is not served.
    let got = get(&format!("{}/in/p.jpg?x-oss-process=image/resize,w_20", server.base));
    assert_eq!(got.status, 200);
    assert_eq!(send("POST", &format!("{}/in/p.jpg", server.base), &[], Some(b"{}")).status, 405);
}

#[test]
fn signed_urls_with_rotation() {
    let dir = samples_dir();
    let server = start_server(&[("IMGH_DIR", &dir), ("IMGH_SIGNING_KEYS", "new-key,old-key")]);
    let path = "/mountain.jpg";
    let query = "x-oss-process=image/resize,w_50";
    let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    assert_eq!(get(&format!("{}{path}?{query}", server.base)).status, 403);
    // Signatures guard processing; an original is served as S3 serves it.
    assert_eq!(get(&format!("{}{path}", server.base)).status, 200);
    for key in ["new-key", "old-key"] {
        let signed = SigningKeys::parse(key).sign(path, Some(query), expires).unwrap();
        let got = get(&format!("{}{signed}", server.base));
        assert_eq!(got.status, 200, "{key}: {}", got.text());
        assert_eq!(got.image().width(), 50);
        let tampered = signed.replace("w_50", "w_60");
        assert_eq!(get(&format!("{}{tampered}", server.base)).status, 403);
    }
    let other = SigningKeys::parse("stolen").sign(path, Some(query), expires).unwrap();
    assert_eq!(get(&format!("{}{other}", server.base)).status, 403);
}

#[test]
fn auto_format_cors_and_origin_secret() {
    let dir = samples_dir();
    let server = start_server(&[
        ("IMGH_DIR", &dir),
        ("IMGH_AUTO_FORMAT", "1"),
        ("IMGH_CORS_ORIGINS", "https://app.example"),
        ("IMGH_ORIGIN_SECRET", "s3cret"),
    ]);
    let url = format!("{}/mountain.jpg?x-oss-process=image/resize,w_80", server.base);
    let secret = ("x-imgh-origin-secret", "s3cret");
    assert_eq!(get(&url).status, 403, "the origin secret is required");
    assert_eq!(http("GET", &url, &[("x-imgh-origin-secret", "guess")]).status, 403);
    // The right value, then a wrong one: refused, whichever copy a check would read.
    let raw = |copies: &[&str]| {
        use std::io::{Read, Write};
        let addr = server.base.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        let mut req = format!(
            "GET /mountain.jpg?x-oss-process=image/resize,w_80 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n"
        );
        for c in copies {
            req.push_str(&format!("x-imgh-origin-secret: {c}\r\n"));
        }
        conn.write_all(format!("{req}\r\n").as_bytes()).unwrap();
        let mut answer = vec![];
        let _ = conn.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).split(' ').nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(raw(&["s3cret"]), "200");
    assert_eq!(raw(&["s3cret", "guess"]), "403");
    assert_eq!(raw(&["guess", "s3cret"]), "403");
    for (accept, mime) in
        [("image/avif,image/webp,*/*", "image/avif"), ("image/webp,*/*", "image/webp"), ("*/*", "image/jpeg")]
    {
        let got = http("GET", &url, &[secret, ("accept", accept)]);
        assert_eq!((got.status, got.header("content-type")), (200, Some(mime)), "{accept}");
        assert!(got.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("vary") && v.contains("Accept")));
    }
    let got = http("GET", &url, &[secret, ("origin", "https://app.example")]);
    assert_eq!(got.header("access-control-allow-origin"), Some("https://app.example"));
    let got = http("GET", &url, &[secret, ("origin", "https://evil.example")]);
    assert_eq!(got.header("access-control-allow-origin"), None);
    let pre =
        http("OPTIONS", &url, &[secret, ("origin", "https://app.example"), ("access-control-request-method", "GET")]);
    assert_eq!(pre.status, 204);
    assert!(pre.header("access-control-allow-methods").unwrap().contains("GET"));
}

/// During a rotation the handler accepts the secret CloudFront is moving to and the one it
/// sent before; nothing else, and a response over the front door's limit (API Gateway's
/// 10 MB in China) is the handler's own 413.
#[test]
fn rotated_origin_secrets_and_the_front_door_limit() {
    let dir = samples_dir();
    let server = start_server(&[
        ("IMGH_DIR", &dir),
        ("IMGH_ORIGIN_SECRET", "new-secret"),
        ("IMGH_ORIGIN_SECRET_PREVIOUS", "old-secret"),
        ("IMGH_MAX_RESPONSE_BYTES", "60000"),
    ]);
    let small = format!("{}/mountain.jpg?x-oss-process=image/resize,w_80", server.base);
    for (value, status) in [("new-secret", 200), ("old-secret", 200), ("new-secre", 403), ("", 403)] {
        assert_eq!(http("GET", &small, &[("x-imgh-origin-secret", value)]).status, status, "{value:?}");
    }
    let refused = get(&small);
    assert_eq!(refused.status, 403);
    // Not cached: a distribution sending a stale secret must not keep the refusal.
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    let big = format!("{}/mountain.jpg?x-oss-process=image/resize,w_2000/format,png", server.base);
    let got = http("GET", &big, &[("x-imgh-origin-secret", "new-secret")]);
    assert_eq!(got.status, 413, "{}", got.text());
    assert!(got.text().contains("ResponseTooLarge") && got.text().contains("API Gateway"), "{}", got.text());
}

/// A public origin (the China templates set IMGH_REQUIRE_ORIGIN_SECRET) does not start
/// without its secret: it would serve anyone.
#[test]
fn a_required_origin_secret_that_is_missing_stops_the_start() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_imgh-handler"));
    base_env(&mut cmd).env("PORT", "0").env("IMGH_DIR", samples_dir()).env("IMGH_REQUIRE_ORIGIN_SECRET", "1");
    let out = cmd.env("IMGH_ORIGIN_SECRET", "").output().expect("run imgh-handler");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("IMGH_ORIGIN_SECRET is empty"));
}

#[test]
fn a_full_queue_answers_503_not_a_collapse() {
    let dir = samples_dir();
    let server = start_server(&[("IMGH_DIR", &dir), ("IMGH_WORKERS", "1"), ("IMGH_QUEUE_DEPTH", "0")]);
    let url = format!("{}/sunset.jpg?x-oss-process=image/resize,w_2400,limit_0/blur,r_50,s_50/format,png", server.base);
    let statuses: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    let g = get(&url);
                    (g.status, g.header("retry-after").map(String::from))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().any(|(s, _)| *s == 200), "{statuses:?}");
    assert!(statuses.iter().any(|(s, r)| *s == 503 && r.as_deref() == Some("1")), "{statuses:?}");
    assert!(statuses.iter().all(|(s, _)| *s == 200 || *s == 503), "{statuses:?}");
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let dir = samples_dir();
    let mut server = start_server(&[("IMGH_DIR", &dir)]);
    let url = format!("{}/sunset.jpg?x-oss-process=image/resize,w_2400,limit_0/blur,r_50,s_50/format,png", server.base);
    let pid = server.child.id().to_string();
    let status = std::thread::scope(|s| {
        let req = s.spawn(|| get(&url).status);
        std::thread::sleep(std::time::Duration::from_millis(150));
        std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        req.join().unwrap()
    });
    assert_eq!(status, 200);
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// The result cache serves a repeated request after a conditional read (S3 answers 304
/// with no body while the object is unchanged) and never a result of a replaced source.
#[test]
fn cached_results_are_revalidated_against_the_source() {
    let Some(moto) = moto_url() else { return };
    let b = bucket(&moto, "imgh-cache", &[("p.jpg", sample("mountain.jpg"))]);
    let conf = rt().block_on(moto_config(&moto));
    let s3 = moto_s3(&conf);

    // The store's conditional read, against S3's semantics.
    let store = imgh_handler::store::S3Store::new(s3.clone(), &b);
    rt().block_on(async {
        use imgh_handler::store::Store;
        let obj = store.get("p.jpg", u64::MAX).await.unwrap();
        let etag = obj.etag.clone().expect("S3 objects have an ETag");
        assert!(store.get_if_changed("p.jpg", &etag, u64::MAX).await.unwrap().is_none(), "unchanged → no body");
        let other = store.get_if_changed("p.jpg", "\"0123\"", u64::MAX).await.unwrap().expect("changed → the object");
        assert_eq!(other.bytes, obj.bytes);
    });

    let server = s3_server(&moto, &b, &[("IMGH_CACHE_MB", "16")]);
    let url = format!("{}/p.jpg?x-oss-process=image/resize,w_100", server.base);
    let first = get(&url);
    let again = get(&url);
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!((first.image().width(), first.image().height()), (100, 66));
    assert_eq!(first.body, again.body);
    assert_eq!(first.header("etag"), again.header("etag"));
    let logs = server.request_logs("/p.jpg", 2);
    assert_eq!((logs[0]["fields"]["cache"].as_bool(), logs[1]["fields"]["cache"].as_bool()), (Some(false), Some(true)));
    assert!(logs[0]["fields"]["bytes_in"].as_u64() > Some(0));
    assert_eq!(logs[1]["fields"]["bytes_in"], 0, "a hit reads no source bytes");

    // The source replaced by a portrait photograph: the next result is of the new one.
    rt().block_on(async {
        s3.put_object().bucket(&b).key("p.jpg").body(ByteStream::from(sample("friends.jpg"))).send().await.unwrap();
    });
    let replaced = get(&url);
    assert_eq!((replaced.image().width(), replaced.image().height()), (100, 151));
    assert_ne!(replaced.header("etag"), first.header("etag"));
    let logs = server.request_logs("/p.jpg", 3);
    assert_eq!(logs[2]["fields"]["cache"].as_bool(), Some(false));
}

/// With s3:ListBucket (the templates grant it) S3 answers 404 for a missing key and 403
/// only for a refusal: the handler says NoSuchKey (cacheable, as any client error) for the
/// one and AccessDenied, never cached, for the other, so a fixed bucket policy takes effect
/// at once and a refusal is not served as "missing". moto does not enforce IAM, so S3's
/// refusal is played by a socket that answers every request as S3 answers a denied GetObject.
#[test]
fn a_refused_read_is_an_uncached_403_not_a_missing_key() {
    let Some(moto) = moto_url() else { return };
    let b = bucket(&moto, "imgh-refused", &[("p.jpg", sample("mountain.jpg"))]);
    let server = s3_server(&moto, &b, &[]);
    let missing = get(&format!("{}/nope.jpg?x-oss-process=image/resize,w_10", server.base));
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert!(missing.text().contains("<Code>NoSuchKey</Code>"), "{}", missing.text());

    let denied = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = denied.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R</RequestId><HostId>H</HostId></Error>";
        for mut conn in denied.incoming().take(16).flatten() {
            let mut buf = [0u8; 8192];
            let _ = conn.read(&mut buf);
            let head = format!("HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nx-amz-request-id: R\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = conn.write_all(head.as_bytes()).and_then(|()| conn.write_all(body.as_bytes()));
        }
    });
    let server = s3_server(&format!("http://{addr}"), "photos", &[]);
    for path in ["/p.jpg?x-oss-process=image/resize,w_10", "/p.jpg"] {
        let refused = get(&format!("{}{path}", server.base));
        assert_eq!(refused.status, 403, "{path}: {}", refused.text());
        assert!(refused.text().contains("<Code>AccessDenied</Code>"), "{}", refused.text());
        assert_eq!(refused.header("cache-control"), Some("no-store"), "{path}");
    }
}

/// The ECS template's metric filters read the request lines (templates/partials/monitoring.yaml.j2):
/// `fields.message` "request", `fields.path`, `fields.status`, `fields.total_ms` and
/// `fields.bytes_out`, numbers where they compare or count. A renamed field would leave the
/// ECS dashboard and alarms without data, so the line is checked as the handler writes it.
#[test]
fn request_lines_carry_what_the_metric_filters_read() {
    let server = start_server(&[("IMGH_DIR", &samples_dir())]);
    let ok = get(&format!("{}/mountain.jpg?x-oss-process=image/resize,w_100", server.base));
    let missing = get(&format!("{}/nope.jpg?x-oss-process=image/resize,w_100", server.base));
    assert_eq!((ok.status, missing.status), (200, 404));
    for (path, status, bytes) in [("/mountain.jpg", 200, ok.body.len()), ("/nope.jpg", 404, missing.body.len())] {
        let line = &server.request_logs(path, 1)[0]["fields"];
        assert_eq!(line["status"].as_u64(), Some(status), "{line}");
        assert_eq!(line["bytes_out"].as_u64(), Some(bytes as u64), "{line}");
        assert!(line["total_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{line}");
    }
}
