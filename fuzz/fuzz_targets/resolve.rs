//! From a request path and query to the object key and process, styles resolved: any
//! input is a resolution or a 4xx, never a panic.
//! Input: path, a NUL, then the query.
#![no_main]
use imgh_handler::request::resolve;
use imgh_handler::style::Styles;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

fuzz_target!(|text: &str| {
    let (path, query) = text.split_once('\0').map_or((text, None), |(p, q)| (p, Some(q)));
    let styles = Styles::from_toml("thumb = \"image/resize,w_100\"\n\"a.b-c_d\" = \"image/rotate,90\"\n").unwrap();
    match runtime().block_on(resolve(path, query, &styles)) {
        Ok(r) => {
            if let Some(p) = r.process {
                let _ = imgh_handler::process::parse(&p);
            }
        }
        Err(e) => assert!(e.status < 500, "{path:?} {query:?}: {e}"),
    }
});
