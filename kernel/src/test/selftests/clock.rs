//! The monotonic clock against the CMOS RTC, which QEMU runs from the host's time: two RTC
//! seconds must last 2 s of CLOCK_MONOTONIC, within 10 % (a vCPU the host leaves without time
//! for a moment reads an edge late). Run alone (`kentry.only=`): it takes some 3 s. The boot
//! test `clock_rate_dropped_ticks` runs it with every other one of the
//! first 400 ticks dropped (`kentry.drop_ticks=`, as QEMU drops them on a loaded host); its
//! negative run measures the reference period from the delivered ticks instead of the APIC
//! timer's count and must fail here.

use super::{Ctx, Outcome};
use crate::time::{NSEC_PER_SEC, monotonic_ns, read_rtc};

/// The RTC's seconds change: the monotonic time then (polled: one read is some µs).
fn next_rtc_second() -> Option<u64> {
    let s0 = read_rtc()?;
    let t0 = monotonic_ns();
    loop {
        let s = read_rtc()?;
        if s != s0 {
            return Some(monotonic_ns());
        }
        if monotonic_ns() - t0 > 5 * NSEC_PER_SEC {
            return None;
        }
        core::hint::spin_loop();
    }
}

pub fn clock_against_rtc(_: &Ctx) -> Outcome {
    if read_rtc().is_none() {
        return Outcome::Skip("no CMOS RTC answers");
    }
    // The calibration's dense samples first (and the dropped ticks of the boot test).
    crate::sched::sleep_until(crate::sched::ticks() + 300);
    let Some(t0) = next_rtc_second() else {
        return Outcome::Fail("the RTC's seconds did not move for 5 s of the clock".into());
    };
    let t1 = next_rtc_second().and_then(|_| next_rtc_second());
    let Some(t1) = t1 else {
        return Outcome::Fail("the RTC's seconds did not move for 5 s of the clock".into());
    };
    let ms = (t1 - t0) / 1_000_000;
    crate::kprint!("# clock_against_rtc: 2 RTC seconds took {ms} ms of CLOCK_MONOTONIC\n");
    if !(1800..=2200).contains(&ms) {
        return Outcome::Fail(alloc::format!(
            "2 RTC seconds took {ms} ms of CLOCK_MONOTONIC, not 2000 (within 10 %)"
        ));
    }
    Outcome::Pass
}
