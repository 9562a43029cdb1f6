//! nohz_full CPU-time arithmetic (the kernel's `nohz::vtime`): how a CPU's user-time
//! accumulator and its last fold's TSC split the time since that fold into kernel and user
//! time.
//!
//! The accumulator's contract, kept by the kernel's transition `asm!` blocks: at each entry
//! from user mode `acc += tsc | 1`, at each return to user mode `acc -= tsc | 1` (wrapping),
//! and a fold (always in the kernel) sets `acc = 0` and `since = tsc`. So every transition
//! flips the accumulator's parity — even in the kernel, odd in user mode — and in the kernel
//! it is the user time since the fold (each interval off by at most a cycle).

/// `[kernel, user]` cycles since the fold at `since`, as of TSC `now`, from accumulator
/// `acc`. In user mode (odd `acc`) the open interval counts up to `now`. `now` may be another
/// CPU's TSC a little behind this CPU's last transition: the user part is clamped to the
/// time since the fold, and the kernel part is the rest (never negative).
#[inline]
pub fn split_since_fold(acc: u64, since: u64, now: u64) -> [u64; 2] {
    let user = if in_user_mode(acc) {
        acc.wrapping_add(now)
    } else {
        acc
    };
    let elapsed = now.saturating_sub(since);
    // A wrapped (negative) user time means a reader TSC behind the transition: 0.
    let user = (user as i64).clamp(0, elapsed as i64) as u64;
    [elapsed - user, user]
}

/// `[kernel, user]` nanoseconds since the fold at `since`, as of TSC `now`, from accumulator
/// `acc`: the window's nanoseconds `window_ns` — the monotonic clock's reading at `now` less
/// its reading at `since` — split in proportion to [`split_since_fold`]'s cycles. Through
/// the clock, so that a change of the clock's rate inside the window moves no reading: the
/// clock is continuous across it, where the pending cycles converted at the new rate are not
/// (they jump by the change's ratio — backwards when the rate rises). Within one rate this is
/// the cycles at that rate.
#[inline]
pub fn split_window_ns(acc: u64, since: u64, now: u64, window_ns: u64) -> [u64; 2] {
    let [kernel, user] = split_since_fold(acc, since, now);
    let elapsed = kernel + user;
    if elapsed == 0 {
        // A reader TSC at or behind the fold: the clock says nothing is pending either,
        // but for a change of rate between the two conversions (a few ns).
        return [window_ns, 0];
    }
    let user = (window_ns as u128 * user as u128 / elapsed as u128) as u64;
    [window_ns - user, user]
}

