//! Time: the tick clock, and per-process timers (alarm). Grows into clock_gettime's sources.

/// Called on every timer tick (1 ms) with interrupts off.
pub fn tick(now: u64) {
    let _ = now;
}
