//! Expected values from Linux 6.1's rules (ptrace.c, hw_breakpoint.c) and, where noted, from
//! a native run on this host (user/c/debugreg.c does the same through ptrace).

use super::*;

/// DR7 enabling slot `i` locally with R/W `rw` and LEN `len` (the raw fields a debugger
/// writes).
fn l(i: usize, rw: u64, len: u64) -> u64 {
    1 << (2 * i) | (rw | len << 2) << (16 + 4 * i)
}

const W: u64 = 0b01;
const RW: u64 = 0b11;
const IO: u64 = 0b10;
const X: u64 = 0b00;
const LEN1: u64 = 0b00;
const LEN2: u64 = 0b01;
const LEN8: u64 = 0b10;
const LEN4: u64 = 0b11;

#[test]
fn fresh_state_reads_zero_and_dr4_dr5_are_eio() {
    let mut d = PtraceDebugRegs::default();
    for n in [0, 1, 2, 3, 4, 5, 7] {
        assert_eq!(d.get(n), 0, "u_debugreg[{n}]");
    }
    assert_eq!(d.set(4, 0), Err(DrError::Io));
    assert_eq!(d.set(5, 0x1000), Err(DrError::Io));
    assert_eq!(d.set(8, 0), Err(DrError::Io));
    assert_eq!(d, PtraceDebugRegs::default());
}

#[test]
fn addresses_must_be_user_space() {
    let mut d = PtraceDebugRegs::default();
    // TASK_SIZE_MAX is 0x7ffffffff000: the top user page itself is refused (native run:
    // 0x7ffffffff000, 0x7ffffffffffc and 0x7fffffffffff all EINVAL).
    for a in [
        0x7fff_ffff_f000,
        0x7fff_ffff_fffc,
        0x7fff_ffff_ffff,
        0xffff_8000_0000_0000,
        u64::MAX,
    ] {
        assert_eq!(d.set(1, a), Err(DrError::Invalid), "{a:#x}");
    }
    assert_eq!(d.get(1), 0, "a refused address leaves no breakpoint");
    assert_eq!(d.set(1, 0x7fff_ffff_efff), Ok(()));
    assert_eq!(d.get(1), 0x7fff_ffff_efff);
    assert_eq!(d.set(0, 0), Ok(()), "address 0 is user space");
}

#[test]
fn a_first_address_write_makes_a_disabled_one_byte_write_watchpoint() {
    let mut d = PtraceDebugRegs::default();
    d.set(2, 0x1003).unwrap();
    assert_eq!(
        d.slots[2],
        Some(Breakpoint {
            addr: 0x1003,
            len: 1,
            kind: BpKind::Write,
            disabled: true
        })
    );
    assert_eq!(d.hw_dr7(), 0, "disabled: nothing for the CPU");
}

#[test]
fn lengths_and_alignment() {
    for (len_bits, len, bad) in [(LEN2, 2, 0x1001), (LEN4, 4, 0x1002), (LEN8, 8, 0x1004)] {
        for rw in [W, RW] {
            let mut d = PtraceDebugRegs::default();
            d.set(0, 0x1000).unwrap();
            d.set(7, l(0, rw, len_bits)).unwrap();
            assert_eq!(d.slots[0].unwrap().len, len);
            // The slot now has this length: an unaligned address is refused and the old
            // one stays.
            assert_eq!(
                d.set(0, bad),
                Err(DrError::Invalid),
                "len {len} at {bad:#x}"
            );
            assert_eq!(d.get(0), 0x1000);
            d.set(0, 0x1000 + len).unwrap();
            // An existing unaligned address makes the DR7 that lengthens it fail.
            let mut e = PtraceDebugRegs::default();
            e.set(0, 0x1001).unwrap();
            assert_eq!(e.set(7, l(0, rw, len_bits)), Err(DrError::Invalid));
            assert_eq!(e.get(7), 0, "a refused DR7 is not kept");
        }
    }
    // One byte: any address.
    let mut d = PtraceDebugRegs::default();
    d.set(3, 0x1fff).unwrap();
    d.set(7, l(3, RW, LEN1)).unwrap();
}

#[test]
fn execute_breakpoints_are_length_one_at_any_address() {
    let mut d = PtraceDebugRegs::default();
    d.set(1, 0x40_1237).unwrap();
    d.set(7, l(1, X, LEN1)).unwrap();
    assert_eq!(d.slots[1].unwrap().kind, BpKind::Execute);
    for len in [LEN2, LEN4, LEN8] {
        assert_eq!(d.set(7, l(1, X, len)), Err(DrError::Invalid));
    }
    assert!(is_execute_slot(d.hw_dr7(), 1));
}

#[test]
fn io_breakpoints_are_refused() {
    // Native run: DR1 at 0 (no breakpoint yet) with R/W1 = 10 enabled → EINVAL.
    let mut d = PtraceDebugRegs::default();
    assert_eq!(d.set(7, l(1, IO, LEN4)), Err(DrError::Invalid));
    assert_eq!(d.set(7, l(1, IO, LEN1)), Err(DrError::Invalid));
}

