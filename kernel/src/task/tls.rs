//! The three per-task TLS descriptors of the GDT (entries 12–14, selectors 0x63, 0x6b,
//! 0x73): `set_thread_area` (Linux's arch/x86/kernel/tls.c). An i386 glibc puts its thread
//! pointer there and reaches it through %gs; a 64-bit program may use them too.
//!
//! Each task keeps its three descriptors (`TaskInner::tls`); the context switch writes the
//! incoming task's into the CPU's GDT before loading its selectors (`load_tls`), so a task
//! never sees another's segment. exec clears them; fork and clone copy them.

use crate::syscall::errno::{EFAULT, EINVAL, ESRCH};
use kentry::Regs;
use kentry::gdt::TLS_FIRST_ENTRY;

/// Test kernels (`kentry.break=tls_fit`): the context switch loads a saved selector that
/// names an empty TLS slot as it is, so the kernel's own load faults.
#[cfg(feature = "test-hooks")]
pub static BREAK_FIT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// GDT_ENTRY_TLS_ENTRIES.
pub const TLS_ENTRIES: usize = 3;

/// Linux's `struct user_desc` (the same 16 bytes for i386 and x86-64); also modify_ldt's
/// (task/ldt.rs).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct UserDesc {
    pub(super) entry_number: u32,
    pub(super) base_addr: u32,
    pub(super) limit: u32,
    /// seg_32bit:1, contents:2, read_exec_only:1, limit_in_pages:1, seg_not_present:1,
    /// useable:1, lm:1.
    flags: u32,
}

impl UserDesc {
    pub(super) fn from_bytes(b: &[u8; 16]) -> Self {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        UserDesc {
            entry_number: w(0),
            base_addr: w(4),
            limit: w(8),
            flags: w(12),
        }
    }
    pub(super) fn seg_32bit(&self) -> u64 {
        (self.flags & 1) as u64
    }
    pub(super) fn contents(&self) -> u64 {
        ((self.flags >> 1) & 3) as u64
    }
    pub(super) fn read_exec_only(&self) -> u64 {
        ((self.flags >> 3) & 1) as u64
    }
    pub(super) fn limit_in_pages(&self) -> u64 {
        ((self.flags >> 4) & 1) as u64
    }
    pub(super) fn seg_not_present(&self) -> u64 {
        ((self.flags >> 5) & 1) as u64
    }
    pub(super) fn useable(&self) -> u64 {
        ((self.flags >> 6) & 1) as u64
    }
    /// Linux's LDT_empty (the documented "no segment") or LDT_zero (all zero but the entry
    /// number, which programs use for the same): both clear the slot.
    fn clears(&self) -> bool {
        let f = self.flags & 0x7f;
        self.base_addr == 0 && self.limit == 0 && (f == 0 || f == (1 << 3 | 1 << 5))
    }
    /// Linux's tls_desc_okay: only present 32-bit data segments (a 16-bit one would need
    /// espfix; a code segment or a not-present one is refused as attack surface).
    fn okay(&self) -> bool {
        self.clears()
            || (self.seg_32bit() == 1 && self.contents() <= 1 && self.seg_not_present() == 0)
    }
    /// Linux's LDT_empty: base and limit 0, read_exec_only and seg_not_present set, every
    /// other flag clear (lm is ignored: an i386 caller's structure has no such bit).
    pub(super) fn is_ldt_empty(&self) -> bool {
        self.base_addr == 0 && self.limit == 0 && self.flags & 0x7f == (1 << 3 | 1 << 5)
    }

    /// The descriptor of a TLS slot: none for a clearing request, else [`Self::fill_ldt`].
    fn descriptor(&self) -> u64 {
        if self.clears() {
            return 0;
        }
        self.fill_ldt()
    }

