//! The per-process LDT: `modify_ldt` (x86-64 154, i386 123; Linux's arch/x86/kernel/ldt.c).
//!
//! A process (an "mm": its threads share it) has no LDT until its first write. Each write
//! builds a whole new table (the old entries, the new one, at least `entry + 1` entries),
//! publishes it, makes every CPU running a thread of the process load it (a call-function IPI
//! to the CPUs whose CR3 holds the process's root, and this CPU directly: Linux's
//! `install_ldt` → `flush_ldt`), and only then frees the old one. A table is never written
//! once published, so a CPU whose LDTR points at it reads a consistent table.
//!
//! Why no CPU can still use a freed table: the scheduler notes the root it loads
//! (`smp::tlb::note_root`, SeqCst) before it reads the process's table pointer, and a writer
//! stores the new pointer (SeqCst) before it reads those roots. Either the writer sees the
//! CPU (and waits for it to run the IPI, which it can only do once its switch, IRQs off, is
//! over: it then loads the new table), or the CPU reads the new pointer. A CPU that left the
//! process for a kernel thread keeps its LDTR as it was (dangling, unused: kernel code loads
//! no LDT selector); the next switch to a user task compares the table's base and size with
//! what this CPU loaded last and reloads when they differ, which is exactly when LDTR's cache
//! differs from what the task needs.
//!
//! fork (and vfork: a copy too, see docs/compat.md) copies the table; exec drops it; the
//! context switch loads it (`switch_mm_ldt`), and checks saved selectors that name it before
//! loading them (`selector_ok`), since kentry's selector loads have no fault fixup.

use crate::percpu::MAX_CPUS;
use crate::sync::Mutex;
use crate::syscall::errno::{EFAULT, EINVAL, ENOSYS};
use alloc::boxed::Box;
use alloc::vec;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kentry::Regs;
use kentry::gdt::{LDT_SEL, ldt_descriptor};

/// Test kernels (`kentry.break=ldt_fit`): the context switch loads a saved selector that
/// names an unusable LDT entry as it is, so the kernel's own load faults.
#[cfg(feature = "test-hooks")]
pub static BREAK_FIT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Test kernels (`kentry.break=ldt_ipi`): a write reloads this CPU only; other CPUs running the
/// process keep the old table (which is then leaked, not freed, so that the break shows the
/// missing reload and nothing worse).
#[cfg(feature = "test-hooks")]
pub static BREAK_IPI: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// LDT_ENTRIES: the most descriptors an LDT can hold (selector index is 13 bits).
pub const LDT_ENTRIES: usize = 8192;
/// LDT_ENTRY_SIZE.
const LDT_ENTRY_SIZE: usize = 8;

/// Linux's CONFIG_X86_16BIT: whether a 16-bit segment may be installed. An IRET to a 16-bit
/// stack segment restores only SP; kentry's exit path leaves from the CPU's espfix stack for
/// every LDT SS, so ESP bits 31:16 stay the user's (E16). Allowed once every online CPU has
/// its espfix stack (each sets it up before it runs user tasks; a host without espfix64 is
/// Linux built without CONFIG_X86_16BIT and answers -EINVAL).
fn allow_16bit_segments() -> bool {
    crate::mm::espfix::ready()
}

/// One published table: `entries.len()` descriptors, never written after publication.
pub struct LdtTable {
    entries: Box<[u64]>,
}

impl LdtTable {
    fn new(nr: usize, from: Option<&LdtTable>) -> Box<LdtTable> {
        let mut entries = vec![0u64; nr].into_boxed_slice();
        if let Some(old) = from {
            entries[..old.entries.len()].copy_from_slice(&old.entries);
        }
        Box::new(LdtTable { entries })
    }

    /// Base and entry count, as LDTR caches them.
    fn key(&self) -> (u64, u32) {
        (self.entries.as_ptr() as u64, self.entries.len() as u32)
    }
}

/// A process's LDT: the published table (null: none) and the writers' lock (Linux's
/// `ldt_usr_sem` and `context.lock` in one). Software readers (modify_ldt's read, fork's copy,
/// the selector checks of sigreturn and ptrace) take the lock too: a write frees the old
/// table while they could be reading it otherwise.
pub struct MmLdt {
    table: AtomicPtr<LdtTable>,
    lock: Mutex<()>,
}

impl Default for MmLdt {
    fn default() -> Self {
        Self::new()
    }
}

