//! The allocator settings the handler starts with (`alloc::configure`), checked by their
//! effect on this process. Its own test binary: a test running beside it could reuse the
//! pages it frees.
#![cfg(all(target_os = "linux", feature = "malloc-override"))]

use imgh_handler::alloc;

/// `LazyFree` of this process, in bytes: pages given back with `MADV_FREE`, which the
/// kernel takes only when it needs memory.
fn lazy_free() -> u64 {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
    let line = rollup.lines().find(|l| l.starts_with("LazyFree:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn c_memory_comes_from_mimalloc_and_goes_back_lazily_after_the_last_job() {
    alloc::configure();
    let before = lazy_free();
    let job = alloc::Job::start();
    // SAFETY: allocated, written and freed here, as a C codec does through `malloc`.
    unsafe {
        // black_box: else the compiler drops a malloc that is only written and freed.
        let p = std::hint::black_box(libc::malloc(64 << 20).cast::<u8>());
        assert!(libmimalloc_sys::mi_is_in_heap_region(p.cast()), "malloc is not mimalloc's");
        std::ptr::write_bytes(p, 1, 64 << 20);
        libc::free(p.cast());
    }
    // The last job ends outside an async runtime: the release happens at once.
    drop(job);
    assert!(lazy_free() >= before + (60 << 20), "LazyFree {before} → {}", lazy_free());
}
