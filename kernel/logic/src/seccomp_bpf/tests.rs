//! Host tests of the filter checks and runs (Linux's rules, by case).

use super::*;
use alloc::vec;

fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}
fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}
fn data(nr: i32, args: [u64; 6]) -> SeccompData {
    SeccompData {
        nr,
        arch: AUDIT_ARCH_X86_64,
        instruction_pointer: 0x40_1000,
        args,
    }
}

/// The program is kept as given: a `LEN` load stays one (the run uses the rewritten
/// immediate load), and each instruction's bytes are `struct sock_filter`'s.
#[test]
fn program_is_kept_as_installed() {
    let prog = vec![stmt(LD | W | LEN, 0), stmt(RET | A, 0)];
    let f = Filter::new(&prog).unwrap();
    assert_eq!(f.program(), &prog[..]);
    assert_eq!(f.run(&data(0, [0; 6])), 64);
    let j = jump(JMP | JEQ | K, 0x1234_5678, 2, 3);
    assert_eq!(j.to_bytes(), [0x15, 0x00, 2, 3, 0x78, 0x56, 0x34, 0x12]);
    assert_eq!(SockFilter::from_bytes(j.to_bytes()), j);
}

/// The usual filter: check the arch, allow getpid, return ERRNO(1) for everything else.
fn allow_getpid() -> Vec<SockFilter> {
    vec![
        stmt(LD | W | ABS, 4),
        jump(JMP | JEQ | K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET | K, ret::KILL_PROCESS),
        stmt(LD | W | ABS, 0),
        jump(JMP | JEQ | K, 39, 0, 1),
        stmt(RET | K, ret::ALLOW),
        stmt(RET | K, ret::ERRNO | 1),
    ]
}

#[test]
fn the_usual_filter() {
    let f = Filter::new(&allow_getpid()).unwrap();
    assert_eq!(f.run(&data(39, [0; 6])), ret::ALLOW);
    assert_eq!(f.run(&data(0, [0; 6])), ret::ERRNO | 1);
    let mut i386 = data(39, [0; 6]);
    i386.arch = AUDIT_ARCH_I386;
    assert_eq!(f.run(&i386), ret::KILL_PROCESS);
}

#[test]
fn argument_words_low_and_high() {
    // A = args[1] high word; return it.
    let f = Filter::new(&[stmt(LD | W | ABS, 16 + 8 + 4), stmt(RET | A, 0)]).unwrap();
    assert_eq!(
        f.run(&data(0, [0, 0x1234_5678_9abc_def0, 0, 0, 0, 0])),
        0x1234_5678
    );
    let f = Filter::new(&[stmt(LD | W | ABS, 8), stmt(RET | A, 0)]).unwrap();
    assert_eq!(f.run(&data(0, [0; 6])), 0x40_1000);
}

#[test]
fn alu_memory_and_registers() {
    // M[3] = nr * 3; X = 5; A = M[3] + X; A ^= 1; return A.
    let prog = [
        stmt(LD | W | ABS, 0),
        stmt(ALU | MUL | K, 3),
        stmt(ST, 3),
        stmt(LDX | W | IMM, 5),
        stmt(LD | W | MEM, 3),
        stmt(ALU | ADD | X, 0),
        stmt(ALU | XOR | K, 1),
        stmt(RET | A, 0),
    ];
    let f = Filter::new(&prog).unwrap();
    assert_eq!(f.run(&data(7, [0; 6])), (7 * 3 + 5) ^ 1);
}

#[test]
fn len_loads_become_64() {
    let f = Filter::new(&[stmt(LD | W | LEN, 0), stmt(RET | A, 0)]).unwrap();
    assert_eq!(f.run(&data(0, [0; 6])), 64);
}

#[test]
fn division_by_a_zero_register_returns_0() {
    let f = Filter::new(&[
        stmt(LD | IMM, 8),
        stmt(ALU | DIV | X, 0),
        stmt(RET | K, ret::ALLOW),
    ])
    .unwrap();
    assert_eq!(f.run(&data(0, [0; 6])), 0);
}

