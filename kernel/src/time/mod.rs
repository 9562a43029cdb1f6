//! Time: the clocks behind clock_gettime and friends, and the per-process real-time interval
//! timer (alarm, ITIMER_REAL).
//!
//! **Monotonic clock.** The TSC, scaled to nanoseconds. The scale is measured, never assumed:
//! under QEMU TCG the TSC follows the host's, under `-icount` it counts guest instructions.
//! The first use of the clock starts sampling in the 1 ms timer tick ([`tick`]): every tick
//! for [`CAL_MIN`] samples (the caller waits for them, some 56 ms once per boot), then every
//! [`SPARSE_EVERY`]th. Each sample's period index counts the periods since the previous one,
//! measured in TSC counts, so a stall that swallowed ticks counts for all it lasted ([`Cal`]).
//! The reference period that counts them is measured once against the APIC timer's current
//! count, which runs whether or not its interrupts are delivered ([`tsc_per_period_from_apic`]):
//! the median of the first deltas, used before, is two periods when QEMU drops every other
//! tick throughout them (a loaded host), and the clock then ran at half speed for the whole
//! boot. The start rate is a line through the least late of the dense samples (ticks come late,
//! never early); least-squares over all samples refines it at [`CAL_MIN`]·2^k samples, up to
//! [`CAL_LAST`]. Each change of rate rebases the clock at the current TSC, so it never jumps
//! or goes back. (With interrupts off at first use it starts provisionally, from CPUID leaf
//! 0x15/0x16, or 1 GHz, and takes the measured rate as soon as there is one.) It starts at
//! the tick count × 1 ms; since QEMU drops ticks the guest could not take in time, it then
//! runs ahead of `sched::ticks()` (sleeps measured in ticks last longer, never shorter).
//! Before the first use, the tick costs one compare.
//!
//! **Realtime clock.** A boot epoch plus the monotonic clock: the CMOS RTC (ports 0x70/0x71)
//! read once at first use if it answers sanely; without one, boot is at [`FALLBACK_EPOCH`]
//! (2026-01-01 UTC).
//!
//! **ITIMER_REAL.** One deadline (and interval) per process. When the earliest one passes,
//! [`tick`] only wakes the timer thread: a timer interrupt
//! may not allocate or take the process locks that `signal::send_to_process` takes, since the
//! code it interrupted may hold them. The thread (a kernel task, started with the first armed
//! timer) sends SIGALRM and re-arms periodic timers.
//!
//! The parts: the rate estimate and the tick are here; `clock` reads the clocks, `rtc` reads
//! the CMOS RTC and converts dates, `itimer` runs ITIMER_REAL.

mod clock;
mod itimer;
mod rtc;

#[cfg(feature = "test-hooks")]
pub use clock::{BREAK_TSC_ORDER, clock_started};
pub use clock::{
    Calibration, coarse, deadline_after_ns, deadline_at_ns, monotonic_ns, realtime_ns, tsc_to_ns,
};
pub use itimer::{real_timer_get, real_timer_set};
pub use rtc::read_rtc;

use crate::sync::Mutex;
use clock::{STARTED, rdtsc, set_rate};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use itimer::{NEXT_DUE, TIMER_THREAD};

pub const NSEC_PER_SEC: u64 = 1_000_000_000;
const NSEC_PER_MS: u64 = 1_000_000;

/// Tick samples needed before the clock starts (unless it must start with interrupts off).
pub const CAL_MIN: u64 = 48;
/// After the first CAL_MIN samples, one every this many ticks: a long baseline refines the
/// slope as well as dense samples would, and the tick stays cheap (a sample costs ~100
/// instructions).
const SPARSE_EVERY: u64 = 32;
/// The rate is refined at 2·CAL_MIN, 4·CAL_MIN, … samples, up to this many (some 70 minutes of
/// sparse samples); then the tick stops sampling.
pub const CAL_LAST: u64 = 1 << 17;
/// Ticks a first reader waits at most for CAL_MIN samples.
const CAL_WAIT_TICKS: u64 = 8 * CAL_MIN;
/// The first this many deltas only give the reference period (their median).
const REF_SAMPLES: usize = 8;
/// The realtime epoch when no RTC answers: 2026-01-01T00:00:00Z.
pub const FALLBACK_EPOCH: u64 = 1_767_225_600;

