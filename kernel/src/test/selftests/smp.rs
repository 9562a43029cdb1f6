//! SMP self-tests: every CPU QEMU gave is online, a call-function IPI runs on the CPU it
//! names and brings its result back, an NMI IPI is taken by the CPU it was sent to.

use super::{Ctx, Outcome};
use crate::percpu::{cpu_area, this_cpu};
use crate::smp::{self, ipi};
use alloc::format;
use core::sync::atomic::{AtomicU64, Ordering};

macro_rules! check {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Outcome::Fail(format!($($msg)*));
        }
    };
}

/// The online count equals what the machine was given (`kentry.expect_cpus=`, set by xtask
/// from its `-smp`), and every online CPU has its own APIC ID.
pub fn all_cpus_online(_: &Ctx) -> Outcome {
    let cmdline = crate::CMDLINE.get().copied().unwrap_or("");
    let Some(want) =
        crate::boot::cmdline_value(cmdline, "kentry.expect_cpus").and_then(|v| v.parse().ok())
    else {
        return Outcome::Skip("no kentry.expect_cpus= on the command line");
    };
    let online = smp::online_count();
    check!(
        online == want,
        "{online} CPUs online, the machine has {want}"
    );
    for a in 0..want as usize {
        for b in a + 1..want as usize {
            check!(
                smp::apic_id(a) != smp::apic_id(b),
                "CPUs {a} and {b} share APIC ID {}",
                smp::apic_id(a)
            );
        }
    }
    Outcome::Pass
}

/// The other online CPUs, or a SKIP on a one-CPU machine.
fn others() -> Result<impl Iterator<Item = usize>, Outcome> {
    if smp::online_count() < 2 {
        return Err(Outcome::Skip("one CPU online"));
    }
    let me = smp::this_cpu_id();
    Ok((0..crate::percpu::MAX_CPUS).filter(move |&n| n != me && smp::is_online(n)))
}

/// A closure sent to each other CPU runs there (its CPU number, GS base and APIC ID are that
/// CPU's, in interrupt context) and its result comes back; then one broadcast reaches every
/// other CPU exactly once.
pub fn call_function(_: &Ctx) -> Outcome {
    let others = match others() {
        Ok(o) => o,
        Err(skip) => return skip,
    };
    let mut expected_mask = 0u64;
    for n in others {
        expected_mask |= 1 << n;
        let calls_before = cpu_area(n).counters.ipi_call.load(Ordering::Relaxed);
        let got = ipi::call_on(n, || {
            (
                smp::this_cpu_id(),
                x86_64::registers::model_specific::GsBase::read().as_u64(),
                crate::x86::apic::id(),
                x86_64::instructions::interrupts::are_enabled(),
            )
        });
        let Some((cpu, gs, apic, irqs_on)) = got else {
            return Outcome::Fail(format!("call_on({n}) did not run"));
        };
        check!(cpu == n, "the closure for CPU {n} ran on CPU {cpu}");
        let area = cpu_area(n) as *const _ as u64;
        check!(
            gs == area,
            "GS base {gs:#x} on CPU {n}, its area is {area:#x}"
        );
        check!(
            apic == smp::apic_id(n),
            "APIC ID {apic} on CPU {n}, the MADT said {}",
            smp::apic_id(n)
        );
        check!(
            !irqs_on,
            "the call ran with interrupts on (not in its IPI handler)"
        );
        let calls = cpu_area(n).counters.ipi_call.load(Ordering::Relaxed) - calls_before;
        check!(
            calls == 1,
            "CPU {n} counted {calls} call-function IPIs for one call"
        );
    }
    let seen = AtomicU64::new(0);
    let runs = AtomicU64::new(0);
    let me = smp::this_cpu_id();
    let ran = ipi::call_on_others(|| {
        seen.fetch_or(1 << smp::this_cpu_id(), Ordering::Relaxed);
        runs.fetch_add(1, Ordering::Relaxed);
    });
    let seen = seen.load(Ordering::Relaxed);
    check!(
        seen == expected_mask && seen & (1 << me) == 0,
        "broadcast ran on CPUs {seen:#b}, expected {expected_mask:#b}"
    );
    check!(
        runs.load(Ordering::Relaxed) == ran as u64 && ran == expected_mask.count_ones(),
        "broadcast ran {} times, reported {ran}",
        runs.load(Ordering::Relaxed)
    );
    Outcome::Pass
}

/// An NMI IPI to each other CPU is counted by that CPU's NMI handler, and not by this one's.
pub fn nmi_ipi(_: &Ctx) -> Outcome {
    let others = match others() {
        Ok(o) => o,
        Err(skip) => return skip,
    };
    let mine = &this_cpu().counters.nmis;
    for n in others {
        let theirs = &cpu_area(n).counters.nmis;
        let (my_before, before) = (mine.load(Ordering::Relaxed), theirs.load(Ordering::Relaxed));
        ipi::send_nmi(n);
        let deadline = crate::sched::ticks() + 1000;
        while theirs.load(Ordering::Relaxed) == before && crate::sched::ticks() < deadline {
            core::hint::spin_loop();
        }
        let got = theirs.load(Ordering::Relaxed) - before;
        check!(got == 1, "CPU {n} took {got} NMIs for one NMI IPI");
        let stray = mine.load(Ordering::Relaxed) - my_before;
        check!(stray == 0, "the sender took {stray} NMIs itself");
    }
    Outcome::Pass
}

