//! `imgh process`: the handler's own engine on local files or S3 objects, without a stack.
//!
//! `imgh process SRC PROCESS DST` does one (SRC and DST each a path or `s3://bucket/key`).
//! `imgh process --prefix s3://b/in/ --to s3://b/out/ PROCESS` does every object under a
//! prefix, a few at once, under a progress bar: an output that exists already is skipped
//! unless `--force`, so an interrupted run picks up where it stopped. A destination is
//! never the source. Watermark images are read once a run, from beside the source: the
//! same bucket, or the current directory for local files. A `video/snapshot,…` process
//! reads the video in ranges, as the handler does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use imgh_handler::engine::{self, Processed};
use imgh_handler::guard::Limits;
use imgh_handler::process::{self as oss, Plan};
use imgh_handler::store::{DirStore, S3Store, Store};
use imgh_handler::video::{self, Snapshot};

use crate::aws::{Aws, SdkResultExt, Session};
use crate::config::GlobalArgs;
use crate::ui;

/// `imgh process`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  imgh process photo.jpg image/resize,w_200/format,webp thumb.webp\n  \
                        imgh process s3://b/a.jpg image/resize,w_200 s3://b/thumbs/a.jpg\n  \
                        imgh process --prefix s3://b/in/ --to s3://b/out/ image/resize,w_200")]
pub struct Process {
    /// SRC PROCESS DST, or only PROCESS with --prefix and --to.
    #[arg(value_name = "SRC PROCESS DST", num_args = 1..=3, required = true)]
    args: Vec<String>,
    /// Process every object under this S3 prefix (s3://bucket/prefix/).
    #[arg(long, requires = "to", value_name = "S3_PREFIX")]
    prefix: Option<String>,
    /// Where --prefix writes: each object's key below the prefix, under this one.
    #[arg(long, requires = "prefix", value_name = "S3_PREFIX")]
    to: Option<String>,
    /// Objects processed at once with --prefix.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Process again what exists at the destination already.
    #[arg(long)]
    force: bool,
}

/// A file or an S3 object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    fn parse(text: &str) -> Result<Self> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(Location::File(PathBuf::from(text)));
        };
        match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() => Ok(Location::S3 { bucket: bucket.into(), key: key.into() }),
            _ => bail!("{text}: an S3 location is s3://bucket/key"),
        }
    }

    fn is_s3(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }

    /// Another object beside this one: the same bucket, or the current directory.
    fn sibling(&self, key: &str) -> Location {
        match self {
            Location::File(_) => Location::File(PathBuf::from(key)),
            Location::S3 { bucket, .. } => Location::S3 { bucket: bucket.clone(), key: key.into() },
        }
    }

    async fn read(&self, aws: Option<&Aws>, max_bytes: u64) -> Result<Vec<u8>> {
        let bytes = match self {
            Location::File(p) => tokio::fs::read(p).await.with_context(|| format!("cannot read {self}"))?,
            Location::S3 { bucket, key } => {
                let out = connected(aws, self)?
                    .s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .sdk()
                    .with_context(|| format!("cannot read {self}"))?;
                if out.content_length().is_some_and(|n| n as u64 > max_bytes) {
                    bail!("{self} is larger than the {max_bytes}-byte source limit");
                }
                out.body.collect().await.with_context(|| format!("cannot read {self}"))?.to_vec()
            }
        };
        Ok(bytes)
    }

    async fn exists(&self, aws: Option<&Aws>) -> Result<bool> {
        match self {
            Location::File(p) => Ok(p.exists()),
            Location::S3 { bucket, key } => {
                match connected(aws, self)?.s3.head_object().bucket(bucket).key(key).send().await {
                    Ok(_) => Ok(true),
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
                    Err(e) => Err(e).sdk().with_context(|| format!("cannot tell whether {self} exists")),
                }
            }
        }
    }

    async fn write(&self, aws: Option<&Aws>, out: &Processed) -> Result<()> {
        match self {
            Location::File(p) => tokio::fs::write(p, &out.body).await.with_context(|| format!("cannot write {self}")),
            Location::S3 { bucket, key } => connected(aws, self)?
                .s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type(out.content_type)
                .body(ByteStream::from(out.body.clone()))
                .send()
                .await
                .sdk()
                .map(|_| ())
                .with_context(|| format!("cannot write {self}")),
        }
    }
}

/// The clients for an S3 location: `Process::run` connects whenever a location is on S3.
fn connected<'a>(aws: Option<&'a Aws>, at: &Location) -> Result<&'a Aws> {
    aws.with_context(|| format!("{at}: S3 needs AWS credentials and a region"))
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// One source and where its result goes.
struct Job {
    src: Location,
    dst: Location,
}

