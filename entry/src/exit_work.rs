//! The exit-to-user work loop (E38).
//!
//! The last look at the work flags happens with interrupts off, and interrupts stay off until
//! SYSRET or IRET turns them on in the same step as the return to user mode. Work that another
//! CPU flags after that look arrives with an IPI, which stays pending and is taken at the first
//! user instruction, so nothing is lost. Reading the flags with interrupts on and then returning
//! is the classic bug: a wakeup could slip in between and wait for the next tick, which on a
//! `nohz_full` CPU never comes.

bitflags::bitflags! {
    /// Work to do before a task may return to user mode.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct ExitWork: u64 {
        /// Another task should run: call the scheduler.
        const NEED_RESCHED  = 1 << 0;
        /// A signal is pending: deliver it (may change the frame).
        const SIGPENDING    = 1 << 1;
        /// Notify-resume work (e.g. rseq, a changed resource limit).
        const NOTIFY_RESUME = 1 << 2;
        /// Queued task work (e.g. deferred from NMI or #MC context).
        const TASK_WORK     = 1 << 3;
        /// The task must not return: it is exiting.
        const EXITING       = 1 << 4;
        /// The syscall being returned from has exit work (a tracer's exit stop, a
        /// single-step report: [`crate::syscall_work`]); kentry runs it first, then the rest.
        /// Bits 16–23 of the same word are the persistent
        /// [`SyscallWork`](crate::syscall_work::SyscallWork) flags, never exit work.
        const SYSCALL_EXIT  = 1 << 5;
    }
}

/// What the loop needs from the kernel: the flags and the handlers.
pub trait ExitWorkOps {
    /// The running task's work flags. Called with interrupts off.
    fn pending(&mut self) -> ExitWork;
    /// Turns interrupts on (before the handlers run).
    fn local_irq_enable(&mut self);
    /// Turns interrupts off (before the flags are read again).
    fn local_irq_disable(&mut self);
    /// Does the work named in `work` (interrupts are on). May schedule, deliver signals,
    /// change the frame, or never return (exit).
    fn handle(&mut self, work: ExitWork);
}

/// Loops until no exit work is left; returns with interrupts off. The flags are always read
/// with interrupts off. Returns how many rounds of work ran.
#[inline(always)]
pub fn exit_to_user_mode_loop<O: ExitWorkOps>(ops: &mut O) -> u32 {
    let mut rounds = 0;
    loop {
        let work = ops.pending();
        if work.is_empty() {
            return rounds;
        }
        ops.local_irq_enable();
        ops.handle(work);
        ops.local_irq_disable();
        rounds += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work that arrives while work is being handled must be seen before returning; and the
    /// flags must never be read with interrupts on.
    struct Mock {
        irqs_on: bool,
        flags: ExitWork,
        arrivals: Vec<ExitWork>,
        handled: Vec<ExitWork>,
    }

    impl ExitWorkOps for Mock {
        fn pending(&mut self) -> ExitWork {
            assert!(!self.irqs_on, "work flags read with interrupts on");
            self.flags
        }
        fn local_irq_enable(&mut self) {
            self.irqs_on = true;
        }
        fn local_irq_disable(&mut self) {
            self.irqs_on = false;
        }
        fn handle(&mut self, work: ExitWork) {
            assert!(self.irqs_on);
            self.handled.push(work);
            self.flags.remove(work);
            if let Some(next) = self.arrivals.pop() {
                // An interrupt during the handler raises more work.
                self.flags.insert(next);
            }
        }
    }

    #[test]
    fn loops_until_no_work_is_left() {
        let mut m = Mock {
            irqs_on: false,
            flags: ExitWork::NEED_RESCHED,
            arrivals: vec![ExitWork::TASK_WORK, ExitWork::SIGPENDING],
            handled: vec![],
        };
        let rounds = exit_to_user_mode_loop(&mut m);
        assert_eq!(rounds, 3);
        assert_eq!(
            m.handled,
            vec![
                ExitWork::NEED_RESCHED,
                ExitWork::SIGPENDING,
                ExitWork::TASK_WORK
            ]
        );
        assert!(!m.irqs_on);
        assert!(m.flags.is_empty());
    }

    #[test]
    fn no_work_costs_one_read() {
        let mut m = Mock {
            irqs_on: false,
            flags: ExitWork::empty(),
            arrivals: vec![],
            handled: vec![],
        };
        assert_eq!(exit_to_user_mode_loop(&mut m), 0);
        assert!(m.handled.is_empty());
    }
}
