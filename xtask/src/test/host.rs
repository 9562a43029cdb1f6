//! The host ABI cross-check: the manifest's programs run natively on this machine, each result
//! compared with the guest's (xtask/src/host_run.rs decides what agrees).

use super::*;

/// The selected `,host` entries, which the kernel skips without a word: one skipped result
/// each in the guest part.
pub(super) fn host_only_skips(m: &Manifest, args: &TestArgs, r: &mut Report) {
    for e in selected(m, args).filter(|e| !e.placement.in_guest()) {
        println!("  skip    {} # {}", e.name, manifest::HOST_ONLY);
        r.counts.skipped += 1;
    }
}

/// The manifest entries `--only` selects.
fn selected<'a>(m: &'a Manifest, args: &'a TestArgs) -> impl Iterator<Item = &'a Entry> {
    m.entries
        .iter()
        .filter(|e| args.only.as_deref().is_none_or(|n| n == e.name))
}

pub(super) fn host_check(
    ws: &Workspace,
    m: &Manifest,
    args: &TestArgs,
    guest: Option<&Suite>,
    r: &mut Report,
) {
    let timeout = Duration::from_secs(args.host_timeout);
    let bin_dirs = ws.user_bin_dirs();
    let cwd = ws.scratch_dir().join("host-run");
    for e in selected(m, args) {
        if !e.placement.on_host() {
            println!("  skip    {} (host) # {}", e.name, manifest::GUEST_ONLY);
            r.counts.skipped += 1;
            continue;
        }
        let run = match host_run::run(e, &bin_dirs, &cwd, timeout) {
            Ok(run) => run,
            Err(err) => {
                println!("  NOT OK  {} (host): {err:#}", e.name);
                r.fail(format!("host {}: {err:#}", e.name));
                continue;
            }
        };
        let guest_case = guest.and_then(|g| g.find(&e.name));
        let v = host_run::check(e, &run, timeout, guest_case);
        let status = run
            .status
            .map_or_else(|| "timeout".to_string(), host_run::status_name);
        if v.passed() {
            let compared = if guest_case.is_some() {
                ", agrees with the guest"
            } else {
                ""
            };
            println!(
                "  ok      {} (host status {status}{compared}, {:.2} s)",
                e.name,
                run.elapsed.as_secs_f64()
            );
            r.pass();
        } else {
            println!("  NOT OK  {} (host): {}", e.name, v.reasons.join("; "));
            println!("---- host {}: {} ----", e.name, e.argv.join(" "));
            for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                if !text.is_empty() {
                    println!("-- {what}:");
                    print!("{text}");
                    if !text.ends_with('\n') {
                        println!();
                    }
                }
            }
            println!("---- end of host {} ----", e.name);
            r.fail(format!("host {}: {}", e.name, v.reasons.join("; ")));
        }
    }
}
