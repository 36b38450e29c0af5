//! `imgh serve`: the handler over a local folder, or over the sample photos embedded in
//! the binary when no folder is given. Requests without a process get the original.

use anyhow::Context;
use imgh_handler::guard::Limits;
use imgh_handler::serve::{http, Handler, Options};
use imgh_handler::store::{DirStore, MemStore, Store};
use imgh_handler::style::Styles;
use std::path::PathBuf;
use std::sync::Arc;

/// The sample photographs bundled with imgh (see samples/LICENSES.md).
const SAMPLES: &[(&str, &[u8])] = &[
    ("mountain.jpg", include_bytes!("../../samples/mountain.jpg")),
    ("mountain.webp", include_bytes!("../../samples/mountain.webp")),
    ("dragonfly.jpg", include_bytes!("../../samples/dragonfly.jpg")),
    ("dragonfly-alpha.png", include_bytes!("../../samples/dragonfly-alpha.png")),
    ("friends.jpg", include_bytes!("../../samples/friends.jpg")),
    ("sunset.jpg", include_bytes!("../../samples/sunset.jpg")),
    ("sunset-anim.gif", include_bytes!("../../samples/sunset-anim.gif")),
];

#[derive(Debug, clap::Args)]
pub struct Serve {
    /// Folder to serve; keys are paths below it. Default: the bundled sample photos.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// TOML file of styles: `name = "image/resize,w_200"` lines.
    #[arg(long)]
    styles: Option<PathBuf>,
}

impl Serve {
    /// Serves until Ctrl-C, on a runtime whose idle threads give their memory back soon.
    pub fn run(self) -> anyhow::Result<()> {
        imgh_handler::alloc::configure();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_keep_alive(imgh_handler::alloc::IDLE_THREAD_LIFETIME)
            .build()?;
        rt.block_on(serve(self))
    }
}

async fn serve(args: Serve) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "imgh_handler=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (store, keys): (Arc<dyn Store>, Vec<String>) = match &args.dir {
        Some(dir) => {
            let store =
                DirStore::new(dir).with_context(|| format!("cannot serve {}: no such folder", dir.display()))?;
            (Arc::new(store), Vec::new())
        }
        None => {
            let mem = MemStore::default();
            for (key, bytes) in SAMPLES {
                mem.insert(*key, *bytes);
            }
            (Arc::new(mem), SAMPLES.iter().map(|(k, _)| k.to_string()).collect())
        }
    };
    let styles = match &args.styles {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Styles::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?
        }
        None => Styles::default(),
    };
    let handler = Arc::new(Handler::single(store, Arc::new(styles), Limits::default(), Options::default()));
    let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    println!("imgh serve: listening on http://{addr}");
    if let Some(dir) = &args.dir {
        println!("serving {}", dir.display());
    } else {
        println!("serving the bundled samples; try:");
        for (key, process) in [
            ("mountain.jpg", "image/resize,w_300"),
            ("dragonfly.jpg", "image/resize,m_fill,w_200,h_200/format,webp"),
            ("friends.jpg", "image/crop,w_400,h_400,g_center/rotate,90"),
            ("dragonfly-alpha.png", "image/circle,r_150/format,png"),
            ("sunset-anim.gif", "image/resize,w_120/format,webp"),
            ("sunset.jpg", "image/info"),
        ] {
            debug_assert!(keys.iter().any(|k| k == key));
            println!("  curl -o out 'http://{addr}/{key}?x-oss-process={process}'");
        }
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    http::serve(handler, listener, http::shutdown_signal()).await?;
    Ok(())
}