    /// Linux's fill_ldt: the descriptor, accessed bit set, DPL 3, never 64-bit (L = 0: lm is
    /// ignored, as an L code segment would confuse `user_64bit_mode` and SYSRET).
    pub(super) fn fill_ldt(&self) -> u64 {
        let (base, limit) = (self.base_addr as u64, self.limit as u64);
        let ty = ((self.read_exec_only() ^ 1) << 1) | (self.contents() << 2) | 1;
        (limit & 0xffff)
            | ((base & 0xff_ffff) << 16)
            | (ty << 40)
            | (1 << 44) // S: code/data
            | (3 << 45) // DPL 3
            | ((self.seg_not_present() ^ 1) << 47)
            | (((limit >> 16) & 0xf) << 48)
            | (self.useable() << 52)
            | (self.seg_32bit() << 54)
            | (self.limit_in_pages() << 55)
            | (((base >> 24) & 0xff) << 56)
    }
}

/// Writes `tls` into this CPU's GDT TLS slots; returns whether they changed (then selectors
/// that name them must be reloaded to take the new descriptors).
///
/// # Safety
/// Interrupts off (the CPU must not change under the write), and no live selector may name a
/// slot whose descriptor becomes unusable before it is reloaded or replaced.
pub unsafe fn load_tls(tls: &[u64; TLS_ENTRIES]) -> bool {
    let tables = crate::percpu::this_cpu().tables.get();
    // SAFETY: this CPU's own tables, interrupts off per the caller: nothing else writes them.
    // The CPU reads GDT entries only at selector loads, which see a whole descriptor.
    unsafe {
        let gdt = &mut (*tables).gdt;
        let slots = &mut gdt[TLS_FIRST_ENTRY..TLS_FIRST_ENTRY + TLS_ENTRIES];
        if slots == tls {
            return false;
        }
        slots.copy_from_slice(tls);
    }
    true
}

/// set_thread_area(u_info): installs one TLS descriptor of the calling task. An entry number
/// of -1 takes the first free slot and writes its number back. A selector live in DS, ES,
/// FS or GS that names the changed slot is reloaded, as Linux's do_set_thread_area does.
pub fn sys_set_thread_area(regs: &mut Regs) -> i64 {
    let u_info = regs.rdi;
    let mut raw = [0u8; 16];
    if crate::uaccess::copy_from_user(&mut raw, u_info).is_err() {
        return -EFAULT;
    }
    let info = UserDesc::from_bytes(&raw);
    if !info.okay() {
        return -EINVAL;
    }
    let inner = crate::task::current_inner();
    let mut idx = info.entry_number as i32;
    if idx == -1 {
        let Some(free) = inner.tls.iter().position(|&d| d == 0) else {
            return -ESRCH;
        };
        idx = (free + TLS_FIRST_ENTRY) as i32;
        if crate::uaccess::copy_to_user(u_info, &(idx as u32).to_ne_bytes()).is_err() {
            return -EFAULT;
        }
    }
    let first = TLS_FIRST_ENTRY as i32;
    if idx < first || idx >= first + TLS_ENTRIES as i32 {
        return -EINVAL;
    }
    inner.tls[(idx - first) as usize] = info.descriptor();
    let sel = ((idx as u16) << 3) | 3;
    x86_64::instructions::interrupts::without_interrupts(|| {
        // SAFETY: interrupts off; a live selector naming the slot is reloaded below (made null
        // if the slot was cleared), and the switch nulls any saved selector naming an empty
        // slot (`Selectors::fit`), so the kernel never loads an empty descriptor.
        unsafe { load_tls(&inner.tls) };
        let live = super::segments::Selectors::read();
        if live.0.contains(&sel) {
            let mut s = live;
            let cleared = inner.tls[(idx - first) as usize] == 0;
            for v in s.0.iter_mut() {
                if *v == sel && cleared {
                    *v = 0;
                }
            }
            use x86_64::registers::model_specific::Msr;
            let mut fs_base = Msr::new(kentry::msr::IA32_FS_BASE);
            let mut gs_base = Msr::new(kentry::msr::IA32_KERNEL_GS_BASE);
            // SAFETY: reading the base MSRs has no effect.
            let (fs, gs) = unsafe { (fs_base.read(), gs_base.read()) };
            // SAFETY: interrupts off; each selector is null or names a present DPL-3 data
            // descriptor (the ones just installed passed `okay`). A register loaded from a
            // descriptor takes its base. One invalidated here (its slot cleared) is null with
            // base 0, as on Linux (ldt_gdt's "New FSBASE was zero"); one that was null already
            // keeps the base it had (a null load may clear it). The bases then land in the
            // task's saved state at the next switch.
            unsafe {
                s.load();
                if live.0[2] == sel && cleared {
                    fs_base.write(0);
                } else if s.0[2] == 0 {
                    fs_base.write(fs);
                }
                if live.0[3] == sel && cleared {
                    gs_base.write(0);
                } else if s.0[3] == 0 {
                    gs_base.write(gs);
                }
            }
            inner.selectors = s;
        }
    });
    0
}

