//! Static keys flipped on a live SMP machine (issue 9 §4): the context-tracking key flips
//! 10,000 times through `text_poke::flip_key` while another CPU runs ring-3 syscall and
//! page-fault loops and takes NMI IPIs.

use super::{Ctx, Outcome};
use crate::percpu::cpu_area;
use crate::smp;
use crate::text_poke::{PARK_WORD_ERRORS, flip_key};
use alloc::format;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

const FLIPS: u32 = 10_000;
/// An NMI IPI to the loaded CPU every this many flips.
const NMI_EVERY: u32 = 8;
/// The ring-3 load, started again on the loaded CPU whenever it ends: the syscall register
/// checker (15,000 patterned syscalls, then a register loop) and fresh-page faults.
const LOADS: [(&str, &[&str]); 2] = [("/bin/syscall_regs", &[]), ("/bin/bench_mem", &[])];

/// Each flip: the key's state and its sites' first byte agree with what was asked. Over the
/// run: every parked CPU found its own context-tracking word "kernel, watching, no NMI" right
/// after the flip (a lost or doubled transition would leave it "user" or its RCU counter
/// even), the test kernel's entry assertions (every user entry checks the word said "user")
/// never fired, every load exited 0, some parks came from ring 3 and NMIs arrived.
pub fn static_key_flips_smp(_: &Ctx) -> Outcome {
    // Every site must be one 8-byte store away from its new bytes (text_poke.rs: an exception
    // inside an NMI on a parked CPU may run a site while it is written).
    let torn = crate::text_poke::straddling_sites(&kentry::context_tracking::CONTEXT_TRACKING);
    check!(
        torn == 0,
        "{torn} context-tracking sites straddle an 8-byte word"
    );
    if smp::online_count() < 2 {
        return Outcome::Skip("one CPU online: no other CPU to run the patched code");
    }
    // This task on CPU 0, the load on CPU 1.
    let old_mask = crate::sched::pin_current(1 << 1);
    crate::console::set_user_output(crate::console::UserOutput::Discard);
    let r = run();
    crate::console::set_user_output(crate::console::UserOutput::Plain);
    crate::sched::pin_current(old_mask);
    r
}

/// Starts `LOADS[n % 2]` as a child of the kernel (on the CPUs this task may use now).
fn start_load(n: usize) -> Result<Arc<crate::process::Process>, alloc::string::String> {
    let (path, args) = LOADS[n % LOADS.len()];
    let argv: alloc::vec::Vec<&[u8]> = core::iter::once(path)
        .chain(args.iter().copied())
        .map(str::as_bytes)
        .collect();
    let envp: [&[u8]; 1] = [b"PATH=/bin"];
    let (image, exe) = crate::exec::image_for_kernel(path, &argv, &envp)?;
    let k = crate::process::kernel_process();
    let p = crate::process::spawn(path, image, &k);
    crate::fs::set_exe(&p, &exe);
    Ok(p)
}

fn run() -> Outcome {
    let ct = &kentry::context_tracking::CONTEXT_TRACKING;
    let was_on = ct.is_enabled();
    let k = crate::process::kernel_process();
    let loaded = 1;
    let c1 = &cpu_area(loaded).counters;
    let errors_before = PARK_WORD_ERRORS.load(Ordering::Relaxed);
    let [nmi0, user0, sys0] =
        [&c1.nmis, &c1.irq_from_user, &c1.syscalls].map(|a| a.load(Ordering::Relaxed));
    let mut loads_done = 0;
    let mut p = match start_load(0) {
        Ok(p) => p,
        Err(e) => return Outcome::Fail(e),
    };
    crate::sched::pin_current(1 << 0);
    let sites: alloc::vec::Vec<u64> = ct.sites().map(|e| e.site).collect();
    let mut on = was_on;
    let mut failure = None;
    for i in 0..FLIPS {
        on = !on;
        let n = flip_key(ct, on);
        let want_byte = if on {
            0xe9
        } else {
            kentry::static_key::NOP5[0]
        };
        // SAFETY: reading one byte of kernel text per site.
        let bad_site = sites
            .iter()
            .find(|&&s| unsafe { *(s as *const u8) } != want_byte);
        if n != sites.len() || ct.is_enabled() != on || bad_site.is_some() {
            failure = Some(format!(
                "flip {i} to {on}: {n} of {} sites patched, key says {}, site {bad_site:x?} wrong",
                sites.len(),
                ct.is_enabled()
            ));
            break;
        }
        if i % NMI_EVERY == 0 {
            smp::ipi::send_nmi(loaded);
        }
        match crate::process::wait_child(&k, p.pid as i32, true) {
            Ok(None) => {}
            Ok(Some((_, reason))) if reason.shell_status() == 0 => {
                loads_done += 1;
                crate::sched::pin_current(1 << loaded);
                let next = start_load(loads_done);
                crate::sched::pin_current(1 << 0);
                match next {
                    Ok(q) => p = q,
                    Err(e) => return Outcome::Fail(e),
                }
            }
            Ok(Some((_, reason))) => {
                failure = Some(format!(
                    "{} exited {} during the flips",
                    LOADS[loads_done % LOADS.len()].0,
                    reason.shell_status()
                ));
                break;
            }
            Err(e) => {
                failure = Some(format!("wait for the load failed ({e})"));
                break;
            }
        }
    }
    // Leave the key as the test kernel had it.
    if ct.is_enabled() != was_on {
        flip_key(ct, was_on);
    }
    let last = crate::process::wait_child(&k, p.pid as i32, false);
    crate::process::reap_kernel_children();
    if let Some(f) = failure {
        return Outcome::Fail(f);
    }
    match last {
        Ok(Some((_, reason))) if reason.shell_status() == 0 => loads_done += 1,
        Ok(Some((_, reason))) => {
            return Outcome::Fail(format!("the last load exited {}", reason.shell_status()));
        }
        other => return Outcome::Fail(format!("wait for the last load: {other:?}")),
    }
    let [nmis, from_user, syscalls] = [
        (&c1.nmis, nmi0),
        (&c1.irq_from_user, user0),
        (&c1.syscalls, sys0),
    ]
    .map(|(a, b)| a.load(Ordering::Relaxed) - b);
    let word_errors = PARK_WORD_ERRORS.load(Ordering::Relaxed) - errors_before;
    crate::kprint!(
        "# static_key_flips_smp: {FLIPS} flips of {} sites; CPU {loaded}: {loads_done} loads, {syscalls} syscalls, {from_user} interrupts from ring 3, {nmis} NMIs\n",
        sites.len()
    );
    if word_errors != 0 {
        return Outcome::Fail(format!(
            "{word_errors} parked CPU(s) found their context-tracking word not \"kernel, watching\" after a flip"
        ));
    }
    if from_user == 0 || syscalls == 0 {
        return Outcome::Fail(format!(
            "the load never ran in ring 3 during the flips ({syscalls} syscalls, {from_user} interrupts from ring 3)"
        ));
    }
    if nmis == 0 {
        return Outcome::Fail("no NMI reached the loaded CPU".into());
    }
    Outcome::Pass
}
