//! Time: the clocks behind clock_gettime and friends, and the per-process real-time interval
//! timer (alarm, ITIMER_REAL).
//!
//! **Monotonic clock.** The TSC, scaled to nanoseconds. The scale is measured, never assumed:
//! under QEMU TCG the TSC follows the host's, under `-icount` it counts guest instructions.
//! The first use of the clock starts sampling in the 1 ms timer tick ([`tick`]): every tick
//! for [`CAL_MIN`] samples (the caller waits for them, some 56 ms once per boot), then every
//! [`SPARSE_EVERY`]th. Each sample's period index counts the periods since the previous one,
//! measured in TSC counts, so a stall that swallowed ticks counts for all it lasted ([`Cal`]).
//! The start rate is a line through the least late of the dense samples (ticks come late,
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

use crate::task::{TaskRef, TaskState};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::{Mutex, Once};
use x86_64::instructions::interrupts;

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
    /// TSC counts per period: the median of the first deltas, then the latest slope.
    period: u64,
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
                self.period = r[REF_SAMPLES / 2];
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

// --- The clock: ns = base_ns + ((tsc - base_tsc) * mult) >> 32, under a sequence lock. ---

static SEQ: AtomicU64 = AtomicU64::new(0);
static BASE_TSC: AtomicU64 = AtomicU64::new(0);
static BASE_NS: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC count, 32.32 fixed point.
static MULT: AtomicU64 = AtomicU64::new(0);
/// TSC counts per millisecond the clock runs at (for reports).
static RATE: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);
/// Realtime at monotonic 0, in ns.
static EPOCH_NS: AtomicU64 = AtomicU64::new(0);
/// Where the epoch came from.
static EPOCH_FROM_RTC: AtomicBool = AtomicBool::new(false);

