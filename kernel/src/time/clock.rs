//! The clocks: the TSC scaled by the measured rate under a sequence lock (monotonic), the
//! boot epoch (realtime), their first start, sleep deadlines in ticks, and the calibration
//! report.

use super::rtc::{civil_from_unix, read_rtc};
use super::{
    CAL, CAL_LAST, CAL_MIN, CAL_WAIT_TICKS, FALLBACK_EPOCH, NEXT_TICK_WORK, NSEC_PER_MS,
    NSEC_PER_SEC, SAMPLING,
};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use x86_64::instructions::interrupts;

// --- The clock: ns = base_ns + ((tsc - base_tsc) * mult) >> 32, under a sequence lock. ---

static SEQ: AtomicU64 = AtomicU64::new(0);
static BASE_TSC: AtomicU64 = AtomicU64::new(0);
static BASE_NS: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC count, 32.32 fixed point.
static MULT: AtomicU64 = AtomicU64::new(0);
/// TSC counts per millisecond the clock runs at (for reports).
static RATE: AtomicU64 = AtomicU64::new(0);
pub(super) static STARTED: AtomicBool = AtomicBool::new(false);
/// Realtime at monotonic 0, in ns.
static EPOCH_NS: AtomicU64 = AtomicU64::new(0);
/// Whether EPOCH_NS is set (the vDSO may answer).
static EPOCH_KNOWN: AtomicBool = AtomicBool::new(false);
/// Where the epoch came from.
static EPOCH_FROM_RTC: AtomicBool = AtomicBool::new(false);

