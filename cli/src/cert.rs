//! `imgh cert upload`: the certificate of `--domain` for a China stack, into IAM. CloudFront
//! in China takes no ACM certificate, only an IAM server certificate uploaded with a path
//! that starts with `/cloudfront/`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::aws::{sdk_message, Session};

/// `imgh cert …`.
#[derive(Debug, clap::Subcommand)]
pub enum CertCommand {
    /// Upload a certificate, its private key and chain (PEM files) to IAM for CloudFront,
    /// then print the id to deploy with (--iam-certificate-id).
    Upload(Upload),
}

#[derive(Debug, clap::Args)]
pub struct Upload {
    /// The certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Its private key (PEM, unencrypted).
    #[arg(long)]
    key: PathBuf,
    /// The intermediate certificates (PEM), from the issuer.
    #[arg(long)]
    chain: Option<PathBuf>,
    /// The name in IAM [default: <stack name>-<unix time>] (IAM names are unique per account).
    #[arg(long)]
    name: Option<String>,
}

/// CloudFront reads only IAM server certificates under this path.
const PATH: &str = "/cloudfront/";

impl CertCommand {
    pub async fn run(self, s: Session) -> Result<()> {
        let CertCommand::Upload(u) = self;
        let cert = read_pem(&u.cert, "CERTIFICATE")?;
        let key = read_pem(&u.key, "PRIVATE KEY")?;
        let chain = u.chain.as_deref().map(|c| read_pem(c, "CERTIFICATE")).transpose()?;
        let name = match u.name {
            Some(n) => n,
            None => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
                format!("{}-{now}", s.stack())
            }
        };
        let uploaded = s
            .aws
            .iam
            .upload_server_certificate()
            .server_certificate_name(&name)
            .path(PATH)
            .certificate_body(cert)
            .private_key(key)
            .set_certificate_chain(chain)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot upload the certificate (iam:UploadServerCertificate): {}", sdk_message(&e))
            })?;
        let meta = uploaded.server_certificate_metadata.context("IAM returned no certificate metadata")?;
        eprintln!("Uploaded {} ({}).", meta.server_certificate_name, meta.arn);
        eprintln!(
            "Deploy with: imgh deploy --domain <the certificate's domain> --iam-certificate-id {}",
            meta.server_certificate_id
        );
        println!("{}", meta.server_certificate_id);
        Ok(())
    }
}

/// A PEM file's text, checked to hold a block of `kind` (`CERTIFICATE`, `PRIVATE KEY`).
fn read_pem(path: &Path, kind: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let begins = text.lines().any(|l| l.starts_with("-----BEGIN ") && l.ends_with(&format!("{kind}-----")));
    if !begins {
        bail!("{} holds no PEM {kind} block (-----BEGIN …{kind}-----)", path.display());
    }
    if kind == "PRIVATE KEY" && text.contains("ENCRYPTED") {
        bail!(
            "{} is an encrypted private key: IAM needs it unencrypted (openssl pkey -in KEY -out PLAIN)",
            path.display()
        );
    }
    Ok(text)
}
