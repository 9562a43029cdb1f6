use super::*;
use crate::signal::SIGKILL;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Info {
    sig: u8,
    code: i32,
    value: u32,
}

impl Queued for Info {
    fn signo(&self) -> u8 {
        self.sig
    }
    fn code(&self) -> i32 {
        self.code
    }
}

fn info(sig: u8, code: i32, value: u32) -> Info {
    Info { sig, code, value }
}

/// Sends as the kernel does: standard signals at most once.
fn send(q: &mut Pending<Info>, i: Info) -> bool {
    if legacy_queue(q.signal, i.sig) {
        return false;
    }
    q.add(i.sig, Some(i));
    true
}

#[test]
fn rt_signals_queue_every_instance_in_order() {
    let mut q = Pending::new();
    for v in 0..5 {
        assert!(send(&mut q, info(34, -1, v)));
    }
    assert_eq!(q.len(), 5);
    for v in 0..5 {
        assert_eq!(q.dequeue(0), Some((34, Some(info(34, -1, v)))));
        assert_eq!(
            q.signal & bit(34) != 0,
            v < 4,
            "pending until the last instance"
        );
    }
    assert_eq!(q.dequeue(0), None);
}

#[test]
fn standard_signal_keeps_the_first_siginfo() {
    let mut q = Pending::new();
    assert!(send(&mut q, info(10, 0, 1)));
    assert!(!send(&mut q, info(10, 0, 2)), "second instance dropped");
    assert_eq!(q.len(), 1);
    assert_eq!(q.dequeue(0), Some((10, Some(info(10, 0, 1)))));
    assert_eq!(q.signal, 0);
    assert!(send(&mut q, info(10, 0, 3)), "queued again once taken");
}

#[test]
fn lowest_first_synchronous_before_others_blocked_skipped() {
    let mut q = Pending::new();
    send(&mut q, info(40, -1, 0));
    send(&mut q, info(2, 0, 0));
    send(&mut q, info(SIGSEGV, 1, 0));
    send(&mut q, info(1, 0, 0));
    // SIGHUP (1) blocked; SIGSEGV is synchronous, so before SIGINT (2).
    let blocked = bit(1);
    assert_eq!(q.dequeue(blocked).map(|d| d.0), Some(SIGSEGV));
    assert_eq!(q.dequeue(blocked).map(|d| d.0), Some(2));
    assert_eq!(q.dequeue(blocked).map(|d| d.0), Some(40));
    assert_eq!(q.dequeue(blocked), None);
    assert_eq!(q.signal, bit(1));
    // The mask is taken literally (rt_sigtimedwait's mask holds SIGKILL so as not to take
    // it); a thread's blocked set is blockable() already.
    assert_eq!(next_signal(bit(SIGKILL), !0), None);
    assert_eq!(
        next_signal(bit(SIGKILL), crate::signal::blockable(!0)),
        Some(SIGKILL)
    );
    assert_eq!(
        next_signal(bit(SIGSTOP) | bit(1), crate::signal::blockable(!0)),
        Some(SIGSTOP)
    );
}

#[test]
fn first_fault_in_arrival_order() {
    // SIGTRAP from kill() (code 0, queued first), SIGSEGV fault queued 2nd, SIGILL fault 1st.
    let queued = |sig: u8| match sig {
        SIGTRAP => Some((0, 0)),
        SIGSEGV => Some((1, 5)),
        SIGILL => Some((2, 3)),
        SIGBUS => None,
        _ => unreachable!(),
    };
    let all = bit(SIGTRAP) | bit(SIGSEGV) | bit(SIGILL) | bit(SIGBUS);
    assert_eq!(first_fault(all, queued), Some(SIGILL));
    assert_eq!(first_fault(all & !bit(SIGILL), queued), Some(SIGSEGV));
    assert_eq!(
        first_fault(bit(SIGTRAP) | bit(SIGBUS), queued),
        None,
        "no fault's siginfo"
    );
    assert_eq!(first_fault(0, queued), None);
    assert_eq!(STANDARD_MASK, bit(31) | (bit(31) - 1));
}

#[test]
fn pending_without_instance_is_delivered_without_siginfo() {
    let mut q: Pending<Info> = Pending::new();
    q.add(SIGKILL, None);
    q.add(35, None);
    send(&mut q, info(35, -1, 9));
    assert_eq!(q.dequeue(0), Some((SIGKILL, None)));
    // An instance is queued: it is found, and the signal stays pending no longer.
    assert_eq!(q.dequeue(0), Some((35, Some(info(35, -1, 9)))));
    assert_eq!(q.signal, 0);
}

