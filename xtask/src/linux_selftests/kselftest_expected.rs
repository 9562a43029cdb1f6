//! What each case of Linux's seccomp and ptrace selftests (`kselftest.rs`) does on Linux 6.1
//! and must do on kentry: the one table the runner's cases, the judge
//! (`kselftest_judge.rs`) and `cargo xtask linux-selftests` (Linux under the same QEMU,
//! `linux_oracle.rs`) read.
//!
//! Each case has Linux's outcome (measured by `cargo xtask linux-selftests`, which fails
//! when Linux no longer does what this column says) and kentry's (measured by
//! `cargo xtask test --only linux_seccomp_bpf` and friends, which fail on a regression and
//! on progress not written down here). Every case whose kentry outcome is not Linux's says
//! why, categorised as the x86 table's reasons are (`kentry gap: …`, `TCG cannot
//! provoke: …`, `harness: …`).
//!
//! A case that cannot END without a capability (it retries ptrace for ever, or waits for a
//! stop that never comes) names it in `hangs_without`: while kentry lacks it, the case is
//! left out of the run (never run into its 30 s timeout) and reported as not run, naming
//! the gap; its kentry outcome is what the run must show once kentry has it.

use super::expected::Capability;
use super::x86_gated::Need;

/// How one case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `ok N name`.
    Pass,
    /// `not ok N name` (or, for a program without the harness, a bad status).
    Fail,
    /// `ok N # SKIP reason`.
    Skip,
}

impl Outcome {
    pub const fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
        }
    }
}

use Outcome::{Fail, Pass};

/// One case.
#[derive(Debug, Clone, Copy)]
pub struct KsftCase {
    /// `fixture.test` or `fixture.variant.test`, as the harness names it; for a program
    /// without the harness, the program's name.
    pub name: &'static str,
    /// On Debian's Linux 6.1 under QEMU TCG (`cargo xtask linux-selftests`).
    pub linux: Outcome,
    /// On kentry (once kentry has `hangs_without`, if named).
    pub kentry: Outcome,
    /// The case cannot end without this: left out while kentry lacks it.
    pub hangs_without: Option<Need>,
    /// Why kentry's outcome is not Linux's (or why Linux's is not a pass); empty when both
    /// pass.
    pub why: &'static str,
    /// Empty, or why the case sometimes ends otherwise than `kentry` says (then it may also
    /// pass; the run says which it did). None is today: the one seen, TSYNC's
    /// two_siblings_not_under_filter failing once in six runs, was kill(tid, 0) giving ESRCH
    /// for a live thread's id, fixed in kernel/src/syscall/sig.rs.
    pub flaky: &'static str,
}

const fn c(
    name: &'static str,
    linux: Outcome,
    kentry: Outcome,
    hangs_without: Option<Need>,
    why: &'static str,
) -> KsftCase {
    KsftCase {
        name,
        linux,
        kentry,
        hangs_without,
        why,
        flaky: "",
    }
}

/// Cannot end without ptrace: its tracer retries PTRACE_ATTACH, or waits for a stop.
const PTRACE: Option<Need> = Some(Need::Has(Capability::Ptrace));

/// How a program reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Harness {
    /// kselftest_harness.h: TAP, one `ok`/`not ok` line per case.
    Kselftest,
    /// A plain program: status 0 and this line on stdout is its one case's pass.
    ExitStatus { pass_line: &'static str },
}

/// One selftest program.
#[derive(Debug, Clone, Copy)]
pub struct KsftProgram {
    /// Its directory under tools/testing/selftests.
    pub dir: &'static str,
    /// The source file's stem.
    pub name: &'static str,
    pub harness: Harness,
    /// Flags of its Makefile beyond `-O2 -g -Wall -static -pthread`.
    pub cflags: &'static [&'static str],
    /// Links libcap (libcap-dev's static library).
    pub libcap: bool,
    /// Programs it executes by name (`execlp`): busybox, installed as `/bin/<name>`.
    pub busybox_applets: &'static [&'static str],
    /// Why its musl build is built but not run, if it is not.
    pub musl_not_run: Option<&'static str>,
    pub cases: &'static [KsftCase],
}

