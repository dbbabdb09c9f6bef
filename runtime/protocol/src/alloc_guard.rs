//! A global allocator that makes huge allocations lazily, so a malicious
//! request cannot abort the process with one.
//!
//! `kafka-protocol` (0.18) decodes an array by first reserving capacity
//! for the element count written in the frame, before it checks that the
//! frame holds that many elements. A 14-byte Metadata request that claims
//! two billion topics asks for a 150 GB reservation; the system allocator
//! refuses it and Rust aborts the process, taking every connection with it.
//! The frame size limit cannot prevent this.
//!
//! This allocator serves allocations of 1 GiB and more with an anonymous
//! `MAP_NORESERVE` mapping: the reservation succeeds without committing
//! memory, the decoder then fails on the missing bytes as it should, the
//! connection is closed, and the untouched mapping is released. Pages are
//! only backed once written, so a legitimate large buffer behaves as
//! usual. Everything smaller goes to the system allocator unchanged.
//!
//! Binaries (and test binaries that feed hostile frames to the decoder)
//! install it with `#[global_allocator]`.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at or above this size are mapped lazily.
pub const LAZY_THRESHOLD_BYTES: usize = 1 << 30;
const PAGE_BYTES: usize = 4096;

/// See the module documentation.
pub struct LazyHugeAlloc;

fn is_lazy(layout: &Layout) -> bool {
    layout.size() >= LAZY_THRESHOLD_BYTES && layout.align() <= PAGE_BYTES
}

// SAFETY: every block is either the system allocator's (and returned to it)
// or a fresh anonymous mapping of at least `layout.size()` bytes, page
// aligned, unmapped with the same size it was mapped with.
unsafe impl GlobalAlloc for LazyHugeAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_lazy(&layout) {
            return unsafe { System.alloc(layout) };
        }
        let mapped = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            mapped.cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_lazy(&layout) {
            // Fresh anonymous mappings are already zero.
            unsafe { self.alloc(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_lazy(&layout) {
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !is_lazy(&layout) && !is_lazy(&new_layout) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let new_ptr = unsafe { self.alloc(new_layout) };
        if !new_ptr.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new_ptr
    }
}