/// The rate estimate: a least-squares line through (grid index, TSC) of the sampled ticks.
/// A sample's grid index is the previous one's plus its delta in reference periods, rounded:
/// a stall that swallowed ticks (QEMU keeps the timer on its grid and merges what the guest
/// missed) counts as the periods it lasted, and a late tick followed closely by the next one
/// leaves only the second on that grid point. The slope is the TSC rate per period (1 ms).
struct Cal {
    /// The tick count and TSC of the previous tick sampled.
    last_now: u64,
    last_tsc: u64,
    refs: [u64; REF_SAMPLES],
    nref: usize,
    /// TSC counts per period: the APIC-measured one (or the median of the first deltas), then
    /// the latest slope.
    period: u64,
    /// [`tsc_per_period_from_apic`], taken at the first sample.
    apic_period: Option<u64>,
    /// TSC at grid index 0.
    tsc0: u64,
    /// Grid index and TSC offset of the last sample.
    x: u64,
    y: u64,
    n: u64,
    sx: u128,
    sy: u128,
    sxx: u128,
    sxy: u128,
    /// The first CAL_MIN samples themselves, for the start estimate.
    pts: [(u64, u64); CAL_MIN as usize],
    npts: usize,
    /// Periods without a tick of their own; ticks that replaced a late predecessor.
    lost: u64,
    merged: u64,
    /// The sample count of the next refinement (u64::MAX: none).
    next_refine: u64,
}

impl Cal {
    const fn new() -> Self {
        Cal {
            last_now: 0,
            last_tsc: 0,
            refs: [0; REF_SAMPLES],
            nref: 0,
            period: 0,
            apic_period: None,
            tsc0: 0,
            x: 0,
            y: 0,
            n: 0,
            sx: 0,
            sy: 0,
            sxx: 0,
            sxy: 0,
            pts: [(0, 0); CAL_MIN as usize],
            npts: 0,
            lost: 0,
            merged: 0,
            next_refine: 2 * CAL_MIN,
        }
    }

    fn add(&mut self, x: u64, y: u64, sign: bool) {
        if sign && self.npts < self.pts.len() {
            self.pts[self.npts] = (x, y);
            self.npts += 1;
        } else if !sign && self.npts > 0 && self.pts[self.npts - 1] == (x, y) {
            self.npts -= 1;
        }
        let (x, y) = (x as u128, y as u128);
        if sign {
            self.n += 1;
            self.sx += x;
            self.sy += y;
            self.sxx += x * x;
            self.sxy += x * y;
        } else {
            self.n -= 1;
            self.sx -= x;
            self.sy -= y;
            self.sxx -= x * x;
            self.sxy -= x * y;
        }
    }

    /// TSC counts per period, once two grid points are known.
    fn slope(&self) -> Option<u64> {
        let n = self.n as u128;
        let den = (n * self.sxx).checked_sub(self.sx * self.sx)?;
        let num = (n * self.sxy).checked_sub(self.sx * self.sy)?;
        (den != 0 && num != 0).then(|| (num / den) as u64)
    }

    /// TSC counts per period from the stored first samples, robust to late ticks: a tick is
    /// never early, so the line is drawn through the least late sample of the first third and
    /// that of the last third (least late relative to the current slope estimate, starting
    /// from the least-squares one; two rounds settle it).
    fn envelope_slope(&self) -> Option<u64> {
        let pts = &self.pts[..self.npts];
        let third = pts.len() / 3;
        if third < 2 {
            return None;
        }
        let mut s = self.slope()? as i128;
        for _ in 0..3 {
            let least_late = |p: &[(u64, u64)]| {
                p.iter()
                    .min_by_key(|&&(x, y)| y as i128 - s * x as i128)
                    .copied()
            };
            let (a, b) = (
                least_late(&pts[..third])?,
                least_late(&pts[pts.len() - third..])?,
            );
            if b.0 <= a.0 || b.1 <= a.1 {
                return None;
            }
            let next = ((b.1 - a.1) / (b.0 - a.0)) as i128;
            if next == s {
                break;
            }
            s = next;
        }
        Some(s as u64)
    }

