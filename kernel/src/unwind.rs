//! Backtraces from the DWARF call-frame information in `.eh_frame` (the kernel is built with
//! unwind tables and without frame pointers, so no function pays a frame-pointer prologue —
//! the choice Linux makes with its ORC unwinder).
//!
//! The unwinder never allocates and never takes a lock it could wait on, so it works from
//! panic, #DF and fault paths: its context lives in a static, taken with `try_lock`, and every
//! stack read is bounds-checked against the registered kernel stack being walked.

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EndianSlice, LittleEndian, Register, RegisterRule,
    UnwindContext, UnwindContextStorage, UnwindSection, UnwindTableRow, X86_64,
};

/// Fixed-size storage for the CFI evaluation: no heap.
struct InlineStorage;

impl<T: gimli::ReaderOffset> UnwindContextStorage<T> for InlineStorage {
    type Rules = [(Register, RegisterRule<T>); 32];
    type Stack = [UnwindTableRow<T, Self>; 4];
}

type Ctx = UnwindContext<usize, InlineStorage>;

static CONTEXT: spin::Once<crate::sync::Mutex<Ctx>> = spin::Once::new();

unsafe extern "C" {
    static __eh_frame_start: u8;
    static __eh_frame_end: u8;
    static __text_start: u8;
}

/// Builds the unwind context once at boot (so a fault path never initialises it).
pub fn init() {
    CONTEXT.call_once(|| crate::sync::Mutex::new(UnwindContext::new_in()));
}

/// One frame's registers the walk needs.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub rip: u64,
    pub rsp: u64,
    pub rbp: u64,
}

fn eh_frame() -> (EhFrame<EndianSlice<'static, LittleEndian>>, BaseAddresses) {
    let start = core::ptr::addr_of!(__eh_frame_start);
    let end = core::ptr::addr_of!(__eh_frame_end);
    // SAFETY: the linker script brackets .eh_frame with these symbols; it is read-only data
    // mapped for the kernel's lifetime.
    let bytes = unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) };
    let bases = BaseAddresses::default()
        .set_eh_frame(start as u64)
        .set_text(core::ptr::addr_of!(__text_start) as u64);
    (EhFrame::new(bytes, LittleEndian), bases)
}

/// Walks from `start` (the frame of a fault or of the caller) and calls `each` with every
/// return address, up to `max` frames, reading only inside `[stack_lo, stack_hi)`.
pub fn walk(start: Frame, stack_lo: u64, stack_hi: u64, max: usize, mut each: impl FnMut(u64)) {
    let Some(lock) = CONTEXT.get() else { return };
    let Some(mut ctx) = lock.try_lock() else {
        return;
    };
    let (eh, bases) = eh_frame();
    let read = |addr: u64| -> Option<u64> {
        (addr >= stack_lo && addr.checked_add(8)? <= stack_hi && addr.is_multiple_of(8))
            // SAFETY: inside a mapped kernel stack (bounds checked just above).
            .then(|| unsafe { core::ptr::read(addr as *const u64) })
    };
    let mut f = start;
    for depth in 0..max {
        // A return address points after the call; look up the call itself.
        let pc = if depth == 0 { f.rip } else { f.rip - 1 };
        let Ok(row) = eh.unwind_info_for_address(&bases, &mut ctx, pc, EhFrame::cie_from_offset)
        else {
            return;
        };
        let cfa = match *row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } => {
                let base = match register {
                    X86_64::RSP => f.rsp,
                    X86_64::RBP => f.rbp,
                    _ => return,
                };
                match base.checked_add_signed(offset) {
                    Some(c) => c,
                    None => return,
                }
            }
            _ => return,
        };
        let at = |o: i64| cfa.checked_add_signed(o).and_then(read);
        let Some(ra) = (match row.register(X86_64::RA) {
            RegisterRule::Offset(o) => at(o),
            _ => None,
        }) else {
            return;
        };
        let rbp = match row.register(X86_64::RBP) {
            RegisterRule::Offset(o) => match at(o) {
                Some(v) => v,
                None => return,
            },
            _ => f.rbp,
        };
        if ra == 0 {
            return;
        }
        each(ra);
        f = Frame {
            rip: ra,
            rsp: cfa,
            rbp,
        };
    }
}
