//! `imgh build` for real: the static handler built with cargo-zigbuild (x86_64, so this
//! machine can run it), the Lambda zip uploaded to moto's S3 and a function created from it
//! through moto's Lambda, and the OCI image pushed to a local registry (Debian's
//! `docker-registry`, with htpasswd Basic auth as ECR's `AWS:<token>`), inspected with
//! `skopeo`, its layer extracted and the binary in it started and answering its health check.
//!
//! Both tests run the same `cargo zigbuild`; cargo's lock makes the second wait for the
//! first and find the binary fresh.

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use common::{imgh, moto_url, required_env, run_expect, scratch, stdout, unique, KillOnDrop};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// moto's ECR token is `AWS:<account>-auth-token`.
const ECR_PASSWORD: &str = "123456789012-auth-token";

fn source_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    tokio::runtime::Runtime::new().unwrap().block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
            .load(),
    )
}

/// `imgh build … --json` for x86_64 from this source tree; returns the artifact.
fn build(dir: &PathBuf, moto: &str, stack: &str, extra: &[&str]) -> Value {
    let mut cmd = imgh(dir, Some(moto));
    cmd.args(["--stack-name", stack, "build", "--arch", "x86_64", "--json", "--source"]).arg(source_tree()).args(extra);
    serde_json::from_str(&stdout(&run_expect(&mut cmd, 0))).expect("build JSON")
}

/// The `bootstrap` entry of the zip the Lambda build uploaded, and the zip itself.
fn bootstrap_from_s3(moto: &str, artifact: &Value) -> (Vec<u8>, Vec<u8>, u32) {
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk(moto)).force_path_style(true).build());
    let zip = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let o = s3
            .get_object()
            .bucket(artifact["code_bucket"].as_str().unwrap())
            .key(artifact["code_key"].as_str().unwrap())
            .send()
            .await
            .expect("the uploaded zip");
        o.body.collect().await.unwrap().into_bytes().to_vec()
    });
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip)).expect("a zip");
    assert_eq!(archive.len(), 1, "one entry");
    let mut entry = archive.by_name("bootstrap").expect("a bootstrap entry");
    let mode = entry.unix_mode().expect("unix permissions");
    let mut binary = Vec::new();
    entry.read_to_end(&mut binary).unwrap();
    drop(entry);
    (zip, binary, mode)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(url: &str) -> ureq::Response {
    for _ in 0..200 {
        match ureq::get(url).call() {
            Ok(r) => return r,
            Err(ureq::Error::Status(_, r)) => return r,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    panic!("{url} never answered");
}

/// Starts `binary` (through `runner`, an emulator, if given) as the HTTP server over the
/// bundled samples and checks it serves.
fn assert_serves(binary: &Path, runner: Option<&str>) {
    let port = free_port();
    let mut cmd = match runner {
        Some(r) => {
            let mut c = Command::new(r);
            c.arg(binary);
            c
        }
        None => Command::new(binary),
    };
    let _p = KillOnDrop(
        cmd.env_clear()
            .env("IMGH_MODE", "http")
            .env("IMGH_LISTEN", format!("127.0.0.1:{port}"))
            .env("IMGH_DIR", source_tree().join("samples"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start the static binary"),
    );
    let health = wait_for(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(health.status(), 200);
    let r = wait_for(&format!("http://127.0.0.1:{port}/mountain.jpg?x-oss-process=image/resize,w_200"));
    assert_eq!(r.status(), 200);
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).unwrap();
    let img = image::load_from_memory(&body).expect("a decodable image");
    assert_eq!(img.width(), 200);
}

/// `file` and `ldd` agree the binary is static, for `machine` as `file` names it.
fn assert_static(binary: &Path, machine: &str) {
    let file = Command::new("file").arg(binary).output().expect("file(1) (apt package file)");
    let file = String::from_utf8_lossy(&file.stdout);
    assert!(file.contains("ELF 64-bit") && file.contains(machine), "{file}");
    assert!(file.contains("statically linked") || file.contains("static-pie linked"), "{file}");
    let ldd = Command::new("ldd").arg(binary).output().expect("ldd");
    let said = format!("{}{}", String::from_utf8_lossy(&ldd.stdout), String::from_utf8_lossy(&ldd.stderr));
    assert!(said.contains("not a dynamic executable") || said.contains("statically linked"), "{said}");
}

#[test]
fn lambda_zip_to_s3_and_a_function_from_it() {
    let Some(moto) = moto_url() else { return };
    let dir = scratch("build-lambda");
    let stack = format!("b{}", unique());
    let artifact = build(&dir, &moto, &stack, &["--variant", "lambda"]);
    assert_eq!(artifact["code_bucket"], "imgh-artifacts-123456789012-us-east-1");
    let (zip, binary, mode) = bootstrap_from_s3(&moto, &artifact);
    let sha = hex::encode(Sha256::digest(&zip));
    assert_eq!(artifact["code_key"], format!("lambda/imgh-handler-{sha}.zip"));
    assert_eq!(mode & 0o777, 0o755, "bootstrap is executable");
    let path = dir.join("bootstrap");
    std::fs::write(&path, &binary).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_static(&path, "x86-64");
    assert_serves(&path, None);

    // The same binary again: same key, nothing uploaded.
    let again = build(&dir, &moto, &stack, &["--variant", "lambda", "--binary", path.to_str().unwrap()]);
    assert_eq!(again["code_key"], artifact["code_key"]);
    assert_eq!(again["uploaded"], false);

    // A Lambda function made from the uploaded zip, as the template's AWS::Lambda::Function does.
    let conf = sdk(&moto);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let iam = aws_sdk_iam::Client::new(&conf);
        let role = iam
            .create_role()
            .role_name(format!("{stack}-handler"))
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            )
            .send()
            .await
            .expect("create role");
        let lambda = aws_sdk_lambda::Client::new(&conf);
        let code = aws_sdk_lambda::types::FunctionCode::builder()
            .s3_bucket(artifact["code_bucket"].as_str().unwrap())
            .s3_key(artifact["code_key"].as_str().unwrap())
            .build();
        let f = lambda
            .create_function()
            .function_name(format!("{stack}-handler"))
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .architectures(aws_sdk_lambda::types::Architecture::X8664)
            .role(role.role.unwrap().arn)
            .code(code)
            .send()
            .await
            .expect("create function from the zip");
        assert_eq!(f.code_size, zip.len() as i64);
        assert_eq!(f.code_sha256.as_deref(), Some(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip)).as_str()));
    });
}