/// The TSC, ordered after earlier loads.
#[inline]
pub(super) fn rdtsc() -> u64 {
    // SAFETY: lfence and rdtsc have no side effects.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// `f(base_tsc, base_ns, mult)` on one consistent triple: run inside one even SEQ window,
/// again if a writer changed the triple meanwhile. Whatever `f` reads (a TSC) is inside that
/// window too.
#[inline(always)]
fn in_window<T>(f: impl Fn(u64, u64, u64) -> T) -> T {
    loop {
        let s = SEQ.load(Ordering::Acquire);
        if s & 1 != 0 {
            core::hint::spin_loop();
            continue;
        }
        let v = f(
            BASE_TSC.load(Ordering::Relaxed),
            BASE_NS.load(Ordering::Relaxed),
            MULT.load(Ordering::Relaxed),
        );
        core::sync::atomic::fence(Ordering::Acquire);
        if SEQ.load(Ordering::Relaxed) == s {
            return v;
        }
    }
}

/// The clock's reading now: the triple and a TSC read inside the same window.
#[inline]
fn snapshot_ns() -> u64 {
    in_window(|bt, bn, m| {
        let tsc = rdtsc();
        // The re-read of SEQ after the TSC is read, not before (loads may pass RDTSC): a TSC
        // later than a writer's new base then sees its odd SEQ (`set_rate`).
        // SAFETY: lfence has no side effects.
        unsafe { core::arch::x86_64::_mm_lfence() };
        scale(bt, bn, m, tsc)
    })
}

#[inline]
fn scale(bt: u64, bn: u64, m: u64, tsc: u64) -> u64 {
    let d = tsc.saturating_sub(bt) as u128;
    bn + ((d * m as u128) >> 32) as u64
}

/// Changes the rate to `per_ms` TSC counts per millisecond, continuously: the clock keeps its
/// current value at the current TSC. The first call starts the clock at `first`'s tick count
/// (× 1 ms) at its TSC, or at the current tick count if there is none.
///
/// The TSC the new base starts at is read inside both sequence windows (the kernel's and the
/// vvar page's), after a full fence, so that a reader anywhere either read an older TSC
/// (its time from the old rate is at most the new base) or sees a window open and retries.
/// A TSC read before the windows open lets a reader on another CPU compute, at a TSC past
/// the new base, a time the new rate reaches only later when the rate rises (the clock slows):
/// its next reading goes back (the provisional 1 GHz start refined to a host's 2.8 GHz did
/// that by up to tens of microseconds; `kentry.break=clock_tsc_order` restores it).
pub(super) fn set_rate(per_ms: u64, first: Option<(u64, u64)>) {
    if per_ms == 0 {
        return;
    }
    let mult = ((NSEC_PER_MS as u128) << 32) / per_ms as u128;
    let mult = mult.min(u64::MAX as u128) as u64;
    interrupts::without_interrupts(|| {
        #[cfg(feature = "test-hooks")]
        let early_tsc = BREAK_TSC_ORDER.load(Ordering::Relaxed).then(|| {
            let tsc = rdtsc();
            widen_rate_window();
            tsc
        });
        let s = SEQ.load(Ordering::Relaxed);
        SEQ.store(s + 1, Ordering::Relaxed);
        let vvar = crate::vdso::ClockWrite::begin();
        // MFENCE (and LFENCE in rdtsc): both odd stores are visible to every CPU before the
        // TSC is read (SDM, RDTSC: "MFENCE; LFENCE" orders it after earlier stores).
        core::sync::atomic::fence(Ordering::SeqCst);
        #[cfg(feature = "test-hooks")]
        let tsc = early_tsc.unwrap_or_else(|| {
            let tsc = rdtsc();
            widen_rate_window();
            tsc
        });
        #[cfg(not(feature = "test-hooks"))]
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
        vvar.publish(tsc, now, mult, epoch());
        SEQ.store(s + 2, Ordering::Release);
    });
}

/// Test kernels, `kentry.break=clock_tsc_order`: `set_rate` reads its TSC before opening the
/// sequence windows (the order before the fix), so readers on other CPUs go on with the old
/// rate past the new base.
#[cfg(feature = "test-hooks")]
pub static BREAK_TSC_ORDER: AtomicBool = AtomicBool::new(false);

/// Test kernels: whether the next `set_rate` spins after reading its TSC
/// ([`widen_rate_window`]).
#[cfg(feature = "test-hooks")]
static WIDEN: AtomicBool = AtomicBool::new(false);

/// Test kernels: calls of [`monotonic_ns`] begun (counted before they read anything).
#[cfg(feature = "test-hooks")]
static READS_BEGUN: AtomicU64 = AtomicU64::new(0);

/// Test kernels: after `set_rate`'s TSC read, when [`WIDEN`] asks, spins at least 2 ms and
/// until another CPU has shown it runs (two clock reads begun, or two interrupts taken), at
/// most 500 ms, so that a reader there surely reads the clock then: inside the windows it
/// retries (in the vDSO or the syscall, where only its interrupts show it runs); with
/// `BREAK_TSC_ORDER` it reads the old rate at a TSC past the new base. Time alone would not
/// do: on a loaded host a vCPU's thread can sit out a few milliseconds. This CPU, with
/// interrupts off, adds to neither count.
#[cfg(feature = "test-hooks")]
fn widen_rate_window() {
    if !WIDEN.swap(false, Ordering::Relaxed) {
        return;
    }
    let irqs_taken = || -> u64 {
        crate::smp::ipi::online_cpus()
            .filter(|&(cpu, _)| cpu != crate::smp::this_cpu_id())
            .map(|(_, pc)| {
                let c = &pc.counters;
                c.irq_from_user.load(Ordering::Relaxed) + c.irq_from_kernel.load(Ordering::Relaxed)
            })
            .sum()
    };
    let per_ms = RATE.load(Ordering::Relaxed).max(1_000_000);
    let (t0, r0, u0) = (rdtsc(), READS_BEGUN.load(Ordering::Relaxed), irqs_taken());
    loop {
        let spun = rdtsc().wrapping_sub(t0);
        let reads = READS_BEGUN.load(Ordering::Relaxed) - r0;
        let irqs = irqs_taken() - u0;
        if (spun >= 2 * per_ms && (reads >= 2 || irqs >= 2)) || spun >= 500 * per_ms {
            WIDENED_RUNS.store(reads + irqs, Ordering::Relaxed);
            return;
        }
        core::hint::spin_loop();
    }
}

/// Test kernels: clock reads begun and interrupts taken by other CPUs inside the last
/// widened window.
#[cfg(feature = "test-hooks")]
static WIDENED_RUNS: AtomicU64 = AtomicU64::new(0);

/// Test kernels (`kentry.test_rate_step`): the rate doubles now, as `set_rate` changes it
/// (continuously), with the writer spinning after its TSC read (`widen_rate_window`).
#[cfg(feature = "test-hooks")]
pub(super) fn double_rate() {
    WIDEN.store(true, Ordering::Relaxed);
    set_rate(RATE.load(Ordering::Relaxed) * 2, None);
    if WIDENED_RUNS.load(Ordering::Relaxed) != 0 {
        crate::klog!("test hook: other CPUs ran inside the rate change's window");
    }
}

/// The realtime offset the vvar page may publish: `None` until the first start has set the
/// epoch (after its first rate), so that until then the vDSO keeps making the syscall.
fn epoch() -> Option<u64> {
    EPOCH_KNOWN
        .load(Ordering::Relaxed)
        .then(|| EPOCH_NS.load(Ordering::Relaxed))
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
        EPOCH_KNOWN.store(true, Ordering::Relaxed);
        // The same parameters, now with the epoch: no new TSC base, so no window to order.
        crate::vdso::ClockWrite::begin().publish(
            BASE_TSC.load(Ordering::Relaxed),
            BASE_NS.load(Ordering::Relaxed),
            MULT.load(Ordering::Relaxed),
            epoch(),
        );
    });
    crate::klog!("time: {}", Calibration::now());
}

/// Nanoseconds since the timer started (CLOCK_MONOTONIC, _RAW and BOOTTIME).
pub fn monotonic_ns() -> u64 {
    if !STARTED.load(Ordering::Relaxed) {
        start();
    }
    #[cfg(feature = "test-hooks")]
    READS_BEGUN.fetch_add(1, Ordering::Relaxed);
    snapshot_ns()
}

/// Whether the clock runs (its first use has started it): until then reading it starts it,
/// which takes the calibration's lock (test kernels' lockup detector, lockcheck.rs).
#[cfg(feature = "test-hooks")]
pub fn clock_started() -> bool {
    STARTED.load(Ordering::Relaxed)
}

/// The monotonic clock's reading at TSC `tsc` (read a moment ago, on this CPU or another),
/// from the clock's current parameters: the same nanoseconds [`monotonic_ns`] gave or gives
/// at that TSC, so that differences of these readings are continuous across a change of
/// rate (nohz_full's CPU-time accounting converts its TSC windows with it: `nohz::vtime`).
/// A TSC from before the last change of rate reads as that change's moment. Starts the
/// clock if nothing has yet (with interrupts off, provisionally; see `start`).
pub fn tsc_to_ns(tsc: u64) -> u64 {
    if !STARTED.load(Ordering::Relaxed) {
        start();
    }
    in_window(|bt, bn, m| scale(bt, bn, m, tsc))
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