/// The TSC, ordered after earlier loads.
#[inline]
fn rdtsc() -> u64 {
    // SAFETY: lfence and rdtsc have no side effects.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

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

/// (base_tsc, base_ns, mult) as one consistent triple, and a TSC read inside the same window.
#[inline]
fn snapshot() -> (u64, u64, u64, u64) {
    loop {
        let s = SEQ.load(Ordering::Acquire);
        if s & 1 != 0 {
            core::hint::spin_loop();
            continue;
        }
        let bt = BASE_TSC.load(Ordering::Relaxed);
        let bn = BASE_NS.load(Ordering::Relaxed);
        let m = MULT.load(Ordering::Relaxed);
        let tsc = rdtsc();
        core::sync::atomic::fence(Ordering::Acquire);
        if SEQ.load(Ordering::Relaxed) == s {
            return (bt, bn, m, tsc);
        }
    }
}

#[inline]
fn scale(bt: u64, bn: u64, m: u64, tsc: u64) -> u64 {
    let d = tsc.saturating_sub(bt) as u128;
    bn + ((d * m as u128) >> 32) as u64
}

/// Changes the rate to `per_ms` TSC counts per millisecond, continuously: the clock keeps its
/// current value at the current TSC. The first call starts the clock at `first`'s tick count
/// (× 1 ms) at its TSC, or at the current tick count if there is none.
fn set_rate(per_ms: u64, first: Option<(u64, u64)>) {
    if per_ms == 0 {
        return;
    }
    let mult = ((NSEC_PER_MS as u128) << 32) / per_ms as u128;
    let mult = mult.min(u64::MAX as u128) as u64;
    interrupts::without_interrupts(|| {
        let s = SEQ.load(Ordering::Relaxed);
        SEQ.store(s + 1, Ordering::Relaxed);
        core::sync::atomic::fence(Ordering::Release);
        let tsc = rdtsc();
        let now = if STARTED.load(Ordering::Relaxed) {
            scale(
                BASE_TSC.load(Ordering::Relaxed),
                BASE_NS.load(Ordering::Relaxed),
                MULT.load(Ordering::Relaxed),
                tsc,
            )
        } else {
            // First start: the tick count of the last sample, plus the time since.
            match first {
                Some((now, at)) if at <= tsc => scale(at, now * NSEC_PER_MS, mult, tsc),
                _ => crate::sched::ticks() * NSEC_PER_MS,
            }
        };
        BASE_TSC.store(tsc, Ordering::Relaxed);
        BASE_NS.store(now, Ordering::Relaxed);
        MULT.store(mult, Ordering::Relaxed);
        RATE.store(per_ms, Ordering::Relaxed);
        STARTED.store(true, Ordering::Relaxed);
        SEQ.store(s + 2, Ordering::Release);
    });
}

/// TSC Hz from CPUID leaf 0x15 (crystal × ratio) or 0x16 (base MHz), if the CPU says.
pub fn cpuid_tsc_hz() -> Option<u64> {
    let id = raw_cpuid::CpuId::new();
    if let Some(t) = id.get_tsc_info()
        && let Some(hz) = t.tsc_frequency()
        && hz != 0
    {
        return Some(hz);
    }
    id.get_processor_frequency_info()
        .map(|f| f.processor_base_frequency() as u64 * 1_000_000)
        .filter(|&hz| hz != 0)
}

/// Samples so far.
fn samples() -> u64 {
    interrupts::without_interrupts(|| CAL.lock().n)
}

/// Starts the clock (first use): see the module comment.
#[cold]
fn start() {
    // Start sampling, and wait for enough samples if interrupts can bring them (some 56 ms,
    // once per boot; nothing is sampled before, so the tick costs nothing in programs that
    // never read a clock). Until the first tick shows the
    // timer runs, spin (bounded by 2^31 TSC counts); then halt between ticks (under -icount
    // sleep=off, time skips ahead to the next one).
    interrupts::without_interrupts(|| {
        if !SAMPLING.swap(true, Ordering::Relaxed) {
            NEXT_TICK_WORK.store(0, Ordering::Relaxed);
        }
    });
    if interrupts::are_enabled() {
        let t0 = rdtsc();
        while crate::sched::ticks() == 0 && rdtsc().wrapping_sub(t0) < 1 << 31 {
            core::hint::spin_loop();
        }
        if crate::sched::ticks() != 0 {
            let until = crate::sched::ticks() + CAL_WAIT_TICKS;
            while samples() < CAL_MIN && crate::sched::ticks() < until {
                x86_64::instructions::hlt();
            }
        }
    }
    interrupts::without_interrupts(|| {
        if STARTED.load(Ordering::Relaxed) {
            return;
        }
        let per_ms = {
            let mut c = CAL.lock();
            let measured = c.envelope_slope().or_else(|| c.slope());
            let per_ms = match measured {
                Some(s) if c.n >= CAL_MIN => s,
                _ => match cpuid_tsc_hz() {
                    Some(hz) => hz / 1000,
                    // 1 GHz: QEMU's nominal TSC rate (and -icount shift=0's).
                    None => measured.unwrap_or(1_000_000),
                },
            };
            // Refine at the next power-of-two multiple of CAL_MIN past what we have (at
            // CAL_MIN itself if this start is provisional).
            let mut next = CAL_MIN;
            while next <= c.n {
                next *= 2;
            }
            c.next_refine = if next > CAL_LAST { u64::MAX } else { next };
            (
                per_ms,
                (c.last_tsc != 0).then_some((c.last_now, c.last_tsc)),
            )
        };
        set_rate(per_ms.0, per_ms.1);
        // The RTC tells the time now; without one, boot happened at the fixed epoch.
        let epoch_ns = match read_rtc() {
            Some(secs) => {
                EPOCH_FROM_RTC.store(true, Ordering::Relaxed);
                (secs * NSEC_PER_SEC).saturating_sub(monotonic_ns())
            }
            None => FALLBACK_EPOCH * NSEC_PER_SEC,
        };
        EPOCH_NS.store(epoch_ns, Ordering::Relaxed);
    });
    crate::klog!("time: {}", Calibration::now());
}

/// Nanoseconds since the timer started (CLOCK_MONOTONIC, _RAW and BOOTTIME).
pub fn monotonic_ns() -> u64 {
    if !STARTED.load(Ordering::Relaxed) {
        start();
    }
    let (bt, bn, m, tsc) = snapshot();
    scale(bt, bn, m, tsc)
}

/// Nanoseconds since 1970-01-01T00:00:00Z (CLOCK_REALTIME).
pub fn realtime_ns() -> u64 {
    let mono = monotonic_ns();
    EPOCH_NS.load(Ordering::Relaxed) + mono
}

/// The coarse clocks: the fine ones truncated to the tick (1 ms).
pub fn coarse(ns: u64) -> u64 {
    ns - ns % NSEC_PER_MS
}

/// The tick count at which a sleep of `ns` from now is over (never early: a sleep that starts
/// part-way through a tick gets one more tick).
pub fn deadline_after_ns(ns: u64) -> u64 {
    crate::sched::ticks()
        .saturating_add(ns.div_ceil(NSEC_PER_MS))
        .saturating_add(1)
}

/// The tick count by which the monotonic clock has passed `abs_ns` (TIMER_ABSTIME sleeps and
/// absolute futex timeouts on CLOCK_MONOTONIC); `realtime` for CLOCK_REALTIME deadlines.
pub fn deadline_at_ns(abs_ns: u64, realtime: bool) -> u64 {
    let now = if realtime {
        realtime_ns()
    } else {
        monotonic_ns()
    };
    if abs_ns <= now {
        crate::sched::ticks()
    } else {
        deadline_after_ns(abs_ns - now)
    }
}

/// What the clock runs on, for logs and reports.
pub struct Calibration {
    /// TSC counts per millisecond the clock runs at.
    pub tsc_per_ms: u64,
    /// Tick samples behind it, periods that had no tick, ticks merged into their successor.
    pub samples: u64,
    pub lost: u64,
    pub merged: u64,
    pub cpuid_hz: Option<u64>,
    /// Realtime at monotonic 0 (Unix seconds), and whether the RTC gave it.
    pub epoch: u64,
    pub epoch_from_rtc: bool,
}

impl Calibration {
    pub fn now() -> Self {
        let (samples, lost, merged) = interrupts::without_interrupts(|| {
            let c = CAL.lock();
            (c.n, c.lost, c.merged)
        });
        Calibration {
            tsc_per_ms: RATE.load(Ordering::Relaxed),
            samples,
            lost,
            merged,
            cpuid_hz: cpuid_tsc_hz(),
            epoch: EPOCH_NS.load(Ordering::Relaxed) / NSEC_PER_SEC,
            epoch_from_rtc: EPOCH_FROM_RTC.load(Ordering::Relaxed),
        }
    }
}

impl core::fmt::Display for Calibration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (y, mo, d, h, mi, s) = civil_from_unix(self.epoch);
        write!(
            f,
            "TSC {}.{:03} MHz from {} ticks ({} periods without a tick, {} late ticks merged); \
             CPUID 0x15/0x16: ",
            self.tsc_per_ms / 1000,
            self.tsc_per_ms % 1000,
            self.samples,
            self.lost,
            self.merged
        )?;
        match self.cpuid_hz {
            Some(hz) => write!(f, "{}.{:03} MHz", hz / 1_000_000, hz / 1000 % 1000)?,
            None => f.write_str("none")?,
        }
        write!(
            f,
            "; boot epoch {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC ({})",
            if self.epoch_from_rtc {
                "CMOS RTC"
            } else {
                "fixed: no RTC"
            }
        )
    }
}

