//! What backs a mapping's pages (private anonymous memory, a privately mapped file, shared
//! anonymous memory), the shared zero page and the reference counts of user frames.

use crate::mm::frame::{self, page_ref};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use kentry_kernel_logic::vma::MapBacking;

/// The page-table entry for a page of a mapping (host-tested in kentry-kernel-logic).
pub(super) use kentry_kernel_logic::prot::pte_for;

/// The shared zero page (mapped read-only for reads of fresh anonymous pages).
pub(super) static ZERO_PAGE: AtomicU64 = AtomicU64::new(0);

#[inline]
pub(super) fn zero_page() -> u64 {
    ZERO_PAGE.load(Ordering::Relaxed)
}

/// Takes a reference to a user frame.
#[inline]
pub(super) fn page_get(pa: u64) {
    if pa != zero_page() {
        page_ref(pa).fetch_add(1, Ordering::Relaxed);
    }
}

/// Drops a reference to a user frame; the last one frees it.
#[inline]
pub(super) fn page_put(pa: u64) {
    if pa != zero_page() && page_ref(pa).fetch_sub(1, Ordering::AcqRel) == 1 {
        frame::free_frame(pa);
    }
}

/// A fresh private frame (reference count 1), zeroed.
#[inline]
pub(super) fn new_zeroed_page() -> Option<u64> {
    let f = frame::alloc_frame_fast_zero()?;
    page_ref(f).store(1, Ordering::Relaxed);
    Some(f)
}

/// A zeroed user page with one reference, for
/// [`AddressSpace::install_pages`](super::AddressSpace::install_pages).
pub fn alloc_user_page() -> Option<u64> {
    new_zeroed_page()
}

/// Drops a reference to a user page (from [`alloc_user_page`]).
pub fn put_user_page(pa: u64) {
    page_put(pa)
}

/// A file mapped privately (the executable's segments, mmap of a file). The pages of a
/// regular file are read from it when first touched (demand paging: `source`), so a large
/// program or mapped file costs only the pages it uses, and a page dropped later
/// (MADV_DONTNEED) is read again. Unlike Linux, whose private mapping shows the page cache
/// until the first write, a page is a copy from its first touch on: a later write(2) to the
/// file does not show in a page already touched. Other readable files (no `source`) are
/// copied when mapped, and a page of those dropped later comes back zeroed.
pub struct MappedFile {
    /// The path shown in /proc/self/maps.
    pub path: String,
    /// Device (major, minor) and inode shown in /proc/self/maps.
    pub dev: (u32, u32),
    pub ino: u64,
    /// Where a first touch reads a page from (kept alive by the mapping, as Linux's mapping
    /// holds its file); None: the pages were filled when mapped.
    pub source: Option<crate::fs::InodeRef>,
}

impl MappedFile {
    /// A file named `path`, on device `dev` (st_dev encoding) with inode `ino`, whose pages
    /// the caller fills.
    pub fn new(path: &str, dev: u64, ino: u64) -> Arc<MappedFile> {
        Arc::new(MappedFile {
            path: String::from(path),
            dev: dev_pair(dev),
            ino,
            source: None,
        })
    }

    /// Regular file `node`, named `path`, read page by page as it is touched.
    pub fn demand_paged(path: &str, node: crate::fs::InodeRef) -> Arc<MappedFile> {
        let st = crate::fs::stat_node(&node);
        Arc::new(MappedFile {
            path: String::from(path),
            dev: dev_pair(st.dev),
            ino: st.ino,
            source: Some(node),
        })
    }

    /// Reads up to `buf.len()` bytes at `off` from the source; the count (0 without one).
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> usize {
        self.source
            .as_ref()
            .map_or(0, |n| crate::fs::node_read_at(n, off, buf))
    }

    /// The source's size now (0 without one).
    pub fn len(&self) -> u64 {
        self.source.as_ref().map_or(0, crate::fs::node_len)
    }
}

