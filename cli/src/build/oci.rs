//! The ECS artifact: a one-layer OCI image built without a container engine, pushed through
//! the registry HTTP API (`oci-client`). The layer holds the binary and the CA bundle the
//! SDK's TLS needs (there is no base image); every timestamp is fixed, so the same binary
//! gives the same digests and a re-push uploads nothing.

use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::Arch;

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Where the binary sits in the image (the entrypoint).
pub const ENTRYPOINT: &str = "/imgh-handler";
/// The image runs as this unprivileged user and group (no passwd file needed).
pub const USER: &str = "65532:65532";
const CA_PATH: &str = "etc/ssl/certs/ca-certificates.crt";
/// Where distributions keep the CA bundle, first match wins.
const HOST_CA_BUNDLES: &[&str] =
    &["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/// A blob and its `sha256:` digest.
pub struct Blob {
    pub data: Vec<u8>,
    pub digest: String,
}

impl Blob {
    fn new(data: Vec<u8>) -> Blob {
        let digest = sha256(&data);
        Blob { data, digest }
    }
}

/// The image's three parts, ready to push.
pub struct Image {
    pub layer: Blob,
    pub config: Blob,
    pub manifest: Blob,
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The host's CA bundle, for the image's TLS connections to AWS.
pub fn host_ca_bundle() -> Result<Vec<u8>> {
    HOST_CA_BUNDLES.iter().find_map(|p| std::fs::read(p).ok()).with_context(|| {
        format!("no CA certificate bundle found (looked at {HOST_CA_BUNDLES:?}): install ca-certificates")
    })
}

/// Builds the layer, config and manifest for `binary` on `arch`.
pub fn image(binary: &[u8], ca_bundle: &[u8], arch: Arch) -> Result<Image> {
    let mut tar = tar::Builder::new(Vec::new());
    for dir in ["etc/", "etc/ssl/", "etc/ssl/certs/"] {
        append(&mut tar, tar::EntryType::Directory, dir, 0o755, &[])?;
    }
    append(&mut tar, tar::EntryType::Regular, CA_PATH, 0o644, ca_bundle)?;
    append(&mut tar, tar::EntryType::Directory, "tmp/", 0o1777, &[])?;
    append(&mut tar, tar::EntryType::Regular, &ENTRYPOINT[1..], 0o755, binary)?;
    let tar = tar.into_inner()?;
    let diff_id = sha256(&tar);
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar)?;
    let layer = Blob::new(gz.finish()?);

    let architecture = match arch {
        Arch::Arm64 => "arm64",
        Arch::X86_64 => "amd64",
    };
    let config = json!({
        "architecture": architecture,
        "os": "linux",
        "config": {
            "User": USER,
            "Entrypoint": [ENTRYPOINT],
            "Env": [format!("SSL_CERT_FILE=/{CA_PATH}"), "IMGH_MODE=http"],
            "ExposedPorts": {"8080/tcp": {}},
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": format!("imgh build {}", env!("CARGO_PKG_VERSION"))}],
    });
    let config = Blob::new(serde_json::to_vec(&config)?);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config.digest, "size": config.data.len()},
        "layers": [{"mediaType": LAYER_TYPE, "digest": layer.digest, "size": layer.data.len()}],
    });
    let manifest = Blob::new(serde_json::to_vec(&manifest)?);
    Ok(Image { layer, config, manifest })
}

/// Appends one entry owned by root with a fixed timestamp.
fn append(tar: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, mode: u32, data: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    tar.append_data(&mut h, path, data)?;
    Ok(())
}

/// A registry to push to: its host (with port) and whether it speaks plain HTTP.
pub struct Registry {
    pub host: String,
    pub plain_http: bool,
    pub auth: RegistryAuth,
}