const ATTACH_LOOP: &str = "harness: left out whenever kentry has no ptrace (issue 11): its \
    tracer then retries PTRACE_ATTACH for ever (ENOSYS); kentry has ptrace now";

const SECCOMP_BPF: &[KsftCase] = &[
    c("global.kcmp", Pass, Pass, None, ""),
    c("global.mode_strict_support", Pass, Pass, None, ""),
    c("global.mode_strict_cannot_call_prctl", Pass, Pass, None, ""),
    c("global.no_new_privs_support", Pass, Pass, None, ""),
    c("global.mode_filter_support", Pass, Pass, None, ""),
    c("global.mode_filter_without_nnp", Pass, Pass, None, ""),
    c("global.filter_size_limits", Pass, Pass, None, ""),
    c("global.filter_chain_limits", Pass, Pass, None, ""),
    c(
        "global.mode_filter_cannot_move_to_strict",
        Pass,
        Pass,
        None,
        "",
    ),
    c("global.mode_filter_get_seccomp", Pass, Pass, None, ""),
    c("global.ALLOW_all", Pass, Pass, None, ""),
    c("global.empty_prog", Pass, Pass, None, ""),
    c("global.log_all", Pass, Pass, None, ""),
    c("global.unknown_ret_is_kill_inside", Pass, Pass, None, ""),
    c(
        "global.unknown_ret_is_kill_above_allow",
        Pass,
        Pass,
        None,
        "",
    ),
    c("global.KILL_all", Pass, Pass, None, ""),
    c("global.KILL_one", Pass, Pass, None, ""),
    c("global.KILL_one_arg_one", Pass, Pass, None, ""),
    c("global.KILL_one_arg_six", Pass, Pass, None, ""),
    c("global.KILL_thread", Pass, Pass, None, ""),
    c("global.KILL_process", Pass, Pass, None, ""),
    c("global.KILL_unknown", Pass, Pass, None, ""),
    c("global.arg_out_of_range", Pass, Pass, None, ""),
    c("global.ERRNO_valid", Pass, Pass, None, ""),
    c("global.ERRNO_zero", Pass, Pass, None, ""),
    c("global.ERRNO_capped", Pass, Pass, None, ""),
    c("global.ERRNO_order", Pass, Pass, None, ""),
    c("global.negative_ENOSYS", Pass, Pass, None, ""),
    c("global.seccomp_syscall", Pass, Pass, None, ""),
    c("global.seccomp_syscall_mode_lock", Pass, Pass, None, ""),
    c("global.detect_seccomp_filter_flags", Pass, Pass, None, ""),
    c("global.TSYNC_first", Pass, Pass, None, ""),
    c("global.syscall_restart", Pass, Pass, None, ""),
    c("global.filter_flag_log", Pass, Pass, None, ""),
    c("global.get_action_avail", Pass, Pass, None, ""),
    c("global.get_metadata", Pass, Pass, None, ""),
    c("global.user_notification_basic", Pass, Pass, None, ""),
    c("global.user_notification_with_tsync", Pass, Pass, None, ""),
    c(
        "global.user_notification_kill_in_middle",
        Pass,
        Pass,
        None,
        "",
    ),
    c("global.user_notification_signal", Pass, Pass, None, ""),
    c(
        "global.user_notification_closed_listener",
        Pass,
        Pass,
        None,
        "",
    ),
    c(
        "global.user_notification_child_pid_ns",
        Pass,
        Pass,
        None,
        "",
    ),
    c(
        "global.user_notification_sibling_pid_ns",
        Pass,
        Pass,
        None,
        "",
    ),
    c("global.user_notification_fault_recv", Pass, Pass, None, ""),
    c("global.seccomp_get_notif_sizes", Pass, Pass, None, ""),
    c("global.user_notification_continue", Pass, Pass, None, ""),
    c(
        "global.user_notification_filter_empty",
        Pass,
        Pass,
        None,
        "",
    ),
    c(
        "global.user_notification_filter_empty_threaded",
        Pass,
        Pass,
        None,
        "",
    ),
    c("global.user_notification_addfd", Pass, Pass, None, ""),
    c(
        "global.user_notification_addfd_rlimit",
        Pass,
        Pass,
        None,
        "",
    ),
    c("global.user_notification_fifo", Pass, Pass, None, ""),
    c(
        "global.user_notification_wait_killable_pre_notification",
        Pass,
        Pass,
        None,
        "",
    ),
    c(
        "global.user_notification_wait_killable",
        Pass,
        Pass,
        None,
        "",
    ),
    c(
        "global.user_notification_wait_killable_fatal",
        Pass,
        Pass,
        None,
        "",
    ),
    c("TRAP.dfl", Pass, Pass, None, ""),
    c("TRAP.ign", Pass, Pass, None, ""),
    c("TRAP.handler", Pass, Pass, None, ""),
    c("precedence.allow_ok", Pass, Pass, None, ""),
    c("precedence.kill_is_highest", Pass, Pass, None, ""),
    c(
        "precedence.kill_is_highest_in_any_order",
        Pass,
        Pass,
        None,
        "",
    ),
    c("precedence.trap_is_second", Pass, Pass, None, ""),
    c(
        "precedence.trap_is_second_in_any_order",
        Pass,
        Pass,
        None,
        "",
    ),
    c("precedence.errno_is_third", Pass, Pass, None, ""),
    c(
        "precedence.errno_is_third_in_any_order",
        Pass,
        Pass,
        None,
        "",
    ),
    c("precedence.trace_is_fourth", Pass, Pass, None, ""),
    c(
        "precedence.trace_is_fourth_in_any_order",
        Pass,
        Pass,
        None,
        "",
    ),
    c("precedence.log_is_fifth", Pass, Pass, None, ""),
    c("precedence.log_is_fifth_in_any_order", Pass, Pass, None, ""),
    c(
        "TRACE_poke.read_has_side_effects",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_poke.getpid_runs_normally",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.ptrace.negative_ENOSYS",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.ptrace.syscall_allowed",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.ptrace.syscall_redirected",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.ptrace.syscall_errno",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.ptrace.syscall_faked",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.ptrace.kill_immediate",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.ptrace.skip_after",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.ptrace.kill_after",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.seccomp.negative_ENOSYS",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.seccomp.syscall_allowed",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.seccomp.syscall_redirected",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.seccomp.syscall_errno",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.seccomp.syscall_faked",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.seccomp.kill_immediate",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.seccomp.skip_after",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c(
        "TRACE_syscall.seccomp.kill_after",
        Pass,
        Pass,
        PTRACE,
        ATTACH_LOOP,
    ),
    c("TSYNC.siblings_fail_prctl", Pass, Pass, None, ""),
    c("TSYNC.two_siblings_with_ancestor", Pass, Pass, None, ""),
    c("TSYNC.two_sibling_want_nnp", Pass, Pass, None, ""),
    c("TSYNC.two_siblings_with_no_filter", Pass, Pass, None, ""),
    c(
        "TSYNC.two_siblings_with_one_divergence",
        Pass,
        Pass,
        None,
        "",
    ),
    c(
        "TSYNC.two_siblings_with_one_divergence_no_tid_in_err",
        Pass,
        Pass,
        None,
        "",
    ),
    c("TSYNC.two_siblings_not_under_filter", Pass, Pass, None, ""),
    c("O_SUSPEND_SECCOMP.setoptions", Pass, Pass, None, ""),
    c("O_SUSPEND_SECCOMP.seize", Pass, Pass, None, ""),
];

const UAPI: &str = "-iquote../../../../include/uapi";

/// The programs, in the order of the runner's cases.
pub const PROGRAMS: &[KsftProgram] = &[
    KsftProgram {
        dir: "seccomp",
        name: "seccomp_bpf",
        harness: Harness::Kselftest,
        cflags: &["-Wl,-no-as-needed"],
        libcap: true,
        busybox_applets: &[],
        musl_not_run: Some(
            "harness: the musl build is built, not run: on Linux itself (this host, natively) \
             KILL_thread and the TSYNC cases two_siblings_with_ancestor, \
             two_siblings_with_no_filter and two_siblings_not_under_filter never end under \
             musl (each waits out the harness's 30 s timeout; on kentry two_sibling_want_nnp \
             too), and the table records glibc's outcomes",
        ),
        cases: SECCOMP_BPF,
    },
    KsftProgram {
        dir: "ptrace",
        name: "get_syscall_info",
        harness: Harness::Kselftest,
        cflags: &["-std=c99", UAPI],
        libcap: false,
        busybox_applets: &[],
        musl_not_run: None,
        cases: &[c("global.get_syscall_info", Pass, Pass, None, "")],
    },
    KsftProgram {
        dir: "ptrace",
        name: "peeksiginfo",
        harness: Harness::ExitStatus { pass_line: "PASS" },
        cflags: &["-std=c99", UAPI],
        libcap: false,
        busybox_applets: &[],
        musl_not_run: None,
        cases: &[c("peeksiginfo", Pass, Pass, None, "")],
    },
    KsftProgram {
        dir: "ptrace",
        name: "vmaccess",
        harness: Harness::Kselftest,
        cflags: &["-std=c99", UAPI],
        libcap: false,
        busybox_applets: &["true", "sleep"],
        musl_not_run: None,
        cases: &[
            c("global.vmaccess", Pass, Pass, None, ""),
            c(
                "global.attach",
                Fail,
                Fail,
                None,
                "Linux: fails too: it waits out the harness's 30 s timeout (also natively on this \
                 host): it expects EAGAIN from PTRACE_ATTACH to a process whose execve waits \
                 for the attacher to reap its traced thread, a change Linux 6.1 lacks (there \
                 the attach blocks on the exec's cred_guard_mutex); on kentry \
                 PTRACE_ATTACH succeeds at once (errno 0 where the test wants EAGAIN)",
            ),
        ],
    },
];

/// The runner case of `p` built with libc `libc` (`glibc` or `musl`).
pub fn case_name(p: &KsftProgram, libc: &str) -> String {
    format!("linux_{}_{libc}", p.name)
}

/// The cases of `p` to leave out of a run on kentry today.
pub fn left_out(p: &KsftProgram) -> Vec<&'static KsftCase> {
    p.cases
        .iter()
        .filter(|c| c.hangs_without.is_some_and(|n| !n.kentry_has()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sane() {
        for p in PROGRAMS {
            let mut names: Vec<&str> = p.cases.iter().map(|c| c.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(
                names.len(),
                p.cases.len(),
                "{}: a case is listed twice",
                p.name
            );
            for c in p.cases {
                let differs = c.linux != Pass || c.kentry != Pass || c.hangs_without.is_some();
                assert_eq!(differs, !c.why.is_empty(), "{}: {c:?}", p.name);
                if differs {
                    assert!(
                        [
                            "kentry gap: ",
                            "kentry bug: ",
                            "TCG cannot provoke: ",
                            "harness: ",
                            "Linux: "
                        ]
                        .iter()
                        .any(|pre| c.why.starts_with(pre)),
                        "{}: the reason of {} has no category",
                        p.name,
                        c.name
                    );
                }
                if let Some(n) = c.hangs_without {
                    assert!(c.why.contains(n.reason()), "{}: {}", p.name, c.name);
                }
                assert!(
                    c.flaky.is_empty() || c.flaky.starts_with("kentry bug: "),
                    "{}: {}: a flaky case is a kentry bug, named",
                    p.name,
                    c.name
                );
            }
            if let Harness::ExitStatus { .. } = p.harness {
                assert_eq!(p.cases.len(), 1, "{}", p.name);
                assert!(
                    left_out(p).is_empty(),
                    "{}: cannot leave its one case out",
                    p.name
                );
            }
        }
    }
}