#[test]
fn dr7_reads_back_as_written_and_the_cpu_gets_global_enables() {
    // Native run: POKEUSER DR7 0xffffffff000d0001 succeeds and PEEKUSER returns it.
    let mut d = PtraceDebugRegs::default();
    d.set(0, 0x5000).unwrap();
    let raw = 0xffff_ffff_0000_0000 | l(0, W, LEN4);
    assert_eq!(raw, 0xffff_ffff_000d_0001);
    d.set(7, raw).unwrap();
    assert_eq!(d.get(7), raw);
    // encode_dr7(0, LEN_4, WRITE): G0, R/W0 = 01, LEN0 = 11, GE.
    assert_eq!(d.hw_dr7(), 0x2 | 0xd << 16 | 0x200);
    assert_eq!(d.hw_addrs(), [0x5000, 0, 0, 0]);
}

#[test]
fn an_enabled_slot_without_an_address_watches_zero() {
    // Native run: DR7 enabling slot 2 (nothing written to DR2) succeeds.
    let mut d = PtraceDebugRegs::default();
    d.set(7, l(2, X, LEN1)).unwrap();
    assert_eq!(d.get(2), 0);
    assert_eq!(d.hw_dr7(), 0x20 | 0x200);
}

#[test]
fn a_disabled_slot_with_a_breakpoint_is_still_checked() {
    let mut d = PtraceDebugRegs::default();
    d.set(0, 0x1000).unwrap();
    // Slot 0 not enabled, but its field says execute with length 4: EINVAL, since the slot
    // holds a breakpoint whose fields the write would change.
    assert_eq!(d.set(7, (X | LEN4 << 2) << 16), Err(DrError::Invalid));
    // Slot 1 has none: its field is ignored while it is disabled.
    d.set(7, (IO | LEN4 << 2) << 20).unwrap();
}

#[test]
fn a_refused_dr7_rolls_back_as_linux_does() {
    let mut d = PtraceDebugRegs::default();
    d.set(0, 0x2000).unwrap();
    d.set(7, l(0, W, LEN8)).unwrap();
    // Slot 0 to read/write (fine), slot 1 created enabled (fine), slot 2 I/O: refused.
    let bad = l(0, RW, LEN8) | l(1, W, LEN1) | l(2, IO, LEN1);
    assert_eq!(d.set(7, bad), Err(DrError::Invalid));
    assert_eq!(d.get(7), l(0, W, LEN8), "the last good DR7 reads back");
    assert_eq!(d.slots[0].unwrap().kind, BpKind::Write, "slot 0 put back");
    // Slot 1 keeps the breakpoint the first pass made, disabled, with the old (empty)
    // field: an execute breakpoint at 0.
    assert_eq!(
        d.slots[1],
        Some(Breakpoint {
            addr: 0,
            len: 1,
            kind: BpKind::Execute,
            disabled: true
        })
    );
    assert_eq!(d.slots[2], None);
    assert_eq!(d.hw_dr7(), 0x2 | 0x9 << 16 | 0x200);
}

#[test]
fn a_user_watchpoint_hit_sets_its_virtual_dr6_bit() {
    // Native run: a write under DR0 stops with SIGTRAP, si_code 4 (TRAP_HWBKPT), and
    // PEEKUSER DR6 reads 0xffff0ff1.
    let dr7 = 0x2 | 0xd << 16 | 0x200;
    let db = user_db(0x1, dr7);
    assert_eq!(
        db,
        UserDb {
            virtual_dr6: 0x1,
            set_rf: false,
            si_code: Some(TRAP_HWBKPT)
        }
    );
    assert_eq!(db.virtual_dr6 ^ DR6_RESERVED, 0xffff_0ff1);
}

#[test]
fn an_execute_breakpoint_sets_rf() {
    let dr7 = 0x8 | 0x200; // slot 1, execute
    let db = user_db(0x2, dr7);
    assert_eq!(db.virtual_dr6, 0x2);
    assert!(db.set_rf);
    assert_eq!(db.si_code, Some(TRAP_HWBKPT));
}

#[test]
fn single_step_is_trap_trace_and_wins_over_an_execute_breakpoint() {
    assert_eq!(
        user_db(DR_STEP, 0),
        UserDb {
            virtual_dr6: DR_STEP,
            set_rf: false,
            si_code: Some(TRAP_TRACE)
        }
    );
    // Step and an execute breakpoint on slot 0: TRAP_TRACE, the breakpoint's bit left for
    // its own #DB, no RF.
    let db = user_db(DR_STEP | 1, 0x2 | 0x200);
    assert_eq!(db.virtual_dr6, DR_STEP);
    assert!(!db.set_rf);
    assert_eq!(db.si_code, Some(TRAP_TRACE));
    // Step and a data watchpoint (both traps): merged.
    let db = user_db(DR_STEP | 1, 0x2 | 0x1 << 16 | 0x200);
    assert_eq!(db.virtual_dr6, DR_STEP | 1);
}

#[test]
fn icebp_and_bare_status_bits() {
    // INT1: DR6 says nothing; SIGTRAP with TRAP_BRKPT.
    assert_eq!(user_db(0, 0).si_code, Some(TRAP_BRKPT));
    // Only BD (0x2000) or bus lock (0x800): no signal.
    assert_eq!(user_db(0x2000, 0).si_code, None);
    assert_eq!(user_db(0x800, 0).si_code, None);
    // A hit on a slot the thread does not have enabled still signals (Linux leaves the bit
    // in DR6), but is not in the virtual DR6.
    let db = user_db(0x4, 0);
    assert_eq!((db.virtual_dr6, db.si_code), (0, Some(TRAP_HWBKPT)));
}