/// Linux's fill_user_desc: the `user_desc` (16 bytes) that describes descriptor `desc` of
/// slot `idx`. An empty slot reads as read_exec_only and seg_not_present (Linux's answer for
/// a zero descriptor).
pub fn user_desc_of(idx: u32, desc: u64) -> [u8; 16] {
    let base = ((desc >> 16) & 0xff_ffff) | (((desc >> 56) & 0xff) << 24);
    let limit = (desc & 0xffff) | (((desc >> 48) & 0xf) << 16);
    let ty = (desc >> 40) & 0xf;
    let flags = ((desc >> 54) & 1) // seg_32bit: D
        | ((ty >> 2) << 1) // contents
        | ((((ty >> 1) & 1) ^ 1) << 3) // read_exec_only
        | (((desc >> 55) & 1) << 4) // limit_in_pages: G
        | ((((desc >> 47) & 1) ^ 1) << 5) // seg_not_present
        | (((desc >> 52) & 1) << 6) // useable: AVL
        | (((desc >> 53) & 1) << 7); // lm: L
    let mut b = [0u8; 16];
    for (i, w) in [idx as u64, base, limit, flags].iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&(*w as u32).to_ne_bytes());
    }
    b
}

/// The slot index (0..3) of GDT entry `idx`, or -EINVAL.
fn slot_of(idx: i32) -> Result<usize, i64> {
    let first = TLS_FIRST_ENTRY as i32;
    if idx < first || idx >= first + TLS_ENTRIES as i32 {
        return Err(-EINVAL);
    }
    Ok((idx - first) as usize)
}

/// A `user_desc` at `u_info` checked for a slot without allocating one (clone's CLONE_SETTLS
/// for an i386 caller and PTRACE_SET_THREAD_AREA; Linux's do_set_thread_area with
/// can_allocate 0): the slot (0..3) and its new descriptor. `idx` -1 takes the entry number
/// from the structure; -1 there is -EINVAL.
pub fn desc_from_user(idx: i32, u_info: u64) -> Result<(usize, u64), i64> {
    let mut raw = [0u8; 16];
    crate::uaccess::copy_from_user(&mut raw, u_info).map_err(|_| -EFAULT)?;
    let info = UserDesc::from_bytes(&raw);
    if !info.okay() {
        return Err(-EINVAL);
    }
    let idx = if idx == -1 {
        info.entry_number as i32
    } else {
        idx
    };
    Ok((slot_of(idx)?, info.descriptor()))
}

/// get_thread_area(u_info): the `user_desc` of the slot named by its entry_number.
pub fn sys_get_thread_area(regs: &mut Regs) -> i64 {
    let u_info = regs.rdi;
    let mut idx = [0u8; 4];
    if crate::uaccess::copy_from_user(&mut idx, u_info).is_err() {
        return -EFAULT;
    }
    let idx = i32::from_ne_bytes(idx);
    let slot = match slot_of(idx) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let desc = crate::task::current_inner().tls[slot];
    match crate::uaccess::copy_to_user(u_info, &user_desc_of(idx as u32, desc)) {
        Ok(()) => 0,
        Err(_) => -EFAULT,
    }
}

/// What CLONE_SETTLS gives the new task: an FS base (a 64-bit caller), or for an i386 caller
/// one TLS slot's descriptor from its `user_desc` (Linux's copy_thread: `in_ia32_syscall()`
/// decides, not the task's mode).
#[derive(Clone, Copy, Debug)]
pub enum CloneTls {
    FsBase(u64),
    Slot(usize, u64),
}

