//! The Lambda artifact: the binary zipped as `bootstrap`, keyed by the zip's SHA-256 in the
//! artifact bucket. The zip is byte-for-byte reproducible, so the same binary is the same
//! key (no upload, no new deployment) and a new binary is a new key (a new deployment).

use std::io::Write;

use anyhow::{Context, Result};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use sha2::{Digest, Sha256};

use crate::aws::{sdk_message, Aws, SdkResultExt};

/// S3's smallest multipart part; also the progress bar's step.
const PART: usize = 5 * 1024 * 1024;

/// The zip Lambda's `provided` runtimes take: one executable entry named `bootstrap`, with
/// a fixed timestamp so the same binary always gives the same bytes.
pub fn zip_bootstrap(binary: &[u8]) -> Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)?;
    zip.write_all(binary)?;
    Ok(zip.finish()?.into_inner())
}

/// Where the zip lives once uploaded.
pub struct Uploaded {
    pub bucket: String,
    pub key: String,
    pub sha256: String,
    pub size: usize,
    /// False when an object with that key (hence those bytes) was already there.
    pub uploaded: bool,
}

/// Uploads `zip` to `bucket` under `lambda/imgh-handler-<sha256>.zip` unless it is there.
pub async fn upload(aws: &Aws, bucket: &str, zip: &[u8]) -> Result<Uploaded> {
    let sha256 = hex::encode(Sha256::digest(zip));
    let key = format!("lambda/imgh-handler-{sha256}.zip");
    let mut done = Uploaded { bucket: bucket.to_string(), key, sha256, size: zip.len(), uploaded: false };
    if aws.s3.head_object().bucket(bucket).key(&done.key).send().await.is_ok() {
        eprintln!("s3://{bucket}/{} is already there: not uploading", done.key);
        return Ok(done);
    }
    put_multipart(aws, bucket, &done.key, zip)
        .await
        .with_context(|| format!("cannot upload the handler zip to s3://{bucket}/{}", done.key))?;
    done.uploaded = true;
    Ok(done)
}

/// A multipart upload in [`PART`]-sized parts, with a progress bar over the bytes sent.
async fn put_multipart(aws: &Aws, bucket: &str, key: &str, body: &[u8]) -> Result<()> {
    let bar = super::bytes_bar(body.len() as u64, &format!("s3://{bucket}/{key}"));
    let started = aws
        .s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/zip")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .sdk()?;
    let id = started.upload_id().context("S3 returned no upload id")?;
    let mut parts = Vec::new();
    for (i, chunk) in body.chunks(PART).enumerate() {
        let number = i as i32 + 1;
        let sent = aws
            .s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(number)
            .body(chunk.to_vec().into())
            .send()
            .await;
        let sent = match sent {
            Ok(s) => s,
            Err(e) => {
                let _ = aws.s3.abort_multipart_upload().bucket(bucket).key(key).upload_id(id).send().await;
                return Err(anyhow::anyhow!(sdk_message(&e)));
            }
        };
        parts.push(CompletedPart::builder().part_number(number).set_e_tag(sent.e_tag().map(str::to_string)).build());
        bar.inc(chunk.len() as u64);
    }
    aws.s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .sdk()?;
    bar.finish();
    Ok(())
}