impl MmLdt {
    pub const fn new() -> Self {
        MmLdt {
            table: AtomicPtr::new(core::ptr::null_mut()),
            lock: Mutex::new(()),
        }
    }

    /// fork: this (a new process's, before any of its threads runs) becomes a copy of
    /// `from` (Linux's ldt_dup_context).
    pub fn inherit(&self, from: &MmLdt) {
        let _g = from.lock.lock();
        let cur = from.table.load(Ordering::Acquire);
        if cur.is_null() {
            return;
        }
        // SAFETY: published tables are freed only by a writer, which holds the lock.
        let t = unsafe { &*cur };
        let copy = Box::into_raw(LdtTable::new(t.entries.len(), Some(t)));
        let prev = self.table.swap(copy, Ordering::SeqCst);
        debug_assert!(prev.is_null(), "inherit into a process that has an LDT");
    }

    /// Whether a data-segment register may hold `sel` (TI = 1): the entry exists and is a
    /// present DPL-3 code/data descriptor that is data or readable code — what a `mov` to
    /// DS/ES/FS/GS checks. RPL must be 3 (the kernel stores only user selectors).
    pub fn selector_loadable(&self, sel: u16) -> bool {
        let _g = self.lock.lock();
        // SAFETY: the lock keeps the table from being freed.
        selector_ok(unsafe { self.table.load(Ordering::Acquire).as_ref() }, sel)
    }

    /// The base of the descriptor LDT selector `sel` names (0 when there is none): what a
    /// load of `sel` into FS or GS gives the segment's base.
    pub fn selector_base(&self, sel: u16) -> u64 {
        let _g = self.lock.lock();
        // SAFETY: the lock keeps the table from being freed.
        let table = unsafe { self.table.load(Ordering::Acquire).as_ref() };
        table
            .and_then(|t| t.entries.get((sel >> 3) as usize))
            .map_or(0, |&d| ((d >> 16) & 0xff_ffff) | (((d >> 56) & 0xff) << 24))
    }

    /// Replaces the table with `new` (null: none) on every CPU running `mm`'s threads, then
    /// frees the old one. The caller holds the lock.
    fn install(&self, mm: &crate::process::Process, root: u64, new: *mut LdtTable) {
        let old = self.table.swap(new, Ordering::SeqCst);
        let targets = crate::smp::tlb::cpus_with_root(root);
        // The process only by address (compared with each CPU's current one).
        let mm = mm as *const crate::process::Process as usize;
        let flush = || flush_ldt(mm as *const crate::process::Process);
        x86_64::instructions::interrupts::without_interrupts(flush);
        #[cfg(feature = "test-hooks")]
        if BREAK_IPI.load(Ordering::Relaxed) {
            return;
        }
        crate::smp::ipi::call_on_mask(targets, &flush);
        if !old.is_null() {
            // SAFETY: unpublished above; every CPU that could have read it has loaded `new`
            // (module comment); software readers hold the lock, which the caller holds.
            drop(unsafe { Box::from_raw(old) });
        }
    }

    /// exec's new mm starts without an LDT (Linux's destroy_context_ldt of the old mm). Call
    /// with the process's old root still in `cr3` and its other threads gone.
    pub fn drop_for_exec(&self, mm: &crate::process::Process) {
        let _g = self.lock.lock();
        if !self.table.load(Ordering::Acquire).is_null() {
            let root = mm.cr3.load(Ordering::Acquire);
            self.install(mm, root, core::ptr::null_mut());
        }
    }
}

impl Drop for MmLdt {
    fn drop(&mut self) {
        let t = *self.table.get_mut();
        if !t.is_null() {
            // SAFETY: the process is gone: no thread of it runs, and its switch-ins are over
            // (a CPU that last ran it may keep LDTR at it, unused, as the module comment says).
            drop(unsafe { Box::from_raw(t) });
        }
    }
}

/// Whether `sel` (an LDT selector) names a descriptor of `t` that DS/ES/FS/GS may load.
pub fn selector_ok(t: Option<&LdtTable>, sel: u16) -> bool {
    let Some(t) = t else { return false };
    let Some(&d) = t.entries.get((sel >> 3) as usize) else {
        return false;
    };
    descriptor_loadable(d) && sel & 3 == 3
}