#[test]
fn refusals() {
    assert_eq!(Filter::new(&[]), Err(CheckError::Length));
    assert_eq!(
        Filter::new(&vec![stmt(RET | K, 0); BPF_MAXINSNS + 1]),
        Err(CheckError::Length)
    );
    assert!(Filter::new(&vec![stmt(RET | K, 0); BPF_MAXINSNS]).is_ok());
    // Outside seccomp_data, unaligned.
    assert_eq!(
        Filter::new(&[stmt(LD | W | ABS, 64), stmt(RET | A, 0)]),
        Err(CheckError::Load { at: 0 })
    );
    assert_eq!(
        Filter::new(&[stmt(LD | W | ABS, 2), stmt(RET | A, 0)]),
        Err(CheckError::Load { at: 0 })
    );
    // Byte and half-word loads, indirect loads: not seccomp's.
    assert_eq!(
        Filter::new(&[stmt(0x30, 0), stmt(RET | A, 0)]),
        Err(CheckError::Opcode { at: 0 })
    );
    assert_eq!(
        Filter::new(&[stmt(0x40, 0), stmt(RET | A, 0)]),
        Err(CheckError::Opcode { at: 0 })
    );
    // A jump past the end.
    assert_eq!(
        Filter::new(&[jump(JMP | JEQ | K, 0, 1, 0), stmt(RET | K, 0)]),
        Err(CheckError::Jump { at: 0 })
    );
    assert_eq!(
        Filter::new(&[stmt(JMP | JA, 1), stmt(RET | K, 0)]),
        Err(CheckError::Jump { at: 0 })
    );
    assert_eq!(
        Filter::new(&[stmt(ALU | DIV | K, 0), stmt(RET | K, 0)]),
        Err(CheckError::DivByZero { at: 0 })
    );
    assert_eq!(
        Filter::new(&[stmt(ST, 16), stmt(RET | K, 0)]),
        Err(CheckError::Slot { at: 0 })
    );
    assert_eq!(
        Filter::new(&[stmt(ALU | LSH | K, 32), stmt(RET | K, 0)]),
        Err(CheckError::Shift { at: 0 })
    );
    // BPF_MOD is classic BPF but not in seccomp's list.
    assert_eq!(
        Filter::new(&[stmt(ALU | 0x90 | K, 3), stmt(RET | K, 0)]),
        Err(CheckError::Opcode { at: 0 })
    );
    assert_eq!(Filter::new(&[stmt(LD | IMM, 0)]), Err(CheckError::NoReturn));
    // A slot read on a path that skipped its store.
    let prog = [
        jump(JMP | JEQ | K, 0, 0, 1),
        stmt(ST, 2),
        stmt(LD | W | MEM, 2),
        stmt(RET | A, 0),
    ];
    assert_eq!(Filter::new(&prog), Err(CheckError::UninitSlot { at: 2 }));
}

#[test]
fn precedence_across_filters() {
    let allow = Filter::new(&[stmt(RET | K, ret::ALLOW)]).unwrap();
    let errno = Filter::new(&[stmt(RET | K, ret::ERRNO | 5)]).unwrap();
    let trap = Filter::new(&[stmt(RET | K, ret::TRAP | 2)]).unwrap();
    let kill = Filter::new(&[stmt(RET | K, ret::KILL_PROCESS)]).unwrap();
    let d = data(0, [0; 6]);
    assert_eq!(run_chain([&allow], &d), ret::ALLOW);
    assert_eq!(run_chain([&allow, &errno, &trap], &d), ret::TRAP | 2);
    assert_eq!(run_chain([&errno, &kill, &trap], &d), ret::KILL_PROCESS);
    // Among equals, the first (newest) filter's data.
    let errno9 = Filter::new(&[stmt(RET | K, ret::ERRNO | 9)]).unwrap();
    assert_eq!(run_chain([&errno9, &errno], &d), ret::ERRNO | 9);
    assert!(action_known(ret::LOG) && !action_known(0x1234_0000));
}

#[test]
fn matching_filter_is_the_one_whose_verdict_won() {
    let allow = Filter::new(&[stmt(RET | K, ret::ALLOW)]).unwrap();
    let notif = Filter::new(&[stmt(RET | K, ret::USER_NOTIF)]).unwrap();
    let errno = Filter::new(&[stmt(RET | K, ret::ERRNO | 5)]).unwrap();
    let errno9 = Filter::new(&[stmt(RET | K, ret::ERRNO | 9)]).unwrap();
    let d = data(0, [0; 6]);
    let chain = [&allow, &notif, &errno9, &errno];
    let v = run_chain(chain, &d);
    assert_eq!(v, ret::ERRNO | 9);
    assert_eq!(matching_filter(chain, &d, v), Some(2));
    let chain = [&allow, &notif, &allow];
    assert_eq!(matching_filter(chain, &d, run_chain(chain, &d)), Some(1));
    assert_eq!(matching_filter([&allow], &d, ret::TRAP), None);
}
