//! The lean kernel in `cargo xtask test`: the kernel `cargo xtask run` and `cargo xtask bench`
//! boot (built without `test-hooks`; context tracking off unless `kentry.ct=on`). Its entry
//! path with the context-tracking static branch off is what the bench measures, so the ring-3
//! register, flag and signal tests of the manifest run on it too, once with context tracking
//! off and once on. Each result is named with the kernel that proved it, e.g.
//! `syscall_regs [lean ct=off]`; the test kernel's results keep their plain names.

use crate::ktap::Suite;
use crate::manifest::Manifest;

/// The context-tracking settings the lean kernel is tested with (`kentry.ct=`).
pub const CT_SETTINGS: [CtSetting; 3] = [CtSetting::Off, CtSetting::On, CtSetting::Hooks];

/// `kentry.ct=off|on|hooks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtSetting {
    Off,
    On,
    /// Context tracking with the host's user-transition hooks (kentry's `USER_HOOKS` key), as
    /// a kernel with a nohz_full CPU runs them, on a machine where no CPU is nohz_full: the
    /// hooks' own copy of each user transition runs, and the hooks find nothing to do.
    Hooks,
}

impl CtSetting {
    pub fn word(self) -> &'static str {
        match self {
            CtSetting::Off => "off",
            CtSetting::On => "on",
            CtSetting::Hooks => "hooks",
        }
    }

    /// The label of this kernel in messages: `lean ct=off`.
    pub fn label(self) -> String {
        format!("lean ct={}", self.word())
    }

    /// What is appended to the name of every result this kernel proved: ` [lean ct=off]`.
    pub fn suffix(self) -> String {
        format!(" [{}]", self.label())
    }
}

/// The manifest entries of the ring-3 entry contract, by name: registers, flags and syscall
/// numbering across SYSCALL, register state through signal delivery and rt_sigreturn, hostile
/// sigreturn frames, and the C signal programs (libc's own handlers and restorers).
const ENTRIES: &[&str] = &[
    "syscall_regs",
    "syscall_flags",
    "syscall_numbering",
    "sig_regs",
    "sigreturn_bad",
    "c_signals_musl",
    "c_signals_glibc",
];

/// And every entry whose name starts with one of these: the ring-3 exceptions (`fault_*`).
const ENTRY_PREFIXES: &[&str] = &["fault_"];

/// The names of the manifest entries run on the lean kernel, in manifest order: those of
/// `ENTRIES`, and those starting with an `ENTRY_PREFIXES` prefix, that run in the guest.
/// `only` (`--only NAME`) narrows them down to that one.
pub fn entries<'a>(m: &'a Manifest, only: Option<&str>) -> Vec<&'a str> {
    m.entries
        .iter()
        .filter(|e| e.placement.in_guest())
        .map(|e| e.name.as_str())
        .filter(|n| ENTRIES.contains(n) || ENTRY_PREFIXES.iter().any(|p| n.starts_with(p)))
        .filter(|n| only.is_none_or(|o| o == *n))
        .collect()
}

/// The entries of `ENTRIES` that the manifest lacks (a renamed test must not vanish unseen).
pub fn missing_entries(m: &Manifest) -> Vec<&'static str> {
    ENTRIES
        .iter()
        .copied()
        .filter(|n| m.find(n).is_none_or(|e| !e.placement.in_guest()))
        .collect()
}

/// The kernel's command line for a test boot of `names` with context tracking `ct`.
pub fn cmdline(ct: CtSetting, names: &[&str]) -> Vec<String> {
    vec![
        "kentry.mode=test".into(),
        "kentry.platform=tcg".into(),
        format!("kentry.ct={}", ct.word()),
        format!("kentry.only={}", names.join(",")),
    ]
}

/// The longest command line the kernel keeps (`CMDLINE_BUF` in kernel/src/boot/mod.rs, less
/// its NUL); a longer one would be cut short.
pub const KERNEL_CMDLINE_MAX: usize = 1023;

/// The kernel's log line when context tracking is on (kernel/src/text_poke.rs).
const CT_ON_LOG: &str = "[kentry] context tracking: on";
/// The kernel's line when `USER_HOOKS` is on (kernel/src/text_poke.rs).
const HOOKS_ON_LOG: &str = "[kentry] context tracking: user-transition hooks on";

