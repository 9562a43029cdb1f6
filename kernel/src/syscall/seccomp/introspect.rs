//! What a tracer (or /proc) may read of a thread's filters (Linux's `get_nth_filter`,
//! `seccomp_get_metadata` and `seccomp_get_filter`): a checkpointing tool reads each filter's
//! flags and program to install them again on restore.

use super::{FLAG_LOG, FilterNode, SECCOMP_MODE_FILTER};
use crate::syscall::errno::{EINVAL, ENOENT};
use crate::task;
use alloc::vec::Vec;

/// Runs `f` on thread `t`'s filter `filter_off` (0: the oldest, as Linux's `get_nth_filter`
/// counts). Err(EINVAL) without filter mode, Err(ENOENT) past the newest.
fn with_nth_filter<R>(
    t: &task::Task,
    filter_off: u64,
    f: impl FnOnce(&FilterNode) -> R,
) -> Result<R, i64> {
    let st = t.seccomp.state.lock();
    let newest = match (st.mode, st.filters.as_deref()) {
        (SECCOMP_MODE_FILTER, Some(n)) => n,
        _ => return Err(-EINVAL),
    };
    let count = newest.iter().count() as u64;
    if filter_off >= count {
        return Err(-ENOENT);
    }
    newest
        .iter()
        .nth((count - 1 - filter_off) as usize)
        .map(f)
        .ok_or(-ENOENT)
}

/// Thread `t`'s mode and how many filters it has (/proc/PID/status's `Seccomp` and
/// `Seccomp_filters`).
pub fn status_of(t: &task::Task) -> (u8, usize) {
    let st = t.seccomp.state.lock();
    (
        st.mode,
        st.filters.as_deref().map_or(0, |n| n.iter().count()),
    )
}

/// PTRACE_SECCOMP_GET_METADATA's answer for thread `t`'s filter `filter_off`: its flags (only
/// SECCOMP_FILTER_FLAG_LOG is kept).
pub fn filter_metadata(t: &task::Task, filter_off: u64) -> Result<u64, i64> {
    with_nth_filter(
        t,
        filter_off,
        |n| if n.log { u64::from(FLAG_LOG) } else { 0 },
    )
}

/// PTRACE_SECCOMP_GET_FILTER's answer for thread `t`'s filter `filter_off`: its program as
/// installed, `struct sock_filter` after `struct sock_filter`.
pub fn filter_program(t: &task::Task, filter_off: u64) -> Result<Vec<u8>, i64> {
    with_nth_filter(t, filter_off, |n| {
        n.filter
            .program()
            .iter()
            .flat_map(|i| i.to_bytes())
            .collect()
    })
}