// --- The CMOS RTC ---

fn cmos(reg: u8) -> u8 {
    use x86_64::instructions::port::Port;
    // SAFETY: the CMOS index/data ports; reading a register has no other effect. NMIs stay
    // enabled (bit 7 clear), as Linux leaves them.
    unsafe {
        Port::<u8>::new(0x70).write(reg & 0x7f);
        Port::<u8>::new(0x71).read()
    }
}

/// The RTC's time as Unix seconds, if an RTC answers with a plausible date (2000–2099).
pub fn read_rtc() -> Option<u64> {
    let read = || -> Option<[u8; 7]> {
        // Wait out an update in progress (it lasts under 2 ms).
        let mut spins = 0;
        while cmos(0x0a) & 0x80 != 0 {
            spins += 1;
            if spins > 100_000 {
                return None;
            }
        }
        Some([
            cmos(0x00),
            cmos(0x02),
            cmos(0x04),
            cmos(0x07),
            cmos(0x08),
            cmos(0x09),
            cmos(0x0b),
        ])
    };
    let mut a = read()?;
    for _ in 0..5 {
        let b = read()?;
        if a == b {
            break;
        }
        a = b;
    }
    let [sec, min, hour, day, mon, year, status_b] = a;
    if status_b == 0xff {
        return None; // nothing on the port
    }
    let bcd = status_b & 0x04 == 0;
    let conv = |v: u8| -> u8 { if bcd { (v >> 4) * 10 + (v & 0x0f) } else { v } };
    let pm = status_b & 0x02 == 0 && hour & 0x80 != 0;
    let mut h = conv(hour & 0x7f);
    if status_b & 0x02 == 0 {
        // 12-hour mode: 12 AM is 0, 12 PM is 12.
        h %= 12;
        if pm {
            h += 12;
        }
    }
    let (s, mi, d, mo, y) = (conv(sec), conv(min), conv(day), conv(mon), conv(year));
    if s > 59 || mi > 59 || h > 23 || !(1..=31).contains(&d) || !(1..=12).contains(&mo) || y > 99 {
        return None;
    }
    let days = days_from_civil(2000 + y as i64, mo as u32, d as u32);
    Some(days as u64 * 86_400 + h as u64 * 3600 + mi as u64 * 60 + s as u64)
}

/// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds → (year, month, day, hour, minute, second), UTC.
pub fn civil_from_unix(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    )
}

// --- ITIMER_REAL (alarm, setitimer) ---