/// What a process makes of each source.
enum Recipe {
    Image(Plan),
    Snapshot(Snapshot),
}

impl Recipe {
    fn parse(text: &str) -> Result<Self> {
        let fail = |e: imgh_handler::error::ProcessError| anyhow::anyhow!("process {text:?}: {}", e.message);
        Ok(match Snapshot::parse(text).map_err(fail)? {
            Some(s) => Recipe::Snapshot(s),
            None => Recipe::Image(oss::parse(text).map_err(fail)?),
        })
    }
}

/// What every job of a run shares: the recipe, and the watermark images it names, read once.
struct Work {
    recipe: Recipe,
    assets: HashMap<String, Vec<u8>>,
}

impl Work {
    /// Reads the watermark images from beside `source` (its bucket, or the current directory).
    async fn prepare(aws: Option<&Aws>, recipe: Recipe, source: &Location) -> Result<Arc<Self>> {
        let mut assets = HashMap::new();
        let keys = match &recipe {
            Recipe::Image(plan) => plan.watermark_keys().collect(),
            Recipe::Snapshot(_) => vec![],
        };
        for key in keys {
            let bytes =
                source.sibling(key).read(aws, Limits::default().max_source_bytes).await.context("watermark image")?;
            assets.insert(key.to_string(), bytes);
        }
        Ok(Arc::new(Work { recipe, assets }))
    }
}

/// How one job ended.
enum Done {
    Written { bytes_in: u64, bytes_out: usize },
    Skipped,
}

impl Process {
    pub fn run(self, global: &GlobalArgs) -> Result<()> {
        let process = self.process_text()?;
        let plan = Recipe::parse(process)?;
        let batch = self.prefix.is_some();
        let locations = self.locations()?;
        if !batch && !locations.iter().any(Location::is_s3) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            return rt.block_on(Self::one(None, plan, locations));
        }
        Session::run(global, |s| async move {
            match batch {
                true => self.all(&s.aws, plan).await,
                false => Self::one(Some(&s.aws), plan, locations).await,
            }
        })
    }

    /// The process text: the last positional argument with --prefix, the middle one without.
    fn process_text(&self) -> Result<&str> {
        let text = match (self.prefix.is_some(), self.args.as_slice()) {
            (true, [process]) | (false, [_, process, _]) => process,
            (true, _) => bail!("with --prefix and --to, give only the process: imgh process --prefix s3://b/in/ --to s3://b/out/ image/resize,w_200"),
            (false, _) => bail!("give SRC PROCESS DST, e.g. imgh process photo.jpg image/resize,w_200 thumb.jpg"),
        };
        Ok(text.strip_prefix("x-oss-process=").unwrap_or(text))
    }

    fn locations(&self) -> Result<Vec<Location>> {
        match self.args.as_slice() {
            [src, _, dst] => Ok(vec![Location::parse(src)?, Location::parse(dst)?]),
            _ => Ok(vec![]),
        }
    }

    /// SRC PROCESS DST.
    async fn one(aws: Option<&Aws>, plan: Recipe, locations: Vec<Location>) -> Result<()> {
        let [src, dst] = <[Location; 2]>::try_from(locations).map_err(|_| anyhow::anyhow!("give SRC PROCESS DST"))?;
        if src == dst {
            bail!("{dst} is the source: write the result somewhere else");
        }
        let work = Work::prepare(aws, plan, &src).await?;
        match run_job(aws, &work, Job { src, dst: dst.clone() }, true).await? {
            Done::Written { bytes_in, bytes_out } => eprintln!("{dst}: {bytes_out} bytes (from {bytes_in})"),
            Done::Skipped => eprintln!("{dst} exists: left as it is"),
        }
        Ok(())
    }

    /// --prefix … --to …: every object under the prefix, `concurrency` at once.
    async fn all(&self, aws: &Aws, plan: Recipe) -> Result<()> {
        let (from, to) = (self.prefix.as_deref().unwrap_or_default(), self.to.as_deref().unwrap_or_default());
        let (Location::S3 { bucket, key: prefix }, Location::S3 { bucket: to_bucket, key: to_prefix }) =
            (Location::parse(from)?, Location::parse(to)?)
        else {
            bail!("--prefix and --to take S3 locations: s3://bucket/prefix/");
        };
        if bucket == to_bucket && prefix == to_prefix {
            bail!("--to is --prefix: the results would replace their sources; choose another prefix");
        }
        let keys = list(aws, &bucket, &prefix).await?;
        // Results written under --prefix on an earlier run are not sources.
        let keys: Vec<String> =
            keys.into_iter().filter(|k| !(bucket == to_bucket && k.starts_with(to_prefix.as_str()))).collect();
        let bar = ui::progress_bar(keys.len() as u64, "{spinner} {bar:30} {pos}/{len} objects  {wide_msg}");
        let work =
            Work::prepare(Some(aws), plan, &Location::S3 { bucket: bucket.clone(), key: prefix.clone() }).await?;
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency as usize));
        let mut jobs = tokio::task::JoinSet::new();
        for key in keys {
            let job = Job {
                dst: Location::S3 { bucket: to_bucket.clone(), key: format!("{to_prefix}{}", &key[prefix.len()..]) },
                src: Location::S3 { bucket: bucket.clone(), key },
            };
            let (aws, work, slots, force) = (aws.clone(), work.clone(), slots.clone(), self.force);
            jobs.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let name = job.src.to_string();
                (name, run_job(Some(&aws), &work, job, force).await)
            });
        }
        let (mut written, mut skipped, mut bytes) = (0usize, 0usize, (0u64, 0u64));
        let mut failed: Vec<(String, String)> = vec![];
        while let Some(joined) = jobs.join_next().await {
            let (name, result) = joined.context("a processing task stopped")?;
            match result {
                Ok(Done::Written { bytes_in, bytes_out }) => {
                    written += 1;
                    bytes = (bytes.0 + bytes_in, bytes.1 + bytes_out as u64);
                }
                Ok(Done::Skipped) => skipped += 1,
                Err(e) => failed.push((name.clone(), format!("{e:#}"))),
            }
            bar.set_message(name);
            bar.inc(1);
        }
        bar.finish_and_clear();
        eprintln!(
            "Processed {written} ({} MB → {} MB), skipped {skipped} that existed (--force redoes them), failed {}.",
            bytes.0 / 1_000_000,
            bytes.1 / 1_000_000,
            failed.len()
        );
        if !failed.is_empty() {
            failed.sort();
            eprint!(
                "{}",
                ui::table(
                    &["Object", "Error"],
                    &failed.iter().map(|(n, e)| [n.clone(), e.clone()]).collect::<Vec<_>>()
                )
            );
            bail!(
                "{} of {} objects failed; run again to retry them (what was written is skipped)",
                failed.len(),
                written + skipped + failed.len()
            );
        }
        Ok(())
    }
}