/// A code/data descriptor (S), present, DPL 3, and data or readable code.
fn descriptor_loadable(d: u64) -> bool {
    let (s, p, dpl) = ((d >> 44) & 1, (d >> 47) & 1, (d >> 45) & 3);
    let (code, readable) = ((d >> 43) & 1, (d >> 41) & 1);
    s == 1 && p == 1 && dpl == 3 && (code == 0 || readable == 1)
}

/// What this CPU's LDTR holds (base, entries; (0, 0): null), written only by this CPU with
/// interrupts off.
static LOADED: [(AtomicU64, AtomicU32); MAX_CPUS] =
    [const { (AtomicU64::new(0), AtomicU32::new(0)) }; MAX_CPUS];

/// Loads `t` (None: no LDT) into this CPU's LDTR unless it holds it already; returns whether
/// it changed (selectors naming the LDT must then be loaded again). Interrupts off.
fn load_table(t: Option<&LdtTable>) -> bool {
    let cpu = crate::smp::this_cpu_id();
    let (base, nr) = t.map_or((0, 0), LdtTable::key);
    let slot = &LOADED[cpu];
    if slot.0.load(Ordering::Relaxed) == base && slot.1.load(Ordering::Relaxed) == nr {
        return false;
    }
    let tables = crate::percpu::this_cpu().tables.get();
    let e = (LDT_SEL >> 3) as usize;
    // SAFETY: this CPU's own GDT, interrupts off (nothing else writes it); the LDT
    // descriptor is read by the CPU only at `lldt`, which follows the write. A null LDTR makes
    // every LDT reference #GP (E17).
    unsafe {
        let gdt = &mut (*tables).gdt;
        if nr == 0 {
            gdt[e] = 0;
            gdt[e + 1] = 0;
            core::arch::asm!("lldt {0:x}", in(reg) 0u16, options(nostack, preserves_flags));
        } else {
            let [lo, hi] = ldt_descriptor(base, nr);
            gdt[e] = lo;
            gdt[e + 1] = hi;
            core::arch::asm!("lldt {0:x}", in(reg) LDT_SEL, options(nostack, preserves_flags));
        }
    }
    slot.0.store(base, Ordering::Relaxed);
    slot.1.store(nr, Ordering::Relaxed);
    true
}

/// The context switch, to a user task of process `p` (interrupts off, CR3 and the root noted
/// already): loads its LDT if this CPU holds another (Linux's switch_ldt). Returns the table
/// the task's saved selectors must be checked against, and whether LDTR changed.
///
/// # Safety
/// Interrupts off; `smp::tlb::note_root` was called for `p`'s root before (the module
/// comment's ordering); the returned reference is used only until interrupts are enabled.
pub unsafe fn switch_mm_ldt(p: &crate::process::Process) -> (Option<&'static LdtTable>, bool) {
    // SAFETY: per the caller, a writer that frees this table waits for this CPU's IPI first.
    let t = unsafe { p.ldt.table.load(Ordering::SeqCst).as_ref() };
    (t, load_table(t))
}

/// The IPI of a write (and its local call): a CPU running `mm` loads its new table, and DS
/// and ES that name the LDT are loaded again so their cached descriptors follow it (Linux's
/// refresh_ldt_segments; one no longer loadable becomes null, as Linux's fixup leaves it).
/// FS and GS are left as they are, as on Linux: their bases are the task's, and the next
/// switch checks them.
fn flush_ldt(mm: *const crate::process::Process) {
    let cur = super::current();
    if !cur.is_user() || !core::ptr::eq(alloc::sync::Arc::as_ptr(&cur.process), mm) {
        return;
    }
    // SAFETY: interrupts off (IPI handler, or the writer's without_interrupts); this CPU runs
    // `mm`, whose root it noted, and the writer holds the lock while the table is used here.
    let t = unsafe { cur.process.ldt.table.load(Ordering::SeqCst).as_ref() };
    load_table(t);
    let live = super::segments::Selectors::read();
    let mut s = live;
    for v in s.0[..2].iter_mut() {
        if *v & 4 != 0 && !selector_ok(t, *v) {
            *v = 0;
        }
    }
    let [ds, es, _, _] = s.0;
    // SAFETY: each is null or a loadable LDT/GDT selector of the table just loaded (checked
    // above; a GDT one was loaded before and the GDT's user entries do not change here).
    unsafe {
        core::arch::asm!("mov ds, {0:x}", "mov es, {1:x}", in(reg) ds, in(reg) es,
            options(nostack, preserves_flags))
    };
}