/// Whether the accumulator says the CPU is in user mode (odd).
#[inline]
pub fn in_user_mode(acc: u64) -> bool {
    acc & 1 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock as the kernel's: ns = base_ns + (tsc - base_tsc) * mult / 2^32, rebased at its
    /// one change of rate so that it is continuous.
    struct Clock {
        /// (from TSC, ns there, mult): the first rate, then the second.
        rates: [(u64, u64, u64); 2],
    }

    impl Clock {
        fn new(mult: u64) -> Self {
            Clock {
                rates: [(0, 0, mult), (u64::MAX, 0, mult)],
            }
        }
        fn ns(&self, tsc: u64) -> u64 {
            let (bt, bn, m) = if tsc >= self.rates[1].0 {
                self.rates[1]
            } else {
                self.rates[0]
            };
            bn + (((tsc - bt) as u128 * m as u128) >> 32) as u64
        }
        fn change_rate(&mut self, at: u64, mult: u64) {
            self.rates[1] = (at, self.ns(at), mult);
        }
    }

    /// The transitions as the kernel's asm makes them.
    fn enter_kernel(acc: &mut u64, tsc: u64) {
        *acc = acc.wrapping_add(tsc | 1);
    }
    fn enter_user(acc: &mut u64, tsc: u64) {
        *acc = acc.wrapping_sub(tsc | 1);
    }

    #[test]
    fn user_intervals_add_up_and_the_rest_is_kernel_time() {
        // Fold at 1000; user 1100..1400 and 2000..2600; in the kernel at 3000.
        let since = 1000;
        let mut acc = 0;
        enter_user(&mut acc, 1100);
        assert!(in_user_mode(acc));
        enter_kernel(&mut acc, 1400);
        assert!(!in_user_mode(acc));
        enter_user(&mut acc, 2000);
        enter_kernel(&mut acc, 2600);
        let [kernel, user] = split_since_fold(acc, since, 3000);
        assert_eq!(user, 300 + 600);
        assert_eq!(kernel, 2000 - 900);
    }

    #[test]
    fn in_user_mode_the_open_interval_runs_to_now() {
        let mut acc = 0;
        enter_user(&mut acc, 1101);
        enter_kernel(&mut acc, 1401);
        enter_user(&mut acc, 2001);
        // Odd TSCs: exact. 300 closed + 999 open; kernel 101 + 600.
        assert_eq!(split_since_fold(acc, 1000, 3000), [701, 1299]);
    }

    #[test]
    fn rounding_to_odd_costs_at_most_a_cycle_per_interval() {
        let mut acc = 0;
        for i in 0..1000u64 {
            enter_user(&mut acc, 10_000 + i * 100);
            enter_kernel(&mut acc, 10_000 + i * 100 + 50);
        }
        let [_, user] = split_since_fold(acc, 0, 200_000);
        assert!(user.abs_diff(50 * 1000) <= 1000, "{user}");
    }

    #[test]
    fn wraps_around_the_tsc_range() {
        // TSC values near 2^64: the sums wrap, the differences stay exact.
        let base = u64::MAX - 500;
        let mut acc = 0;
        enter_user(&mut acc, base + 1);
        enter_kernel(&mut acc, base + 201);
        assert_eq!(split_since_fold(acc, base - 99, base + 301), [200, 200]);
    }

    #[test]
    fn a_reader_tsc_behind_the_last_return_counts_no_negative_time() {
        let mut acc = 0;
        enter_user(&mut acc, 5001);
        // Another CPU's TSC reads 4990, just before this CPU's return to user mode.
        assert_eq!(split_since_fold(acc, 1000, 4990), [3990, 0]);
        // And one ahead of the fold's TSC: nothing at all.
        assert_eq!(split_since_fold(0, 1000, 900), [0, 0]);
    }

    #[test]
    fn within_one_rate_the_window_is_the_cycles_at_that_rate() {
        // 3 ns a cycle; fold at 1000; user 1100..1400, then the kernel, at 3000.
        let clock = Clock::new(3 << 32);
        let mut acc = 0;
        enter_user(&mut acc, 1101);
        enter_kernel(&mut acc, 1401);
        let window = clock.ns(3000) - clock.ns(1000);
        assert_eq!(
            split_window_ns(acc, 1000, 3000, window),
            [1700 * 3, 300 * 3]
        );
    }

    #[test]
    fn a_rate_change_inside_the_window_moves_no_reading_back() {
        // The clock runs at 1 ns a cycle, then from TSC 50_000 at a quarter of that (a
        // calibration that finds the TSC 4 times faster than its provisional rate). A task
        // spins in user mode from the fold at 1000 on, entering the kernel for 10 cycles every
        // 1000; readers come every 100 cycles. The pending user cycles converted at the
        // reader's rate (the old readers) read ~48_500 ns just before the change and ~12_100
        // just after it: checked below, so that the scenario is known to hold the bug.
        let mult_at = |tsc: u64| if tsc >= 50_000 { 1u64 << 30 } else { 1 << 32 };
        let mut cycles_back = false;
        let mut prev_cycles_ns = 0;
        let mut clock = Clock::new(1 << 32);
        clock.change_rate(50_000, 1 << 30);
        let since = 1000;
        let mut acc = 0;
        let mut prev_user = 0;
        let mut prev_now = since;
        let mut t = since + 1;
        enter_user(&mut acc, t);
        while t < 200_000 {
            let next = t + 1000;
            // Reads while in user mode, through this interval.
            let mut now = t + 50;
            while now < next - 20 {
                let window = clock.ns(now) - clock.ns(since);
                let [kernel, user] = split_window_ns(acc, since, now, window);
                assert_eq!(kernel + user, window);
                assert!(
                    user >= prev_user,
                    "user {user} ns after {prev_user} at {now}"
                );
                // Continuous: no more than the clock moved since the last read.
                let moved = clock.ns(now) - clock.ns(prev_now);
                assert!(user - prev_user <= moved + 1, "user jumped at {now}");
                let [_, user_cycles] = split_since_fold(acc, since, now);
                let cycles_ns = ((user_cycles as u128 * mult_at(now) as u128) >> 32) as u64;
                cycles_back |= cycles_ns < prev_cycles_ns;
                prev_cycles_ns = cycles_ns;
                prev_user = user;
                prev_now = now;
                now += 100;
            }
            enter_kernel(&mut acc, next - 10);
            enter_user(&mut acc, next);
            t = next;
        }
        assert!(
            cycles_back,
            "the old conversion never went back: no bug exercised"
        );
        // At the end nearly all of the window is user time, as the clock counts it.
        let window = clock.ns(t + 50) - clock.ns(since);
        let [kernel, user] = split_window_ns(acc, since, t + 50, window);
        assert!(
            kernel < window / 50 && user > window * 97 / 100,
            "{kernel} {user}"
        );
    }

    #[test]
    fn a_reader_at_the_fold_gets_only_the_clock_difference() {
        assert_eq!(split_window_ns(0, 1000, 1000, 0), [0, 0]);
        assert_eq!(split_window_ns(0, 1000, 900, 3), [3, 0]);
    }
}