    /// Tick `now` at `tsc`. Returns a refined rate when one is due.
    fn sample(&mut self, now: u64, tsc: u64) -> Option<u64> {
        let prev = core::mem::replace(&mut self.last_tsc, tsc);
        let prev_now = core::mem::replace(&mut self.last_now, now);
        if prev == 0 || tsc <= prev || now <= prev_now || self.n >= CAL_LAST {
            return None;
        }
        let d = tsc - prev;
        if self.nref < REF_SAMPLES {
            self.refs[self.nref] = d / (now - prev_now);
            self.nref += 1;
            if self.nref == REF_SAMPLES {
                let mut r = self.refs;
                r.sort_unstable();
                self.period = self.apic_period.unwrap_or(r[REF_SAMPLES / 2]);
                self.tsc0 = tsc;
                self.add(0, 0, true);
            }
            return None;
        }
        let k = (d + self.period / 2) / self.period;
        let y = tsc - self.tsc0;
        if k == 0 {
            // The previous tick was late by over half a period and took this one's grid
            // point: this one is the better sample for it.
            self.add(self.x, self.y, false);
            self.merged += 1;
        } else {
            self.x += k;
            self.lost += k.saturating_sub(now - prev_now);
        }
        self.y = y;
        self.add(self.x, y, true);
        if self.n == CAL_MIN {
            // Dense samples end here: sparse ones need a period good to well under 1/32 to
            // count the periods between them.
            if let Some(p) = self.envelope_slope().or_else(|| self.slope()) {
                self.period = p;
            }
        }
        if self.n >= self.next_refine {
            self.next_refine = if self.n >= CAL_LAST {
                u64::MAX
            } else {
                self.n * 2
            };
            let s = if self.n <= CAL_MIN {
                self.envelope_slope().or_else(|| self.slope())?
            } else {
                self.slope()?
            };
            self.period = s;
            return STARTED.load(Ordering::Relaxed).then_some(s);
        }
        None
    }
}

/// Only touched with interrupts off; the tick only try-locks it.
static CAL: Mutex<Cal> = Mutex::new(Cal::new());

/// Test kernels, `kentry.break=clock_apic_ref`: the reference period is the median of the first
/// tick deltas, as before [`tsc_per_period_from_apic`] (the negative run of the boot test
/// `clock_rate_dropped_ticks`).
pub static BREAK_APIC_REFERENCE: AtomicBool = AtomicBool::new(false);

/// TSC counts per tick period (`TIMER_PERIOD` APIC timer counts, 1 ms), measured within one
/// period against the APIC timer's current count: (TSC, count) before and after a span of
/// [`APIC_SPAN`] counts. Both advance whatever the CPU does meanwhile, so a stall or a dropped
/// tick changes nothing. None if the timer does not count down at the tick's period (not yet
/// started, or the bench's fast timer), or if the span crossed a reload four times running.
/// Called from the tick, IRQs off: 200 µs once per boot.
fn tsc_per_period_from_apic() -> Option<u64> {
    if BREAK_APIC_REFERENCE.load(Ordering::Relaxed) {
        return None;
    }
    let period = u64::from(crate::TIMER_PERIOD);
    for _ in 0..4 {
        let t0 = rdtsc();
        let c0 = crate::x86::apic::timer_current_count();
        if c0 <= APIC_SPAN || u64::from(c0) > period {
            return None;
        }
        let (t1, c1) = loop {
            let c1 = crate::x86::apic::timer_current_count();
            let t1 = rdtsc();
            if c1 > c0 || c0 - c1 >= APIC_SPAN || t1.wrapping_sub(t0) > 1 << 32 {
                break (t1, c1);
            }
            core::hint::spin_loop();
        };
        if c1 < c0 && c0 - c1 >= APIC_SPAN {
            return Some((t1 - t0) * period / u64::from(c0 - c1));
        }
    }
    None
}

/// APIC timer counts (ns under QEMU) the reference measurement spans.
const APIC_SPAN: u32 = 200_000;

