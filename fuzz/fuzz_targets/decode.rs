//! Every decoder through the engine: the header probe, then a decode at a shrink-on-load
//! scale and at full size. Any bytes are an image or a 4xx, never a panic or a 5xx.
#![no_main]
use imgh_handler::{engine, guard::Limits, process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_image_bytes: 256 << 20, ..Limits::default() };
    for text in ["image/resize,w_16", "image/format,png"] {
        let actions = process::parse(text).unwrap();
        if let Err(e) = engine::process(data, &actions, &limits, &|_| None) {
            assert!(e.status < 500, "{text}: {e}");
        }
    }
});
