//! Activation buffers reused across batches on each thread.
//!
//! At hidden 64 a batch's activations are several megabytes. Fresh allocations of that size
//! are mmapped, so every batch would page-fault them in and the kernel would zero them;
//! reused buffers cost neither, and their stale contents are never read (every user
//! overwrites what it takes before reading it).

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers kept per thread; more than a forward and a backward pass hold at once.
const KEEP: usize = 16;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// `len` floats of arbitrary contents, handed back to the pool when dropped.
pub(super) struct Buf {
    data: Vec<f32>,
    len: usize,
}

/// A buffer of `len` elements whose contents the caller overwrites before reading.
pub(super) fn take(len: usize) -> Buf {
    // The smallest pooled buffer that is big enough, else the biggest (grown below).
    let mut data = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let fits = (0..p.len())
            .filter(|&i| p[i].len() >= len)
            .min_by_key(|&i| p[i].len());
        let pick = fits.or_else(|| (0..p.len()).max_by_key(|&i| p[i].len()));
        pick.map(|i| p.swap_remove(i)).unwrap_or_default()
    });
    // Pooled vectors keep their full length, so only growth is ever zero-filled.
    if data.len() < len {
        data.resize(len, 0.0);
    }
    Buf { data, len }
}

impl Deref for Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.data[..self.len]
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.data[..self.len]
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return;
        }
        // A panicking thread may be tearing its locals down: then the buffer is just freed.
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < KEEP {
                p.push(data);
            }
        });
    }
}
