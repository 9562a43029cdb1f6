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

/// Whether the accumulator says the CPU is in user mode (odd).
#[inline]
pub fn in_user_mode(acc: u64) -> bool {
    acc & 1 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
