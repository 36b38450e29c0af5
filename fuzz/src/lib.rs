//! What the fuzz targets share: the limits they run under and the decoder harness each
//! format's target calls.

use imgh_handler::codec::Format;
use imgh_handler::{engine, guard::Limits, process};

/// The default limits scaled down (4 096 px sides, 1 MP, 64 MB, 1 024 px outputs) so that
/// one input stays well under libFuzzer's one-second timeout with AddressSanitizer; the
/// defaults allow legitimate work of many seconds.
pub fn limits() -> Limits {
    Limits {
        max_image_bytes: 64 << 20,
        max_side: 4096,
        max_pixels: 1_000_000,
        max_output_side: 1024,
        ..Limits::default()
    }
}

/// One decoder through the engine: the header probe (`info`), a decode at a shrink-on-load
/// scale (`resize`) and a full-size decode (`crop`). Inputs another decoder would read are
/// skipped, so each format's target spends its executions on its own decoder. Any bytes
/// are an image or a 4xx, never a panic or a 5xx.
pub fn decode(format: Format, data: &[u8]) {
    if Format::sniff(data) != Some(format) {
        return;
    }
    for text in ["image/info", "image/resize,w_16", "image/crop,w_8,h_8"] {
        let plan = process::parse(text).unwrap();
        if let Err(e) = engine::process(data, &plan, &limits(), &|_| None) {
            assert!(e.status < 500, "{text}: {e}");
        }
    }
}
