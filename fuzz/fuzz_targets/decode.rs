//! Every decoder through the engine: the header probe, then a decode at a shrink-on-load
//! scale and at full size. Any bytes are an image or a 4xx, never a panic or a 5xx. The
//! limits are scaled down (4 096 px sides, 4 MP) so that one input stays under a second
//! with AddressSanitizer.
#![no_main]
use imgh_handler::{engine, guard::Limits, process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_image_bytes: 64 << 20, max_side: 4096, max_pixels: 4_000_000, ..Limits::default() };
    for text in ["image/resize,w_16", "image/format,png"] {
        let plan = process::parse(text).unwrap();
        if let Err(e) = engine::process(data, &plan, &limits, &|_| None) {
            assert!(e.status < 500, "{text}: {e}");
        }
    }
});
