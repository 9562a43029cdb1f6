//! Wait queues: tasks blocked until some condition holds.

use super::{schedule, wake};
use crate::sync::Mutex;
use crate::task::{TaskRef, TaskState};
use alloc::collections::VecDeque;
use x86_64::instructions::interrupts;

pub struct WaitQueue {
    waiters: Mutex<VecDeque<TaskRef>>,
}

impl WaitQueue {
    pub const fn new() -> Self {
        WaitQueue {
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    /// Blocks the running task until `cond` is true. `cond` is checked after the task is on
    /// the queue and marked blocked, with interrupts off, so a wake-up between the check and
    /// the sleep is never lost. Returns early (false) if `interrupted` says so (a signal).
    pub fn wait_until(
        &self,
        mut cond: impl FnMut() -> bool,
        interrupted: impl Fn() -> bool,
    ) -> bool {
        loop {
            interrupts::disable();
            let me = super::current_ref();
            me.set_state(TaskState::Blocked);
            self.waiters.lock().push_back(me.clone());
            if cond() {
                me.set_state(TaskState::Runnable);
                self.remove(&me);
                interrupts::enable();
                return true;
            }
            if interrupted() {
                me.set_state(TaskState::Runnable);
                self.remove(&me);
                interrupts::enable();
                return false;
            }
            schedule();
            self.remove(&me);
            interrupts::enable();
        }
    }

    fn remove(&self, t: &TaskRef) {
        self.waiters
            .lock()
            .retain(|w| !alloc::sync::Arc::ptr_eq(w, t));
    }

    /// Wakes every waiter (each re-checks its condition).
    pub fn wake_all(&self) {
        let waiters: VecDeque<TaskRef> =
            interrupts::without_interrupts(|| core::mem::take(&mut *self.waiters.lock()));
        for t in waiters {
            wake(&t);
        }
    }

    /// Wakes up to `n` waiters; returns how many.
    pub fn wake_n(&self, n: usize) -> usize {
        let mut woken = 0;
        while woken < n {
            let Some(t) = interrupts::without_interrupts(|| self.waiters.lock().pop_front()) else {
                break;
            };
            wake(&t);
            woken += 1;
        }
        woken
    }
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}