/// One process's real-time timer.
#[derive(Clone, Copy, Default)]
struct RealTimer {
    /// Tick at which it fires (0: disarmed): the first tick at or past `deadline_ns`.
    deadline: u64,
    /// The monotonic time it is due.
    deadline_ns: u64,
    /// Re-arm period (0: one-shot).
    interval_ns: u64,
}

/// Armed timers by pid. Taken with interrupts off (never by the tick itself).
static TIMERS: Mutex<BTreeMap<u32, RealTimer>> = Mutex::new(BTreeMap::new());
/// The earliest armed deadline in ticks (u64::MAX: none): all the tick looks at.
static NEXT_DUE: AtomicU64 = AtomicU64::new(u64::MAX);
static TIMER_THREAD: Once<TaskRef> = Once::new();

/// Process `pid`'s ITIMER_REAL as (value µs left, interval µs); (0, 0) when disarmed. A timer
/// that is due but not yet delivered still has 1 µs left, as on Linux.
pub fn real_timer_get(pid: u32) -> (u64, u64) {
    let now = monotonic_ns();
    interrupts::without_interrupts(|| {
        TIMERS.lock().get(&pid).map_or((0, 0), |t| {
            let left = t.deadline_ns.saturating_sub(now).div_ceil(1000).max(1);
            (left, t.interval_ns.div_ceil(1000))
        })
    })
}

/// Sets process `pid`'s ITIMER_REAL to fire in `value_us` (0: disarm) and then every
/// `interval_us`; returns the old (value µs, interval µs).
pub fn real_timer_set(pid: u32, value_us: u64, interval_us: u64) -> (u64, u64) {
    let now = monotonic_ns();
    let value_ns = value_us.saturating_mul(1000);
    let t = RealTimer {
        deadline: if value_us == 0 {
            0
        } else {
            deadline_after_ns(value_ns)
        },
        deadline_ns: now.saturating_add(value_ns),
        interval_ns: interval_us.saturating_mul(1000),
    };
    if t.deadline != 0 {
        start_timer_thread();
    }
    let old = real_timer_get(pid);
    interrupts::without_interrupts(|| {
        let mut timers = TIMERS.lock();
        if t.deadline == 0 {
            timers.remove(&pid);
        } else {
            timers.insert(pid, t);
            due_at(t.deadline);
        }
    });
    old
}

fn start_timer_thread() {
    TIMER_THREAD.call_once(|| {
        let t = crate::task::Task::new_kernel(
            0,
            crate::process::kernel_process(),
            "timer thread stack",
            timer_thread,
        );
        crate::sched::spawn(t.clone());
        t
    });
}

/// The timer thread: sends SIGALRM for every due ITIMER_REAL, re-arms the periodic ones,
/// then sleeps until the tick sees the next deadline pass.
extern "C" fn timer_thread() -> ! {
    crate::sched::kernel_thread_prologue();
    let me = crate::sched::current_ref();
    let mut due: Vec<u32> = Vec::new();
    loop {
        let now = crate::sched::ticks();
        due.clear();
        interrupts::without_interrupts(|| {
            let mut timers = TIMERS.lock();
            for (&pid, t) in timers.iter_mut() {
                if t.deadline != 0 && t.deadline <= now {
                    due.push(pid);
                    let mono = monotonic_ns();
                    let late = mono.saturating_sub(t.deadline_ns);
                    match late.checked_div(t.interval_ns) {
                        None => t.deadline = 0,
                        // Expirations missed meanwhile coalesce into this one signal.
                        Some(missed) => {
                            t.deadline_ns += (missed + 1) * t.interval_ns;
                            t.deadline = deadline_after_ns(t.deadline_ns - mono);
                        }
                    }
                }
            }
            timers.retain(|_, t| t.deadline != 0);
        });
        for &pid in &due {
            match crate::process::find(pid) {
                Some(p) if !p.exiting.load(Ordering::Acquire) && p.exit_reason().is_none() => {
                    crate::signal::send_to_process(&p, crate::signal::SIGALRM)
                }
                // Gone: its periodic timer goes too.
                _ => interrupts::without_interrupts(|| {
                    TIMERS.lock().remove(&pid);
                }),
            }
        }
        interrupts::disable();
        let next = TIMERS
            .lock()
            .values()
            .map(|t| t.deadline)
            .min()
            .unwrap_or(u64::MAX);
        NEXT_DUE.store(next, Ordering::Relaxed);
        NEXT_TICK_WORK.fetch_min(next, Ordering::Relaxed);
        // Interrupts stay off from the check to the switch, so the tick that passes `next`
        // finds this task blocked and wakes it.
        if crate::sched::ticks() < next {
            me.set_state(TaskState::Blocked);
            crate::sched::schedule();
        }
        interrupts::enable();
    }
}
