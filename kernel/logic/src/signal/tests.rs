//! Signal arithmetic against Linux's rules; signal numbers and mask bits by hand.

use super::*;

const SIGINT: u8 = 2;
const SIGUSR1: u8 = 10;
const SIGRTMAX: u8 = 64;

#[test]
fn bits() {
    assert_eq!(bit(1), 1);
    assert_eq!(bit(SIGKILL), 0x100);
    assert_eq!(bit(SIGSTOP), 0x4_0000);
    assert_eq!(bit(SIGRTMAX), 1 << 63);
}

#[test]
fn sigprocmask_how() {
    assert_eq!(sigprocmask(SIG_BLOCK, 0b0101, 0b0011), Some(0b0111));
    assert_eq!(sigprocmask(SIG_UNBLOCK, 0b0101, 0b0011), Some(0b0100));
    assert_eq!(sigprocmask(SIG_SETMASK, 0b0101, 0b0011), Some(0b0011));
    assert_eq!(sigprocmask(3, 0b0101, 0b0011), None);
    assert_eq!(sigprocmask(u64::MAX, 0, 0), None);
}

#[test]
fn sigkill_and_sigstop_are_never_blocked() {
    assert_eq!(blockable(u64::MAX), !0x4_0100);
    assert_eq!(blockable(0x100), 0);
    assert_eq!(blockable(0x202), 0x202);
}

#[test]
fn handler_mask_adds_sa_mask_and_the_signal_unless_nodefer() {
    let sa_mask = bit(SIGINT) | bit(SIGKILL);
    assert_eq!(
        handler_mask(bit(1), sa_mask, 0, SIGUSR1),
        0b1 | 0b10 | 0x200
    );
    assert_eq!(handler_mask(0, sa_mask, SA_NODEFER, SIGUSR1), 0b10);
    assert_eq!(handler_mask(0, 0, SA_RESTART, SIGUSR1), 0x200);
}

#[test]
fn restart_rules_by_code_and_handler() {
    use self::Restart::{Eintr, Keep, RestartSyscall};
    const R: Restart = Restart::Restart;
    let none = None;
    let plain = Some(0);
    let sa_restart = Some(SA_RESTART);
    // (code, no handler, handler, SA_RESTART handler): Linux's table.
    let table = [
        (-512, R, Eintr, R),                  // ERESTARTSYS
        (-513, R, R, R),                      // ERESTARTNOINTR
        (-514, R, Eintr, Eintr),              // ERESTARTNOHAND
        (-516, RestartSyscall, Eintr, Eintr), // ERESTART_RESTARTBLOCK
        (-4, Keep, Keep, Keep),               // EINTR itself stands
        (-515, Keep, Keep, Keep),             // not a restart code
        (0, Keep, Keep, Keep),
        (512, Keep, Keep, Keep),
    ];
    for (code, a, b, c) in table {
        assert_eq!(restart_rule(code, none), a, "{code} without a handler");
        assert_eq!(restart_rule(code, plain), b, "{code} with a handler");
        assert_eq!(restart_rule(code, sa_restart), c, "{code} with SA_RESTART");
    }
}
