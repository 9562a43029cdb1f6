//! NMI flood (issue 9 §5): many NMIs while every CPU runs ring-3 loads that check their own
//! state — the SYSCALL register loop with a user GS base and with a kernel-half GS base (the
//! paranoid entry must not guess the live GS from the base's sign), signal handlers with every
//! GPR checked after rt_sigreturn (`sig_regs`), hostile sigreturn frames (`sigreturn_bad`), and
//! a user #GP that kills its program. The NMIs: QMP `inject-nmi` from the host (LINT1: CPU 0)
//! and a token of NMI IPIs passed from CPU to CPU by the NMI handler itself until the budget
//! (`kentry.nmi_flood=N`, default [`DEFAULT_BUDGET`]) is spent. Passes when every program ends
//! as it does without NMIs, every budgeted NMI was taken, some of them in ring 3, on every
//! CPU — and the kernel is still here to say so.

use super::{Ctx, Outcome};
use crate::percpu::this_cpu;
use crate::smp::{self, ipi};
use alloc::format;
use core::sync::atomic::{AtomicU64, Ordering};

/// The count, what `cargo xtask test` runs: about a second under TCG (the token moves
/// as fast as the two CPUs take NMIs). `kentry.nmi_flood=N` changes it.
const DEFAULT_BUDGET: u64 = 100_000;
/// QMP NMIs asked of the host in the first round, 10 ms apart (xtask carries them out one by
/// one; more would outlast the test).
const HOST_NMIS: u32 = 10;
/// Rounds of the loads allowed per 1000 budgeted NMIs, plus a fixed few (one token moves
/// ~10^4 NMIs per round of the loads under TCG).
const ROUNDS_PER_1000: u64 = 1;

/// NMI IPIs still to send.
static LEFT: AtomicU64 = AtomicU64::new(0);

/// The NMI hook on every CPU during the flood: passes the token on to the next online CPU
/// while budget is left. Takes no lock (an atomic and the NMI-safe ICR write).
fn pass_token(_: &kentry::Regs) {
    if LEFT
        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
    {
        ipi::send_nmi_from_nmi(next_cpu(smp::this_cpu_id()));
    }
}

fn next_cpu(me: usize) -> usize {
    let others = smp::online_mask() & !(1u64 << me);
    let above = others & !((2u64 << me).wrapping_sub(1));
    if above != 0 { above } else { others }.trailing_zeros() as usize
}

fn set_hook(h: Option<fn(&kentry::Regs)>) {
    // SAFETY: this CPU's own hook slot, written with one aligned store that an NMI sees
    // either before or after.
    x86_64::instructions::interrupts::without_interrupts(|| unsafe {
        *this_cpu().nmi_hook.get() = h
    });
}

/// (all NMIs, NMIs from ring 3) summed over the online CPUs, and per CPU.
fn nmi_counts() -> (u64, u64, [u64; crate::percpu::MAX_CPUS]) {
    let mut per = [0u64; crate::percpu::MAX_CPUS];
    let (mut all, mut user) = (0, 0);
    for (n, c) in ipi::online_cpus() {
        per[n] = c.counters.nmis.load(Ordering::Relaxed);
        all += per[n];
        user += c.counters.nmis_from_user.load(Ordering::Relaxed);
    }
    (all, user, per)
}

const LOADS: &[(&str, &[&str], i32)] = &[
    ("/bin/syscall_regs", &["loop-gs", "user"], 0),
    ("/bin/syscall_regs", &["loop-gs", "kernel"], 0),
    ("/bin/sig_regs", &[], 0),
    ("/bin/sigreturn_bad", &[], 0),
    ("/bin/fault", &["gp"], 139),
];

pub fn nmi_flood(_: &Ctx) -> Outcome {
    if smp::online_count() < 2 {
        return Outcome::Skip("one CPU online: no other CPU to pass NMI IPIs to");
    }
    let cmdline = crate::CMDLINE.get().copied().unwrap_or("");
    let budget = crate::boot::cmdline_value(cmdline, "kentry.nmi_flood")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_BUDGET);
    set_hook(Some(pass_token));
    ipi::call_on_others(|| set_hook(Some(pass_token)));
    let r = flood(budget);
    LEFT.store(0, Ordering::Release);
    set_hook(None);
    ipi::call_on_others(|| set_hook(None));
    r
}

fn flood(budget: u64) -> Outcome {
    let (all0, user0, per0) = nmi_counts();
    let start = crate::sched::ticks();
    LEFT.store(budget, Ordering::Release);
    let mut rounds = 0u64;
    let mut host_nmis = 0;
    let mut kicks = 0u64;
    let mut left_at_last_round = u64::MAX;
    let max_rounds = 20 + budget / 1000 * ROUNDS_PER_1000;
    while rounds < max_rounds && (rounds == 0 || LEFT.load(Ordering::Acquire) != 0) {
        rounds += 1;
        if rounds == 1 {
            for _ in 0..HOST_NMIS {
                crate::klog!("host-request: after 10ms inject-nmi");
            }
            host_nmis += HOST_NMIS;
        }
        // Start the token; start another only if it died (the budget did not move over a
        // whole round). Two tokens can merge into one pending NMI, so every extra kick
        // widens the bound below by one.
        let left = LEFT.load(Ordering::Acquire);
        if (rounds == 1 || left == left_at_last_round)
            && LEFT
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        {
            kicks += 1;
            ipi::send_nmi(next_cpu(smp::this_cpu_id()));
        }
        left_at_last_round = LEFT.load(Ordering::Acquire);
        crate::console::set_user_output(crate::console::UserOutput::Discard);
        let progs: alloc::vec::Vec<(&str, &[&str])> =
            LOADS.iter().map(|&(p, a, _)| (p, a)).collect();
        let ends = super::super::run_programs_together(&progs);
        crate::console::set_user_output(crate::console::UserOutput::Plain);
        let ends = match ends {
            Ok(e) => e,
            Err(e) => return Outcome::Fail(e),
        };
        for (&(path, args, want), end) in LOADS.iter().zip(ends) {
            if end.shell_status() != want {
                return Outcome::Fail(format!(
                    "round {rounds}: {path} {args:?} ended with status {} (want {want}) under the NMI flood",
                    end.shell_status()
                ));
            }
        }
    }
    let elapsed = crate::sched::ticks() - start;
    // The host's last NMIs are 10 ms apart after its queue of requests: let them land here,
    // not in a later test.
    crate::sched::sleep_until(start + 20 * HOST_NMIS as u64 + 300);
    let (all1, user1, per1) = nmi_counts();
    let (all, user) = (all1 - all0, user1 - user0);
    let left = LEFT.load(Ordering::Acquire);
    crate::kprint!(
        "# nmi_flood: {all} NMIs ({user} in ring 3) for a budget of {budget} IPIs and {host_nmis} host NMIs, {rounds} round(s) of {} programs, {kicks} token(s), {elapsed} ms\n",
        LOADS.len()
    );
    check!(
        left == 0,
        "{left} of {budget} NMI IPIs never sent in {rounds} rounds"
    );
    // Every budgeted IPI was sent and runs the handler once, unless it merged with a pending
    // NMI: a host NMI, or another token (there are as many tokens as kicks).
    check!(
        all + host_nmis as u64 + kicks >= budget,
        "{all} NMIs taken for {budget} sent ({kicks} token(s), {host_nmis} host NMIs)"
    );
    check!(user > 0, "no NMI landed in ring 3");
    for (n, _) in ipi::online_cpus() {
        check!(per1[n] > per0[n], "CPU {n} took no NMI");
    }
    Outcome::Pass
}
