//! What the fuzz targets share: the limits they run under and the decoder harness each
//! format's target calls.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Once;

use imgh_handler::codec::Format;
use imgh_handler::{engine, guard::Limits, process};

/// The largest single allocation a target may make (run.sh's `-malloc_limit_mb`).
const MAX_ALLOCATION: usize = 512 << 20;

/// The allocator under the cap: the product's (mimalloc, for the C codecs' malloc too) in a
/// build without a sanitizer, so that memory behaves as it does when deployed; the
/// system's under AddressSanitizer, which sees the heap only through malloc.
#[cfg(feature = "mimalloc")]
use mimalloc::MiMalloc as Inner;
#[cfg(not(feature = "mimalloc"))]
use std::alloc::System as Inner;

/// Refuses any Rust allocation over [`MAX_ALLOCATION`] by aborting, which libFuzzer reports
/// as a crash with its input. libFuzzer sees allocations only through a sanitizer's hooks;
/// this keeps the limit in a build without one.
struct Capped;

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        Inner.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        Inner.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        Inner.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Inner.dealloc(ptr, layout)
    }
}

fn check(size: usize) {
    if size > MAX_ALLOCATION {
        // No formatting here: it would allocate inside the allocator.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), b"allocation over the fuzz limit\n");
        std::process::abort();
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;

/// The allocator settings the handler makes at start (`alloc::configure`: mimalloc's purge
/// settings, transparent huge pages off), so that a target's memory behaves as the
/// handler's. (The ~200 KB of RSS a decode_avif execution once added came from glibc
/// serving Rust's allocations, with or without these settings; mimalloc above ends it.)
pub fn configure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(imgh_handler::alloc::configure);
}

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
    configure();
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
