//! One allocator for everything, and memory given back when the work stops. Image buffers
//! are large and short-lived. mimalloc serves the Rust code and, through its `malloc`
//! override, the C codecs too: libc's allocators hand blocks that large to `mmap` and
//! back to `munmap` on free (musl always, glibc above a threshold), so each request
//! faulted its working set in again, ~8 000 pages. Now ~140 are faulted a request, and
//! `bench/http.sh` serves 45 req/s where it served 33 on the same two cores (CHANGELOG).
//! Freed memory goes back to the system once no image job has run for [`RELEASE_AFTER`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long an idle blocking thread lives. Blocks an image job allocated and another thread
/// freed (a response body, sent by the async side) wait in the heap of the thread that made
/// them until it runs again or exits; a short life bounds that wait (tokio's default: 10 s).
pub const IDLE_THREAD_LIFETIME: Duration = Duration::from_secs(2);

/// How long the handler keeps freed image memory once the last image job has ended. Under
/// load, the next job reuses it warm; after a burst it goes back to the system.
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// mimalloc 3's option numbers (`mi_option_e` in its `mimalloc.h`; libmimalloc-sys names
/// only a few). `tests/alloc.rs` checks their effect, not just the numbers.
const PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Call once at start, before any image work.
///
/// Free pages are purged with `MADV_FREE` rather than `MADV_DONTNEED`, 10 ms after they are
/// freed: the kernel takes them back only when it needs the memory, so the next job
/// mostly reuses them without a page fault (with `MADV_DONTNEED` each request faulted
/// ~1 400 pages in again, and with a longer delay RSS held up to 520 MB of freed memory
/// the kernel could not take). Until taken they count in RSS, as `LazyFree` in
/// `/proc/PID/smaps_rollup`.
///
/// Transparent huge pages are turned off for the process. mimalloc asks for them on its
/// 1 GiB arena (`MADV_HUGEPAGE`), and khugepaged then gathers partly used 2 MB ranges
/// back into huge pages while the server sits idle: after two minutes of `bench/soak.sh`,
/// RSS rose from 80 to 99 MB over 30 idle seconds; without, it settles at 35 MB (27 MB
/// idle before the load).
pub fn configure() {
    // SAFETY: mi_option_set only stores an option value.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DECOMMITS, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 10);
    }
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process's memory map.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Image jobs running now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Image jobs started so far: a release waits for this to stand still.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// An image job in progress. When the last one running ends and none starts within
/// [`RELEASE_AFTER`], the process's free memory goes back to the system.
pub struct Job(());

impl Job {
    pub fn start() -> Self {
        STARTED.fetch_add(1, Ordering::AcqRel);
        RUNNING.fetch_add(1, Ordering::AcqRel);
        Self(())
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if RUNNING.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return release() };
        let started = STARTED.load(Ordering::Acquire);
        runtime.spawn(async move {
            tokio::time::sleep(RELEASE_AFTER).await;
            if RUNNING.load(Ordering::Acquire) == 0 && STARTED.load(Ordering::Acquire) == started {
                let _ = tokio::task::spawn_blocking(release).await;
            }
        });
    }
}

/// Purges the free pages of every mimalloc arena (a few hundred microseconds), and this
/// thread's empty pages.
fn release() {
    // SAFETY: mi_collect walks this thread's heap and the arenas, under mimalloc's own locks.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
