//! System information, clocks, limits and timers (kernel/src/syscall/misc/, kernel/src/time/).
//!
//! - uname: sysname "Linux", machine "x86_64".
//! - clock_gettime(CLOCK_MONOTONIC) never goes back over many reads, and advances across a
//!   10 ms nanosleep by at least 10 ms (and less than 2 s); CLOCK_REALTIME is after 2020, and
//!   gettimeofday and time() agree with it; clock_getres is at most 1 ms; an unknown clock is
//!   -EINVAL.
//! - getrandom fills 16 bytes, not all zero.
//! - getrlimit(RLIMIT_STACK) has a soft limit > 0; RLIMIT_NOFILE's soft limit round-trips
//!   through setrlimit/prlimit64.
//! - sched_getaffinity returns a mask size and at least one CPU; sched_getscheduler is
//!   SCHED_OTHER; getcpu answers.
//! - sysinfo: totalram > 0, mem_unit > 0.
//! - prctl(PR_SET_NAME)/PR_GET_NAME round-trip.
//! - alarm(0) with no alarm returns 0; alarm(5) then alarm(0) returns 5.
//! - setitimer(ITIMER_REAL, 20 ms) with SIGALRM blocked: getitimer shows it counting down, and
//!   the signal is pending after a 100 ms sleep (it stays blocked until exit).
//!
//! Syscalls: uname, clock_gettime, clock_getres, gettimeofday, time, nanosleep, getrandom,
//! getrlimit, setrlimit, prlimit64, sched_getaffinity, sched_getscheduler, getcpu, sysinfo,
//! prctl, alarm, setitimer, getitimer, rt_sigprocmask, rt_sigpending, write, exit_group.

#![no_std]
#![no_main]

use kentry_user::ktap::Ktap;
use kentry_user::sys::{nr, syscall1, syscall2, syscall3, syscall4, syscall5};
use kentry_user::{diag, entry};

entry!(main);

const EINVAL: isize = -22;
const CLOCK_REALTIME: usize = 0;
const CLOCK_MONOTONIC: usize = 1;
const RLIMIT_STACK: usize = 3;
const RLIMIT_NOFILE: usize = 7;
const PR_SET_NAME: usize = 15;
const PR_GET_NAME: usize = 16;
const ITIMER_REAL: usize = 0;
const SIGALRM: usize = 14;
const SIG_BLOCK: usize = 0;
const GRND_NONBLOCK: usize = 1;
/// 2020-01-01T00:00:00Z.
const Y2020: i64 = 1_577_836_800;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

