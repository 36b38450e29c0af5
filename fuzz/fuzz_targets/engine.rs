//! The whole engine on a random image and a random action chain, under `imgh_fuzz::limits`.
//! Input: a process text, a NUL, then the image bytes (also the watermark image).
#![no_main]
use imgh_handler::{engine, process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    imgh_fuzz::configure();
    let Some(split) = data.iter().position(|&b| b == 0) else { return };
    let Ok(text) = std::str::from_utf8(&data[..split]) else { return };
    let Ok(plan) = process::parse(&format!("image/{text}")) else { return };
    let image = &data[split + 1..];
    let assets = |_: &str| Some(image);
    if let Err(e) = engine::process(image, &plan, &imgh_fuzz::limits(), &assets) {
        assert!(e.status < 500 || e.status == 503, "{text}: {e}");
    }
});