/// A reschedule IPI to each other CPU is counted there (RES) and raises NEED_RESCHED on it.
pub fn reschedule_ipi(_: &Ctx) -> Outcome {
    let others = match others() {
        Ok(o) => o,
        Err(skip) => return skip,
    };
    for n in others {
        let res = &cpu_area(n).counters.ipi_reschedule;
        let before = res.load(Ordering::Relaxed);
        ipi::send_reschedule(n);
        let deadline = crate::sched::ticks() + 1000;
        while res.load(Ordering::Relaxed) == before && crate::sched::ticks() < deadline {
            core::hint::spin_loop();
        }
        let got = res.load(Ordering::Relaxed) - before;
        check!(got == 1, "CPU {n} took {got} reschedule IPIs for one");
    }
    Outcome::Pass
}

/// `/proc/interrupts` has a column per online CPU, and each CPU's LOC count is its own
/// timer's (every CPU ticks, so each column is non-zero and read from that CPU's counter);
/// `/sys/devices/system/cpu/online` lists the online CPUs.
pub fn proc_interrupts(_: &Ctx) -> Outcome {
    use crate::fs::ProcFile;
    use crate::fs::procfs::generate;
    let text = generate(ProcFile::Interrupts).unwrap_or_default();
    let text = core::str::from_utf8(&text).unwrap_or("");
    let mut lines = text.lines();
    let header: alloc::vec::Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let online = smp::online_count() as usize;
    check!(
        header.len() == online,
        "header {header:?} for {online} CPUs"
    );
    for name in ["NMI", "LOC", "RES", "CAL", "TLB"] {
        let Some(row) = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}:")))
        else {
            return Outcome::Fail(format!("no {name} row in {text:?}"));
        };
        let counts: alloc::vec::Vec<u64> = row
            .split_whitespace()
            .skip(1)
            .take(online)
            .filter_map(|w| w.parse().ok())
            .collect();
        check!(counts.len() == online, "row {row:?} lacks a count per CPU");
        if name == "LOC" {
            for (n, &c) in counts.iter().enumerate() {
                check!(c > 0, "CPU{n} shows {c} timer interrupts");
            }
        }
    }
    let list = generate(ProcFile::CpuOnline).unwrap_or_default();
    let want = if online == 1 {
        alloc::string::String::from("0\n")
    } else {
        format!("0-{}\n", online - 1)
    };
    check!(
        list == want.as_bytes(),
        "online list {:?}, expected {want:?}",
        core::str::from_utf8(&list)
    );
    Outcome::Pass
}

/// Every online CPU runs its local APIC in the mode the CPU offers: enabled, in x2APIC mode
/// exactly when CPUID.1:ECX.x2APIC says the CPU has it, and its APIC ID, read in that mode,
/// is the one CPUID reports (the x2APIC ID of leaf 0xB, or the initial ID of leaf 1). The
/// x2APIC half is a SKIP on a CPU without x2APIC (QEMU 7.2's TCG offers none), decided by
/// that CPUID bit, not by the platform's name; the xAPIC half then passes or fails.
pub fn apic_mode(_: &Ctx) -> Outcome {
    let has_x2apic = raw_cpuid::CpuId::new()
        .get_feature_info()
        .is_some_and(|f| f.has_x2apic());
    let probe = || {
        let base = x86_64::registers::model_specific::Msr::new(0x1b);
        // SAFETY: IA32_APIC_BASE exists on every x86-64 CPU with an APIC; reading it has no
        // side effect.
        let v = unsafe { base.read() };
        let cpuid = raw_cpuid::CpuId::new();
        let want_id = if crate::x86::apic::is_x2apic() {
            cpuid
                .get_extended_topology_info()
                .and_then(|mut t| t.next())
                .map_or(u32::MAX, |l| l.x2apic_id())
        } else {
            crate::x86::apic::id_from_cpuid()
        };
        (v, crate::x86::apic::id(), want_id)
    };
    for (n, _) in ipi::online_cpus() {
        let got = if n == smp::this_cpu_id() {
            Some(x86_64::instructions::interrupts::without_interrupts(probe))
        } else {
            ipi::call_on(n, probe)
        };
        let Some((base, id, want_id)) = got else {
            return Outcome::Fail(format!("call_on({n}) did not run"));
        };
        check!(
            base & (1 << 11) != 0,
            "CPU {n}: APIC disabled (IA32_APIC_BASE {base:#x})"
        );
        let x2 = base & (1 << 10) != 0;
        check!(
            x2 == has_x2apic && x2 == crate::x86::apic::is_x2apic(),
            "CPU {n}: x2APIC mode {x2}, the CPU offers it: {has_x2apic}"
        );
        check!(id == want_id, "CPU {n}: APIC ID {id}, CPUID says {want_id}");
        check!(
            id == smp::apic_id(n),
            "CPU {n}: APIC ID {id}, the MADT said {}",
            smp::apic_id(n)
        );
    }
    if !has_x2apic {
        return Outcome::Skip(
            "the CPU offers no x2APIC (CPUID.1:ECX bit 21): only the xAPIC mode ran",
        );
    }
    Outcome::Pass
}
