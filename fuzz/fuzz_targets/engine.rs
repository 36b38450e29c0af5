//! The whole engine on a random image and a random action chain, under limits scaled down
//! (1 024 px sides, 4 MP, 64 MB) so that one input stays well under a second even with
//! AddressSanitizer; the default limits allow legitimate work of many seconds.
//! Input: a process text, a NUL, then the image bytes.
#![no_main]
use imgh_handler::{engine, guard::Limits, process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else { return };
    let Ok(text) = std::str::from_utf8(&data[..split]) else { return };
    let Ok(plan) = process::parse(&format!("image/{text}")) else { return };
    let limits = Limits {
        max_image_bytes: 64 << 20,
        max_output_side: 1024,
        max_side: 4096,
        max_pixels: 4_000_000,
        ..Limits::default()
    };
    let mark = &data[split + 1..];
    let assets = |_: &str| Some(mark);
    if let Err(e) = engine::process(&data[split + 1..], &plan, &limits, &assets) {
        assert!(e.status < 500 || e.status == 503, "{text}: {e}");
    }
});