impl CloneTls {
    /// Sets the new task's FS and GS bases and TLS slots: the caller's, with CLONE_SETTLS's
    /// change. A live FS or GS selector that names the changed slot gets its base from the
    /// new descriptor, as the child's own load of it would (the switch writes the saved
    /// bases after loading the selectors).
    pub fn apply(
        tls: Option<CloneTls>,
        ti: &mut crate::task::TaskInner,
        mine: &[u64; TLS_ENTRIES],
    ) {
        use x86_64::registers::model_specific::{FsBase, KernelGsBase};
        ti.tls = *mine;
        ti.fs_base = match tls {
            Some(CloneTls::FsBase(b)) => b,
            _ => FsBase::read().as_u64(),
        };
        ti.gs_base = KernelGsBase::read().as_u64();
        if let Some(CloneTls::Slot(i, d)) = tls {
            ti.tls[i] = d;
            let sel = (((TLS_FIRST_ENTRY + i) as u16) << 3) | 3;
            let base = ((d >> 16) & 0xff_ffff) | (((d >> 56) & 0xff) << 24);
            let live = super::segments::Selectors::read();
            if live.0[2] == sel {
                ti.fs_base = if d == 0 { 0 } else { base };
            }
            if live.0[3] == sel {
                ti.gs_base = if d == 0 { 0 } else { base };
            }
        }
    }
}

/// The base a load of selector `sel` gives a task whose TLS slots are `tls` (Linux's
/// `x86_fsgsbase_read_task`): a TLS slot's base; 0 for any other GDT selector (no other user
/// segment has a base) and for an LDT one (kentry has no LDT).
pub fn selector_base(tls: &[u64; TLS_ENTRIES], sel: u16) -> u64 {
    let idx = (sel >> 3) as usize;
    if sel & 4 != 0 || !(TLS_FIRST_ENTRY..TLS_FIRST_ENTRY + TLS_ENTRIES).contains(&idx) {
        return 0;
    }
    let d = tls[idx - TLS_FIRST_ENTRY];
    ((d >> 16) & 0xff_ffff) | (((d >> 56) & 0xff) << 24)
}

/// PTRACE_GET_THREAD_AREA (25): the `user_desc` of slot `addr` (a GDT entry number, 12-14;
/// negative is -EIO, another is -EINVAL) of a stopped tracee whose slots are `tls`.
pub fn ptrace_get(tls: &[u64; TLS_ENTRIES], addr: u64, u_info: u64) -> Result<i64, i64> {
    let idx = addr as i32;
    if idx < 0 {
        return Err(-crate::syscall::errno::EIO);
    }
    let slot = slot_of(idx)?;
    crate::uaccess::copy_to_user(u_info, &user_desc_of(idx as u32, tls[slot]))
        .map_err(|_| -EFAULT)?;
    Ok(0)
}

/// PTRACE_SET_THREAD_AREA (26): slot `addr` of a stopped tracee from a `user_desc`, checked
/// as set_thread_area's (Linux's do_set_thread_area without allocation). A saved FS or GS
/// selector naming the slot gets the new base, as Linux sets `thread.fsbase`/`gsbase` for a
/// task that is not current (its next switch-in loads the selector, then the saved base).
pub fn ptrace_set(inner: &mut crate::task::TaskInner, addr: u64, u_info: u64) -> Result<i64, i64> {
    let idx = addr as i32;
    if idx < 0 {
        return Err(-crate::syscall::errno::EIO);
    }
    let (slot, desc) = desc_from_user(idx, u_info)?;
    inner.tls[slot] = desc;
    let sel = (((TLS_FIRST_ENTRY + slot) as u16) << 3) | 3;
    let base = ((desc >> 16) & 0xff_ffff) | (((desc >> 56) & 0xff) << 24);
    if inner.selectors.0[2] == sel {
        inner.fs_base = base;
    }
    if inner.selectors.0[3] == sel {
        inner.gs_base = base;
    }
    Ok(0)
}