/// The next tick with work for [`tick`]: a calibration sample or a timer due. One compare on
/// every other tick.
static NEXT_TICK_WORK: AtomicU64 = AtomicU64::new(u64::MAX);
/// Set by the clock's first use: until then the tick samples nothing.
static SAMPLING: AtomicBool = AtomicBool::new(false);

/// Called on every timer tick (1 ms) with interrupts off. No allocation, no waiting on locks.
#[inline]
pub fn tick(now: u64) {
    if now >= NEXT_TICK_WORK.load(Ordering::Relaxed) {
        tick_work(now);
    }
}

/// Test kernels, `kentry.test_rate_step=N`: at the Nth read of a process's CPU time
/// (getrusage, times) the clock's rate doubles (half the nanoseconds per TSC count), a
/// larger change than a calibration refinement makes but of the same kind (the
/// `nohz_full_rate_step` boot test: CPU time pending on a nohz_full CPU must not go
/// backwards when the rate changes under it). 0: never.
#[cfg(feature = "test-hooks")]
static RATE_STEP_AT: AtomicU64 = AtomicU64::new(0);

/// Reads `kentry.test_rate_step=` (test kernels, at boot).
#[cfg(feature = "test-hooks")]
pub fn test_hooks_init(cmdline: &str) {
    if let Some(n) =
        crate::boot::cmdline_value(cmdline, "kentry.test_rate_step").and_then(|v| v.parse().ok())
    {
        crate::klog!("test hook: the clock's rate doubles at CPU-time read {n}");
        RATE_STEP_AT.store(n, Ordering::Relaxed);
    }
}

/// Test kernels: counts a read of a process's CPU time (in its syscall, interrupts on) and
/// doubles the clock's rate at the one `kentry.test_rate_step` names.
#[cfg(feature = "test-hooks")]
pub fn test_rate_step_read() {
    static READS: AtomicU64 = AtomicU64::new(0);
    let at = RATE_STEP_AT.load(Ordering::Relaxed);
    if at != 0 && READS.fetch_add(1, Ordering::Relaxed) + 1 == at {
        clock::double_rate();
        crate::klog!("test hook: the clock's rate doubled at CPU-time read {at}");
    }
}

#[inline(never)]
fn tick_work(now: u64) {
    let next_sample = if SAMPLING.load(Ordering::Relaxed) {
        sample(now)
    } else {
        u64::MAX
    };
    if now >= NEXT_DUE.load(Ordering::Relaxed) {
        NEXT_DUE.store(u64::MAX, Ordering::Relaxed);
        if let Some(t) = TIMER_THREAD.get() {
            crate::sched::wake(t);
        }
    }
    NEXT_TICK_WORK.store(
        next_sample.min(NEXT_DUE.load(Ordering::Relaxed)),
        Ordering::Relaxed,
    );
}

/// Samples the TSC at tick `now` if a sample is due: every tick for the first CAL_MIN, then
/// every SPARSE_EVERY ticks. Returns the tick of the next sample (u64::MAX: none).
fn sample(now: u64) -> u64 {
    let sparse_next = (now / SPARSE_EVERY + 1) * SPARSE_EVERY;
    // Never contended on one CPU; if it were, the next tick tries again.
    let Some(mut c) = CAL.try_lock() else {
        return now + 1;
    };
    if c.n >= CAL_LAST {
        return u64::MAX;
    }
    if c.n >= CAL_MIN && !now.is_multiple_of(SPARSE_EVERY) {
        return sparse_next; // woken early for a timer
    }
    if c.nref == 0 && c.last_tsc == 0 {
        c.apic_period = tsc_per_period_from_apic();
    }
    let refined = c.sample(now, rdtsc());
    let next = if c.n >= CAL_LAST {
        u64::MAX
    } else if c.n < CAL_MIN {
        now + 1
    } else {
        sparse_next
    };
    drop(c);
    if let Some(rate) = refined {
        set_rate(rate, None);
    }
    next
}

/// A timer is due at tick `deadline`: make sure the tick looks then. Interrupts off.
fn due_at(deadline: u64) {
    NEXT_DUE.fetch_min(deadline, Ordering::Relaxed);
    NEXT_TICK_WORK.fetch_min(deadline, Ordering::Relaxed);
}
