//! Training allocates and frees the same few tensor sizes at every batch (candle's optimiser
//! step makes new tensors for each weight's moments, and the layer's output and gradients are
//! fresh `Vec`s). With glibc's default malloc settings much of that memory went back to the
//! kernel between batches (heap trimming, and large blocks served by `mmap`), so each batch
//! page-faulted and zeroed it again: about 10% of the cycles at hidden 64 went to page
//! faults and `brk`. Keeping freed memory in the heap avoids that; it changes no result.

use std::sync::Once;

/// Freed memory below this stays in the heap rather than returning to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 256 << 20;
/// Blocks up to this size come from the heap, not from their own `mmap`. Set explicitly
/// because fixing the trim threshold also stops glibc from raising its default (128 KiB)
/// as blocks are freed, which would put every block of a large model's weights in an
/// `mmap` of its own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Sets the process's malloc to keep freed memory (once; glibc on Linux only, elsewhere a
/// no-op). What is kept was used by training before, but each worker thread's heap keeps its
/// own, so peak memory grows a little: the default sweep's from 25 to 31 MB.
pub(crate) fn keep_freed_memory() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes malloc's parameters; it is called once, before this
        // module's allocations, and glibc serialises it against other threads' allocations.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        };
    });
}