/// The default architecture: built on this (x86_64) machine by zig's cross compiler, the
/// zip's bootstrap is a static aarch64 binary that starts and serves under qemu user mode.
#[test]
fn arm64_binary_is_static_and_serves_under_qemu() {
    let Some(moto) = moto_url() else { return };
    let Some(qemu) = required_env("IMGH_TEST_QEMU_AARCH64", "qemu-aarch64-static (apt qemu-user-static)") else {
        return;
    };
    let dir = scratch("build-arm64");
    let stack = format!("a{}", unique());
    let mut cmd = imgh(&dir, Some(&moto));
    cmd.args(["--stack-name", &stack, "build", "--json", "--source"]).arg(source_tree());
    let artifact: Value = serde_json::from_str(&stdout(&run_expect(&mut cmd, 0))).expect("build JSON");
    let (_, binary, _) = bootstrap_from_s3(&moto, &artifact);
    let path = dir.join("bootstrap");
    std::fs::write(&path, &binary).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_static(&path, "ARM aarch64");
    assert_serves(&path, Some(&qemu));
}

/// A `docker-registry` on a free port with htpasswd Basic auth for ECR's user and token.
fn registry(dir: &Path) -> (KillOnDrop, String) {
    let registry = required_env("IMGH_TEST_REGISTRY", "the docker-registry executable").unwrap_or_default();
    let htpasswd =
        Command::new("htpasswd").args(["-Bbn", "AWS", ECR_PASSWORD]).output().expect("htpasswd (apache2-utils)");
    std::fs::write(dir.join("htpasswd"), &htpasswd.stdout).unwrap();
    let port = free_port();
    let config = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: imgh-test\n    path: {pw}\n",
        root = dir.join("registry").display(),
        pw = dir.join("htpasswd").display()
    );
    std::fs::write(dir.join("registry.yml"), config).unwrap();
    let child = Command::new(registry)
        .arg("serve")
        .arg(dir.join("registry.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let proc = KillOnDrop(child);
    let v2 = wait_for(&format!("http://127.0.0.1:{port}/v2/"));
    assert_eq!(v2.status(), 401, "the registry demands credentials");
    (proc, format!("127.0.0.1:{port}"))
}

fn skopeo(args: &[&str]) -> std::process::Output {
    let out = Command::new("skopeo").args(args).output().expect("skopeo");
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn oci_image_to_a_registry_without_docker() {
    let Some(moto) = moto_url() else { return };
    if required_env("IMGH_TEST_REGISTRY", "the docker-registry executable").is_none() {
        return;
    }
    let dir = scratch("build-oci");
    let (_registry, host) = registry(&dir);
    let stack = format!("Oci{}", unique());
    let registry_url = format!("http://{host}");
    let artifact = build(&dir, &moto, &stack, &["--variant", "ecs", "--registry", &registry_url]);
    let uri = artifact["image_uri"].as_str().unwrap();
    let repo = format!("{}-handler", stack.to_lowercase());
    assert!(uri.starts_with(&format!("{host}/{repo}@sha256:")), "{uri}");
    assert_eq!(artifact["uploaded_blobs"], 2);

    // As pushed: the manifest, the config (architecture, entrypoint, user) and the layer.
    let creds = format!("AWS:{ECR_PASSWORD}");
    let image = format!("docker://{uri}");
    let base = ["--tls-verify=false", "--creds", creds.as_str()];
    let raw = skopeo(&[&["inspect", "--raw"][..], &base, &[&image]].concat());
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(&raw.stdout))),
        uri.rsplit('@').next().unwrap(),
        "the digest names the manifest as stored"
    );
    let manifest: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let config: Value =
        serde_json::from_slice(&skopeo(&[&["inspect", "--config"][..], &base, &[&image]].concat()).stdout).unwrap();
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/imgh-handler"]));
    assert_eq!(config["config"]["User"], "65532:65532");
    let tagged = format!("docker://{host}/{repo}:{}", artifact["tag"].as_str().unwrap());
    let by_tag = skopeo(&[&["inspect", "--raw"][..], &base, &[&tagged]].concat());
    assert_eq!(by_tag.stdout, raw.stdout, "the tag names the same manifest");
    let out = Command::new("skopeo").args(["inspect", "--tls-verify=false", &image]).output().unwrap();
    assert!(!out.status.success(), "no credentials, no image");

    // The layer, copied out of the registry and unpacked: the binary starts and serves.
    let layout = dir.join("layout");
    skopeo(&["copy", "--src-tls-verify=false", "--src-creds", &creds, &image, &format!("dir:{}", layout.display())]);
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let layer = std::fs::read(layout.join(layer_digest.trim_start_matches("sha256:"))).expect("the layer blob");
    assert_eq!(format!("sha256:{}", hex::encode(Sha256::digest(&layer))), layer_digest);
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer[..]).read_to_end(&mut tar).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"][0], format!("sha256:{}", hex::encode(Sha256::digest(&tar))));
    let unpacked = dir.join("rootfs");
    tar::Archive::new(&tar[..]).unpack(&unpacked).unwrap();
    assert!(unpacked.join("etc/ssl/certs/ca-certificates.crt").is_file(), "CA bundle for TLS to AWS");
    let entry = unpacked.join("imgh-handler");
    assert_static(&entry, "x86-64");
    assert_serves(&entry, None);

    // Pushing the same image again uploads no blob; the Lambda zip holds the very same binary.
    let again = build(
        &dir,
        &moto,
        &stack,
        &["--variant", "ecs", "--registry", &registry_url, "--binary", entry.to_str().unwrap()],
    );
    assert_eq!(again["image_uri"], artifact["image_uri"]);
    assert_eq!(again["uploaded_blobs"], 0);
    let lambda = build(&dir, &moto, &stack, &["--variant", "lambda", "--binary", entry.to_str().unwrap()]);
    let (_, bootstrap, _) = bootstrap_from_s3(&moto, &lambda);
    assert_eq!(bootstrap, std::fs::read(&entry).unwrap(), "one binary for both variants");

    // The repository belongs to the stack: destroy removes it with the stack.
    let tpl = dir.join("stack.yaml");
    std::fs::write(&tpl, "Resources:\n  Marker:\n    Type: AWS::SNS::Topic\n").unwrap();
    let deploy = ["--stack-name", &stack, "deploy", "--method", "direct", "--yes", "--template-file"];
    run_expect(imgh(&dir, Some(&moto)).args(deploy).arg(&tpl), 0);
    let out = run_expect(imgh(&dir, Some(&moto)).args(["--stack-name", &stack, "destroy", "--yes"]), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("ECR repository {repo}")));
    let ecr = aws_sdk_ecr::Client::new(&sdk(&moto));
    let found =
        tokio::runtime::Runtime::new().unwrap().block_on(ecr.describe_repositories().repository_names(&repo).send());
    assert!(found.is_err(), "the repository is gone");
}

#[test]
fn a_dynamic_binary_is_refused() {
    let dir = scratch("build-dynamic");
    // The imgh binary itself is linked against glibc.
    let out = run_expect(
        imgh(&dir, Some("http://127.0.0.1:9")).args([
            "build",
            "--arch",
            "x86_64",
            "--binary",
            env!("CARGO_BIN_EXE_imgh"),
        ]),
        1,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    if cfg!(target_arch = "x86_64") {
        assert!(err.contains("dynamically linked"), "{err}");
    }
    let out = run_expect(imgh(&dir, None).args(["build", "--arch", "arm64", "--binary", "/nonexistent/bin"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/bin"));
}