impl Registry {
    /// From a URL such as `https://123.dkr.ecr.eu-west-1.amazonaws.com` or
    /// `http://127.0.0.1:5000` (plain HTTP only when the URL says so).
    pub fn from_url(url: &str, auth: RegistryAuth) -> Result<Registry> {
        let (plain_http, rest) = match url.split_once("://") {
            Some(("http", rest)) => (true, rest),
            Some(("https", rest)) => (false, rest),
            Some((scheme, _)) => bail!("registry URL {url:?}: unsupported scheme {scheme:?} (use https:// or http://)"),
            None => (false, url),
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            bail!("registry URL {url:?} must be scheme://host[:port], without a path");
        }
        Ok(Registry { host: host.to_string(), plain_http, auth })
    }
}

/// What a push did.
pub struct Pushed {
    /// `host/repository@sha256:…`, the form the template takes.
    pub uri: String,
    pub tag: String,
    /// Blobs sent (the rest were already in the registry).
    pub uploaded_blobs: usize,
}

/// Pushes `image` to `repository` on `registry`, tagging it `tag`; blobs the registry
/// already holds are not sent again.
pub async fn push(image: &Image, registry: &Registry, repository: &str, tag: &str) -> Result<Pushed> {
    let protocol = if registry.plain_http { ClientProtocol::Http } else { ClientProtocol::Https };
    let client = Client::new(ClientConfig { protocol, ..Default::default() });
    let reference = Reference::with_tag(registry.host.clone(), repository.to_string(), tag.to_string());
    let what = format!("{}/{repository}", registry.host);
    client
        .auth(&reference, &registry.auth, oci_client::RegistryOperation::Push)
        .await
        .with_context(|| format!("cannot authenticate to the registry {}", registry.host))?;
    let mut uploaded_blobs = 0;
    for (name, blob) in [("layer", &image.layer), ("config", &image.config)] {
        let exists = client
            .blob_exists(&reference, &blob.digest)
            .await
            .with_context(|| format!("cannot query {what} for the {name} blob"))?;
        if exists {
            eprintln!("{name} {} is already in {what}", blob.digest);
            continue;
        }
        let bar = super::bytes_bar(blob.data.len() as u64, &format!("{name} {}", &blob.digest[..19]));
        client
            .push_blob(&reference, blob.data.clone(), &blob.digest)
            .await
            .with_context(|| format!("cannot push the {name} blob to {what}"))?;
        bar.finish();
        uploaded_blobs += 1;
    }
    client
        .push_manifest_raw(&reference, image.manifest.data.clone(), MANIFEST_TYPE.parse()?)
        .await
        .with_context(|| format!("cannot push the manifest to {what}:{tag}"))?;
    Ok(Pushed { uri: format!("{what}@{}", image.manifest.digest), tag: tag.to_string(), uploaded_blobs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_binary_same_digests() {
        let a = image(b"\x7fELF binary", b"certs", Arch::Arm64).unwrap();
        let b = image(b"\x7fELF binary", b"certs", Arch::Arm64).unwrap();
        assert_eq!(a.manifest.digest, b.manifest.digest);
        let c = image(b"\x7fELF binary", b"certs", Arch::X86_64).unwrap();
        assert_ne!(a.config.digest, c.config.digest);
        assert_eq!(a.layer.digest, c.layer.digest);
        let m: serde_json::Value = serde_json::from_slice(&a.manifest.data).unwrap();
        assert_eq!(m["layers"][0]["digest"], a.layer.digest.as_str());
        assert_eq!(m["config"]["size"], a.config.data.len());
    }

    #[test]
    fn registry_urls() {
        let r = Registry::from_url("http://127.0.0.1:5000/", RegistryAuth::Anonymous).unwrap();
        assert_eq!((r.host.as_str(), r.plain_http), ("127.0.0.1:5000", true));
        let r = Registry::from_url("https://1.dkr.ecr.us-east-1.amazonaws.com", RegistryAuth::Anonymous).unwrap();
        assert!(!r.plain_http);
        assert!(Registry::from_url("ftp://x", RegistryAuth::Anonymous).is_err());
        assert!(Registry::from_url("https://x/path", RegistryAuth::Anonymous).is_err());
    }
}