/// (major, minor) of an st_dev value (Linux's new_decode_dev).
pub fn dev_pair(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Shared memory: its pages by index, shared by every mapping of it in every process (fork
/// keeps sharing it). Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS), or a memfd's pages
/// (fs/memfd.rs), which its read and write use too.
pub struct SharedMem {
    pages: crate::sync::Mutex<BTreeMap<u64, u64>>,
    pub ino: u64,
    /// The name /proc/PID/maps shows (None: "/dev/zero (deleted)", anonymous memory).
    pub name: Option<String>,
}

static SHMEM_INO: AtomicU64 = AtomicU64::new(1000);

impl SharedMem {
    pub fn new() -> Arc<SharedMem> {
        Arc::new(SharedMem {
            pages: crate::sync::Mutex::new(BTreeMap::new()),
            ino: SHMEM_INO.fetch_add(1, Ordering::Relaxed),
            name: None,
        })
    }

    /// The pages of a file (a memfd) named `name` in /proc/PID/maps, with inode `ino`.
    pub fn new_file(name: String, ino: u64) -> Arc<SharedMem> {
        Arc::new(SharedMem {
            pages: crate::sync::Mutex::new(BTreeMap::new()),
            ino,
            name: Some(name),
        })
    }

    /// The frame of page `index` if it has one (the object keeps its reference).
    pub fn lookup(&self, index: u64) -> Option<u64> {
        self.pages.lock().get(&index).copied()
    }

    /// The frame of page `index`, allocated zeroed on first use. The object keeps one
    /// reference; the caller gets none.
    pub fn page(&self, index: u64) -> Option<u64> {
        let mut p = self.pages.lock();
        if let Some(&pa) = p.get(&index) {
            return Some(pa);
        }
        let pa = new_zeroed_page()?;
        p.insert(index, pa);
        Some(pa)
    }

    pub(super) fn has_page(&self, index: u64) -> bool {
        self.pages.lock().contains_key(&index)
    }

    /// MADV_REMOVE, a memfd's truncation: lets go of pages [first, last). A mapping still
    /// naming one keeps its own reference to the frame.
    pub fn remove(&self, first: u64, last: u64) {
        let mut p = self.pages.lock();
        let gone: Vec<u64> = p.range(first..last).map(|(&k, _)| k).collect();
        for k in gone {
            if let Some(pa) = p.remove(&k) {
                page_put(pa);
            }
        }
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        for &pa in self.pages.get_mut().values() {
            page_put(pa);
        }
    }
}

/// What backs a mapping's pages.
#[derive(Clone)]
pub enum Backing {
    /// Private anonymous memory: zero-filled on first touch.
    Anon,
    /// A private copy of a file's bytes; bytes at file offsets from `limit` on read as zero
    /// (the end of an ELF segment's file part, or of the file).
    File { file: Arc<MappedFile>, limit: u64 },
    /// Shared anonymous memory.
    Shared(Arc<SharedMem>),
    /// The kernel's own pages: the vDSO and its vvar page (Linux's special mappings).
    Special(SpecialMapping),
}

/// A mapping of kernel pages every process shares read-only (`crate::vdso`). Like Linux's
/// `vm_special_mapping`s it cannot be split: munmap, mprotect and mremap take it whole.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SpecialMapping {
    /// `[vvar]`: the clock data the vDSO reads; read-only for good (no PROT_WRITE/PROT_EXEC).
    Vvar,
    /// `[vdso]`: the vDSO image; a write (after mprotect) gets a private copy.
    Vdso,
    /// `[vdso]` of an i386 process: the 32-bit image, with the same rules.
    Vdso32,
}

impl SpecialMapping {
    /// The name /proc/self/maps shows.
    pub fn name(self) -> &'static str {
        match self {
            SpecialMapping::Vvar => "[vvar]",
            SpecialMapping::Vdso | SpecialMapping::Vdso32 => "[vdso]",
        }
    }

    /// The frame of page `index` (no reference taken: the frames are permanent).
    pub fn page(self, index: u64) -> Option<u64> {
        let which = match self {
            SpecialMapping::Vvar => crate::vdso::Pages::Vvar,
            SpecialMapping::Vdso => crate::vdso::Pages::Image,
            SpecialMapping::Vdso32 => crate::vdso::Pages::Image32,
        };
        crate::vdso::page(which, index)
    }
}

impl MapBacking for Backing {
    #[inline]
    fn anon() -> Self {
        Backing::Anon
    }

    #[inline]
    fn is_anon(&self) -> bool {
        matches!(self, Backing::Anon)
    }

    #[inline]
    fn is_shared(&self) -> bool {
        matches!(self, Backing::Shared(_))
    }

    /// The same file (with the same zero-fill limit), or the same shared object.
    fn same_object(&self, other: &Self) -> bool {
        match (self, other) {
            (Backing::File { file: a, limit: la }, Backing::File { file: b, limit: lb }) => {
                Arc::ptr_eq(a, b) && la == lb
            }
            (Backing::Shared(a), Backing::Shared(b)) => Arc::ptr_eq(a, b),
            (Backing::Special(a), Backing::Special(b)) => a == b,
            _ => false,
        }
    }
}