#[test]
fn flush_mask_removes_pending_and_queued() {
    let mut q = Pending::new();
    send(&mut q, info(SIGTSTP, 0, 0));
    send(&mut q, info(34, -1, 0));
    send(&mut q, info(34, -1, 1));
    q.add(SIGSTOP, None);
    assert_eq!(q.flush_mask(flushed_by(SIGCONT)), 1);
    assert_eq!(q.signal, bit(34));
    assert_eq!(q.flush_mask(bit(34)), 2);
    assert_eq!(q.signal, 0);
    assert!(q.is_empty());
    send(&mut q, info(SIGCONT, 0, 0));
    assert_eq!(q.flush_mask(flushed_by(SIGTTOU)), 1);
    assert_eq!(flushed_by(10), 0);
    send(&mut q, info(1, 0, 0));
    send(&mut q, info(33, -1, 0));
    assert_eq!(q.flush(), 2);
    assert_eq!(q.signal, 0);
}

#[test]
fn peek_walks_arrival_order() {
    let mut q = Pending::new();
    send(&mut q, info(40, -1, 0));
    send(&mut q, info(3, 0, 1));
    send(&mut q, info(40, -1, 2));
    let seen: Vec<u32> = (0..).map_while(|o| q.peek(o)).map(|i| i.value).collect();
    assert_eq!(seen, [0, 1, 2]);
}

#[test]
fn rlimit_override_and_overflow() {
    assert!(override_rlimit(10, 0), "kill() of a standard signal");
    assert!(override_rlimit(10, SI_KERNEL));
    assert!(
        !override_rlimit(10, -1),
        "sigqueue() of a standard signal counts"
    );
    assert!(
        !override_rlimit(SIGRTMIN, 0),
        "real-time signals never override"
    );
    assert!(overflow_fails(SIGRTMIN, -1));
    assert!(
        !overflow_fails(SIGRTMIN, SI_USER),
        "kill() of an rt signal loses its info"
    );
    assert!(!overflow_fails(10, -1));
}

#[test]
fn forged_codes() {
    assert!(may_queue_code(-1, false));
    assert!(!may_queue_code(0, false), "SI_USER forged");
    assert!(!may_queue_code(SI_KERNEL, false));
    assert!(!may_queue_code(SI_TKILL, false));
    assert!(may_queue_code(SI_KERNEL, true), "to oneself anything goes");
    assert!(!keeps_info(SIGKILL));
}

#[test]
fn siginfo_layouts() {
    assert!(known_siginfo_layout(SIGSEGV, 9));
    assert!(!known_siginfo_layout(SIGSEGV, 10));
    assert!(known_siginfo_layout(10, SI_KERNEL));
    assert!(known_siginfo_layout(10, 6));
    assert!(!known_siginfo_layout(10, 7));
    assert!(known_siginfo_layout(34, -1));
    assert!(known_siginfo_layout(34, -7));
    assert!(!known_siginfo_layout(34, -8));
    assert!(known_siginfo_layout(34, -60));
}

#[test]
fn layouts_for_signalfd() {
    use super::{SiginfoLayout as L, siginfo_layout};
    // kill() and the kernel's own: pid and uid.
    assert_eq!(siginfo_layout(10, SI_USER), L::Kill);
    assert_eq!(siginfo_layout(11, SI_KERNEL), L::Kill);
    // sigqueue (SI_QUEUE -1) and tkill: pid, uid and the value.
    assert_eq!(siginfo_layout(34, -1), L::Rt);
    assert_eq!(siginfo_layout(10, SI_TKILL), L::Rt);
    assert_eq!(siginfo_layout(14, -2), L::Timer);
    assert_eq!(siginfo_layout(29, -5), L::Poll);
    // A signal's own codes: SEGV_MAPERR, CLD_EXITED, SYS_SECCOMP; past them, a small code
    // is read as SIGPOLL's (Linux's NSIGPOLL rule).
    assert_eq!(siginfo_layout(SIGSEGV, 1), L::Fault);
    assert_eq!(siginfo_layout(SIGCHLD, 1), L::Chld);
    assert_eq!(siginfo_layout(SIGSYS, 1), L::Sys);
    assert_eq!(siginfo_layout(SIGSYS, 3), L::Poll);
    assert_eq!(siginfo_layout(10, 3), L::Poll);
    assert_eq!(siginfo_layout(10, 7), L::Kill);
}