/// Whether the boot's log shows the context-tracking setting it was asked for: the label
/// `ct=on|off` must be what the kernel ran with.
pub fn check_ct(ct: CtSetting, log: &str) -> Option<String> {
    let on = log.lines().any(|l| l.starts_with(CT_ON_LOG));
    let hooks = log.lines().any(|l| l.starts_with(HOOKS_ON_LOG));
    match (ct, on, hooks) {
        (CtSetting::On | CtSetting::Hooks, false, _) => {
            Some(format!("the kernel log lacks {CT_ON_LOG:?}"))
        }
        (CtSetting::Hooks, _, false) => Some(format!("the kernel log lacks {HOOKS_ON_LOG:?}")),
        (CtSetting::Off, true, _) => Some(format!(
            "context tracking was on, though kentry.ct=off: the log says {CT_ON_LOG:?}"
        )),
        (CtSetting::Off | CtSetting::On, _, true) => Some(format!(
            "the user-transition hooks were on, though kentry.ct={}: the log says {HOOKS_ON_LOG:?}",
            ct.word()
        )),
        _ => None,
    }
}

/// Whether the top-level results are exactly `asked`, in that order.
pub fn check_names(asked: &[String], suite: &Suite) -> Option<String> {
    let got: Vec<&str> = suite.results.iter().map(|r| r.name.as_str()).collect();
    let want: Vec<&str> = asked.iter().map(String::as_str).collect();
    (got != want).then(|| format!("asked for {want:?}, the kernel reported {got:?}"))
}

/// Appends `suffix` to the name of every top-level result of `suite`.
pub fn rename(suite: &mut Suite, suffix: &str) {
    for r in &mut suite.results {
        r.name.push_str(suffix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Workspace;

    #[test]
    fn the_contract_entries_are_in_the_manifest() {
        let ws = Workspace::locate().unwrap();
        let m = crate::manifest::read_all(&ws.manifests(), &ws.root).unwrap();
        assert_eq!(missing_entries(&m), Vec::<&str>::new());
        let all = entries(&m, None);
        for n in [
            "syscall_regs",
            "sig_regs",
            "fault_ud",
            "fault_tf",
            "c_signals_glibc",
        ] {
            assert!(all.contains(&n), "{n} missing from {all:?}");
        }
        assert!(!all.contains(&"hello") && !all.contains(&"fs_basic"));
        assert_eq!(entries(&m, Some("fault_gp")), vec!["fault_gp"]);
        assert!(entries(&m, Some("hello")).is_empty());
        for ct in CT_SETTINGS {
            let line = cmdline(ct, &all).join(" ");
            assert!(line.len() <= KERNEL_CMDLINE_MAX, "{} bytes", line.len());
        }
    }

    #[test]
    fn command_line_and_names() {
        assert_eq!(
            cmdline(CtSetting::On, &["a", "b"]),
            vec![
                "kentry.mode=test",
                "kentry.platform=tcg",
                "kentry.ct=on",
                "kentry.only=a,b"
            ]
        );
        assert_eq!(CtSetting::Off.suffix(), " [lean ct=off]");
    }

    #[test]
    fn context_tracking_in_the_log() {
        let on =
            "[kentry] cmdline: x\n[kentry] context tracking: on (9 static-branch sites patched)\n";
        let off = "[kentry] cmdline: x\n[kentry] memory: 253 MiB\n";
        assert_eq!(check_ct(CtSetting::On, on), None);
        assert_eq!(check_ct(CtSetting::Off, off), None);
        assert!(check_ct(CtSetting::On, off).is_some());
        assert!(check_ct(CtSetting::Off, on).is_some());
        let hooks = format!("{on}[kentry] context tracking: user-transition hooks on (4 sites)\n");
        assert_eq!(check_ct(CtSetting::Hooks, &hooks), None);
        assert!(check_ct(CtSetting::Hooks, on).is_some());
        assert!(check_ct(CtSetting::On, &hooks).is_some());
    }

    #[test]
    fn names_must_match_and_are_renamed() {
        let mut suite = crate::ktap::parse("KTAP version 1\n1..2\nok 1 a\nok 2 b\n");
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(check_names(&names(&["a", "b"]), &suite), None);
        assert!(check_names(&names(&["a"]), &suite).is_some());
        assert!(check_names(&names(&["b", "a"]), &suite).is_some());
        rename(&mut suite, CtSetting::On.suffix().as_str());
        assert_eq!(suite.results[1].name, "b [lean ct=on]");
    }
}