impl Timespec {
    fn ns(self) -> i64 {
        self.sec * 1_000_000_000 + self.nsec
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Timeval {
    sec: i64,
    usec: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Itimerval {
    interval: Timeval,
    value: Timeval,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Rlimit {
    cur: u64,
    max: u64,
}

#[repr(C)]
struct Utsname {
    fields: [[u8; 65]; 6],
}

#[repr(C)]
#[derive(Default)]
struct Sysinfo {
    uptime: i64,
    loads: [u64; 3],
    totalram: u64,
    freeram: u64,
    sharedram: u64,
    bufferram: u64,
    totalswap: u64,
    freeswap: u64,
    procs: u16,
    pad: u16,
    totalhigh: u64,
    freehigh: u64,
    mem_unit: u32,
}

/// The bytes of a NUL-terminated field.
fn cstr(b: &[u8]) -> &[u8] {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..n]
}

fn clock_gettime(clock: usize, ts: &mut Timespec) -> isize {
    // SAFETY: the kernel writes one struct timespec into `ts`.
    unsafe { syscall2(nr::CLOCK_GETTIME, clock, ts as *mut Timespec as usize) }
}

fn now(clock: usize) -> Timespec {
    let mut ts = Timespec::default();
    clock_gettime(clock, &mut ts);
    ts
}

fn nanosleep(ns: i64) -> isize {
    let req = Timespec {
        sec: ns / 1_000_000_000,
        nsec: ns % 1_000_000_000,
    };
    // SAFETY: the kernel reads `req`; no remainder is asked for.
    unsafe { syscall2(nr::NANOSLEEP, &req as *const Timespec as usize, 0) }
}

fn main(_: kentry_user::rt::Args) -> i32 {
    let mut t = Ktap::new(20);

    // uname
    let mut u = Utsname {
        fields: [[0; 65]; 6],
    };
    // SAFETY: the kernel writes one struct utsname into `u`.
    let r = unsafe { syscall1(nr::UNAME, &mut u as *mut Utsname as usize) };
    t.result(
        r == 0 && cstr(&u.fields[0]) == b"Linux",
        "uname_sysname_linux",
    );
    t.result(
        r == 0 && cstr(&u.fields[4]) == b"x86_64",
        "uname_machine_x86_64",
    );

    // Monotonic: never backwards.
    let mut prev = now(CLOCK_MONOTONIC);
    let mut back = 0;
    let mut ok = true;
    for _ in 0..2000 {
        let mut ts = Timespec::default();
        ok &= clock_gettime(CLOCK_MONOTONIC, &mut ts) == 0 && (0..1_000_000_000).contains(&ts.nsec);
        if ts.ns() < prev.ns() {
            back += 1;
        }
        prev = ts;
    }
    if back != 0 {
        diag!("monotonic went back {back} times");
    }
    t.result(ok && back == 0, "clock_monotonic_nondecreasing");

    // Monotonic across a 10 ms sleep.
    let a = now(CLOCK_MONOTONIC);
    let s = nanosleep(10_000_000);
    let b = now(CLOCK_MONOTONIC);
    let elapsed = b.ns() - a.ns();
    diag!("nanosleep(10 ms) returned {s}; monotonic advanced {elapsed} ns");
    t.result(
        s == 0 && (10_000_000..2_000_000_000).contains(&elapsed),
        "clock_monotonic_nanosleep_10ms",
    );

    // Realtime, gettimeofday, time.
    let rt = now(CLOCK_REALTIME);
    t.result(rt.sec > Y2020, "clock_realtime_after_2020");
    let mut tv = Timeval::default();
    // SAFETY: the kernel writes one struct timeval into `tv`; no timezone.
    let g = unsafe { syscall2(nr::GETTIMEOFDAY, &mut tv as *mut Timeval as usize, 0) };
    // SAFETY: time(NULL) touches no memory.
    let secs = unsafe { syscall1(nr::TIME, 0) } as i64;
    let rt2 = now(CLOCK_REALTIME);
    // Linux's time() reads the clock as of the last tick: up to a tick behind, so it may still
    // show the previous second.
    t.result(
        g == 0
            && (rt.sec..=rt2.sec).contains(&tv.sec)
            && (0..1_000_000).contains(&tv.usec)
            && (rt.sec - 1..=rt2.sec).contains(&secs),
        "gettimeofday_time_agree_with_realtime",
    );
    let mut res = Timespec::default();
    // SAFETY: the kernel writes one struct timespec into `res`.
    let r = unsafe {
        syscall2(
            nr::CLOCK_GETRES,
            CLOCK_MONOTONIC,
            &mut res as *mut Timespec as usize,
        )
    };
    t.result(
        r == 0 && res.sec == 0 && (1..=1_000_000).contains(&res.nsec),
        "clock_getres_monotonic_at_most_1ms",
    );
    let mut ts = Timespec::default();
    t.eq(
        clock_gettime(12_345, &mut ts),
        EINVAL,
        "clock_gettime_bad_clock_einval",
    );

    // getrandom
    let mut buf = [0u8; 16];
    // SAFETY: the kernel writes at most 16 bytes into `buf`.
    let r = unsafe { syscall3(nr::GETRANDOM, buf.as_mut_ptr() as usize, 16, GRND_NONBLOCK) };
    t.result(r == 16 && buf.iter().any(|&b| b != 0), "getrandom_16_bytes");

    // Limits
    let mut rl = Rlimit::default();
    // SAFETY: the kernel writes one struct rlimit into `rl`.
    let r = unsafe { syscall2(nr::GETRLIMIT, RLIMIT_STACK, &mut rl as *mut Rlimit as usize) };
    t.result(
        r == 0 && rl.cur > 0 && rl.cur <= rl.max,
        "getrlimit_stack_soft_positive",
    );
    let mut orig = Rlimit::default();
    // SAFETY: prlimit64(0, NOFILE, NULL, &orig): the kernel writes `orig`.
    let r1 = unsafe {
        syscall4(
            nr::PRLIMIT64,
            0,
            RLIMIT_NOFILE,
            0,
            &mut orig as *mut Rlimit as usize,
        )
    };
    let lower = Rlimit {
        cur: orig.cur.min(512) - 1,
        max: orig.max,
    };
    // SAFETY: the kernel reads `lower`.
    let r2 = unsafe {
        syscall2(
            nr::SETRLIMIT,
            RLIMIT_NOFILE,
            &lower as *const Rlimit as usize,
        )
    };
    let mut back = Rlimit::default();
    // SAFETY: prlimit64(0, NOFILE, &orig, &back): restores, and writes the value before.
    let r3 = unsafe {
        syscall4(
            nr::PRLIMIT64,
            0,
            RLIMIT_NOFILE,
            &orig as *const Rlimit as usize,
            &mut back as *mut Rlimit as usize,
        )
    };
    t.result(
        r1 == 0 && r2 == 0 && r3 == 0 && back.cur == lower.cur && back.max == orig.max,
        "rlimit_nofile_round_trip",
    );

    // Scheduling
    let mut mask = [0u64; 16];
    // SAFETY: the kernel writes at most 128 bytes into `mask`.
    let r = unsafe { syscall3(nr::SCHED_GETAFFINITY, 0, 128, mask.as_mut_ptr() as usize) };
    let cpus: u32 = if r > 0 {
        mask[..(r as usize).div_ceil(8)]
            .iter()
            .map(|m| m.count_ones())
            .sum()
    } else {
        0
    };
    t.result(
        r > 0 && r <= 128 && r % 8 == 0 && cpus >= 1,
        "sched_getaffinity_one_cpu_or_more",
    );
    // SAFETY: no memory is involved.
    let pol = unsafe { syscall1(nr::SCHED_GETSCHEDULER, 0) };
    t.eq(pol, 0, "sched_getscheduler_other");
    let (mut cpu, mut node) = (u32::MAX, u32::MAX);
    // SAFETY: the kernel writes one u32 into each.
    let r = unsafe {
        syscall3(
            nr::GETCPU,
            &mut cpu as *mut u32 as usize,
            &mut node as *mut u32 as usize,
            0,
        )
    };
    t.result(r == 0 && cpu != u32::MAX && node != u32::MAX, "getcpu");

    // sysinfo
    let mut si = Sysinfo::default();
    // SAFETY: the kernel writes one struct sysinfo (112 bytes) into `si`.
    let r = unsafe { syscall1(nr::SYSINFO, &mut si as *mut Sysinfo as usize) };
    t.result(
        r == 0 && si.totalram > 0 && si.mem_unit > 0 && si.freeram <= si.totalram,
        "sysinfo_totalram",
    );

    // prctl name
    let name = b"misc-kentry-42\0";
    let mut got = [0xffu8; 16];
    // SAFETY: the kernel reads the NUL-terminated `name` and writes 16 bytes into `got`.
    let (r1, r2) = unsafe {
        (
            syscall5(nr::PRCTL, PR_SET_NAME, name.as_ptr() as usize, 0, 0, 0),
            syscall5(nr::PRCTL, PR_GET_NAME, got.as_mut_ptr() as usize, 0, 0, 0),
        )
    };
    t.result(
        r1 == 0 && r2 == 0 && cstr(&got) == &name[..name.len() - 1],
        "prctl_name_round_trip",
    );

    // alarm
    // SAFETY: alarm touches no memory.
    let (a0, a5, a0b) = unsafe {
        (
            syscall1(nr::ALARM, 0),
            syscall1(nr::ALARM, 5),
            syscall1(nr::ALARM, 0),
        )
    };
    t.eq(a0, 0, "alarm0_returns_0");
    t.result(a5 == 0 && a0b == 5, "alarm_returns_seconds_left");

    // ITIMER_REAL with SIGALRM blocked: it fires, the signal waits.
    let set: u64 = 1 << (SIGALRM - 1);
    // SAFETY: the kernel reads the 8-byte set; no old set is asked for.
    let r = unsafe {
        syscall4(
            nr::RT_SIGPROCMASK,
            SIG_BLOCK,
            &set as *const u64 as usize,
            0,
            8,
        )
    };
    let it = Itimerval {
        interval: Timeval::default(),
        value: Timeval {
            sec: 0,
            usec: 20_000,
        },
    };
    let mut cur = Itimerval::default();
    // SAFETY: the kernel reads `it` and writes `cur`.
    let (s, g) = unsafe {
        (
            syscall3(
                nr::SETITIMER,
                ITIMER_REAL,
                &it as *const Itimerval as usize,
                0,
            ),
            syscall2(
                nr::GETITIMER,
                ITIMER_REAL,
                &mut cur as *mut Itimerval as usize,
            ),
        )
    };
    let left = cur.value.sec * 1_000_000 + cur.value.usec;
    t.result(
        r == 0 && s == 0 && g == 0 && left > 0 && left <= 20_000 && cur.interval.usec == 0,
        "itimer_real_armed",
    );
    let sl = nanosleep(100_000_000);
    let mut pending = 0u64;
    let mut after = Itimerval::default();
    // SAFETY: the kernel writes 8 bytes into `pending` and one itimerval into `after`.
    let (p, g2) = unsafe {
        (
            syscall2(nr::RT_SIGPENDING, &mut pending as *mut u64 as usize, 8),
            syscall2(
                nr::GETITIMER,
                ITIMER_REAL,
                &mut after as *mut Itimerval as usize,
            ),
        )
    };
    if pending & set == 0 {
        diag!("nanosleep returned {sl}; pending set {pending:#x}");
    }
    t.result(
        sl == 0 && p == 0 && pending & set != 0 && g2 == 0 && after.value.usec == 0,
        "itimer_real_fires_sigalrm",
    );

    t.finish()
}