/// Linux's read_ldt: up to `bytecount` bytes of the table (at most LDT_ENTRIES entries), the
/// rest of `bytecount` zero-filled; 0 without an LDT. The copy to the user runs after the
/// lock is dropped (it may fault, and the fault may sleep).
fn read_ldt(ldt: &MmLdt, ptr: u64, bytecount: u64) -> i64 {
    let bytecount = bytecount.min((LDT_ENTRY_SIZE * LDT_ENTRIES) as u64) as usize;
    let buf = {
        let _g = ldt.lock.lock();
        // SAFETY: the lock keeps the table alive.
        let Some(t) = (unsafe { ldt.table.load(Ordering::Acquire).as_ref() }) else {
            return 0;
        };
        let mut buf = vec![0u8; bytecount];
        for (i, d) in t.entries.iter().enumerate() {
            let at = i * LDT_ENTRY_SIZE;
            if at >= bytecount {
                break;
            }
            let n = LDT_ENTRY_SIZE.min(bytecount - at);
            buf[at..at + n].copy_from_slice(&d.to_le_bytes()[..n]);
        }
        buf
    };
    match crate::uaccess::copy_to_user(ptr, &buf) {
        Ok(()) => bytecount as i64,
        Err(_) => -EFAULT,
    }
}

/// Linux's read_default_ldt on x86-64: up to 128 zero bytes.
fn read_default_ldt(ptr: u64, bytecount: u64) -> i64 {
    let n = bytecount.min(128) as usize;
    match crate::uaccess::copy_to_user(ptr, &[0u8; 128][..n]) {
        Ok(()) => n as i64,
        Err(_) => -EFAULT,
    }
}

/// The descriptor a write installs at its entry, or the errno (Linux's write_ldt checks, in
/// its order): Ok(0) clears the entry.
fn checked_descriptor(info: &super::tls::UserDesc, oldmode: bool) -> Result<u64, i64> {
    if info.entry_number as usize >= LDT_ENTRIES {
        return Err(-EINVAL);
    }
    if info.contents() == 3 && (oldmode || info.seg_not_present() == 0) {
        return Err(-EINVAL);
    }
    if (oldmode && info.base_addr == 0 && info.limit == 0) || info.is_ldt_empty() {
        return Ok(0);
    }
    if info.seg_32bit() == 0 && !allow_16bit_segments() {
        return Err(-EINVAL);
    }
    let mut d = info.fill_ldt();
    if oldmode {
        d &= !(1 << 52); // AVL: the old interface cannot set `useable`
    }
    Ok(d)
}

/// Linux's write_ldt: one entry of a new table (old mode: func 1; new mode: 0x11).
fn write_ldt(ptr: u64, bytecount: u64, oldmode: bool) -> i64 {
    if bytecount != 16 {
        return -EINVAL;
    }
    let mut raw = [0u8; 16];
    if crate::uaccess::copy_from_user(&mut raw, ptr).is_err() {
        return -EFAULT;
    }
    let info = super::tls::UserDesc::from_bytes(&raw);
    let desc = match checked_descriptor(&info, oldmode) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let me = super::current();
    let p = &me.process;
    let ldt = &p.ldt;
    let _g = ldt.lock.lock();
    // SAFETY: the lock keeps the table alive while it is copied.
    let old = unsafe { ldt.table.load(Ordering::Acquire).as_ref() };
    let nr = (info.entry_number as usize + 1).max(old.map_or(0, |t| t.entries.len()));
    let mut new = LdtTable::new(nr, old);
    new.entries[info.entry_number as usize] = desc;
    let root = p.cr3.load(Ordering::Acquire);
    ldt.install(p, root, Box::into_raw(new));
    0
}

/// modify_ldt(func, ptr, bytecount). Its result is an `int` returned zero-extended, as
/// Linux's `(unsigned int)ret`: a 64-bit caller sees -EINVAL as 0xffffffea in RAX.
pub fn sys_modify_ldt(regs: &mut Regs) -> i64 {
    let (func, ptr, bytecount) = (regs.rdi as i32, regs.rsi, regs.rdx);
    let ret = match func {
        0 => read_ldt(&super::current().process.ldt, ptr, bytecount),
        1 => write_ldt(ptr, bytecount, true),
        2 => read_default_ldt(ptr, bytecount),
        0x11 => write_ldt(ptr, bytecount, false),
        _ => -ENOSYS,
    };
    ret as i32 as u32 as i64
}
