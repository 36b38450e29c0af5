//! Giving memory back after a burst. Image buffers are large and short-lived, and both
//! allocators keep freed memory for reuse: mimalloc (Rust code) in the heap of the thread
//! that freed it, glibc's malloc (the C codecs, when not built for musl) below a threshold
//! that grows with every large block freed. Without this, a handler stayed near its peak
//! (~650 MB here) long after a burst of large images ended.

/// How long an idle blocking thread lives. Blocks an image job allocated and another thread
/// freed (a response body, sent by the async side) wait in the heap of the thread that made
/// them until it runs again or exits; a short life bounds that wait (tokio's default: 10 s).
pub const IDLE_THREAD_LIFETIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Call once at start, before any image work.
///
/// Transparent huge pages are turned off for the process. mimalloc asks for them on its
/// 1 GiB arena (`MADV_HUGEPAGE`), and khugepaged then gathers partly used 2 MB ranges
/// back into huge pages while the server sits idle: after two minutes of `bench/soak.sh`,
/// RSS rose from 80 to 99 MB over 30 idle seconds; without, it settles at 35 MB (27 MB
/// idle before the load). And glibc serves large blocks from mmap at a fixed threshold, so
/// they go back to the system when freed.
pub fn configure() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process's memory map.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; called before any image work.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * 1024);
    }
}

/// Call on a worker thread after an image job: returns this thread's free mimalloc pages
/// to the system (a few hundred microseconds, beside tens of milliseconds of image work).
pub fn release() {
    // SAFETY: mi_collect only walks and trims the calling thread's own heap.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