/// Every object key under `prefix`, folder markers left out.
async fn list(aws: &Aws, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    let mut keys = vec![];
    let mut token = None;
    loop {
        let out = aws
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .sdk()
            .with_context(|| format!("cannot list s3://{bucket}/{prefix}"))?;
        keys.extend(out.contents().iter().filter_map(|o| o.key()).filter(|k| !k.ends_with('/')).map(str::to_string));
        token = out.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// Reads the source, runs the engine on the blocking pool, writes the result; skips when
/// the destination exists and `force` is off.
async fn run_job(aws: Option<&Aws>, work: &Arc<Work>, job: Job, force: bool) -> Result<Done> {
    if !force && job.dst.exists(aws).await? {
        return Ok(Done::Skipped);
    }
    let limits = Limits::default();
    let failed = |e: imgh_handler::error::ProcessError| anyhow::anyhow!("{} {}: {}", e.status, e.code, e.message);
    let (bytes_in, out) = match &work.recipe {
        Recipe::Image(plan) => {
            let source = job.src.read(aws, limits.max_source_bytes).await?;
            let read = source.len() as u64;
            let (plan, work) = (plan.clone(), work.clone());
            let out = tokio::task::spawn_blocking(move || {
                let lookup = |k: &str| work.assets.get(k).map(Vec::as_slice);
                engine::catch_panics(|| engine::process(&source, &plan, &limits, &lookup))
            });
            (read, out.await.context("the engine stopped")?)
        }
        Recipe::Snapshot(s) => {
            let (store, key): (Box<dyn Store>, String) = match &job.src {
                Location::File(path) => {
                    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                    let name = path.file_name().context("the source names no file")?.to_string_lossy();
                    (Box::new(DirStore::new(dir).with_context(|| format!("{}", dir.display()))?), name.into_owned())
                }
                Location::S3 { bucket, key } => {
                    (Box::new(S3Store::new(connected(aws, &job.src)?.s3.clone(), bucket.clone())), key.clone())
                }
            };
            let fetched = video::fetch(store.as_ref(), &key, s, &limits).await.map_err(failed);
            let fetched = fetched.with_context(|| format!("cannot process {}", job.src))?;
            let (read, s) = (fetched.bytes_read, s.clone());
            let out =
                tokio::task::spawn_blocking(move || engine::catch_panics(|| video::render(&fetched, &s, &limits)));
            (read, out.await.context("the engine stopped")?)
        }
    };
    let out = out.map_err(failed).with_context(|| format!("cannot process {}", job.src))?;
    job.dst.write(aws, &out).await?;
    Ok(Done::Written { bytes_in, bytes_out: out.body.len() })
}
