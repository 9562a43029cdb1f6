//! The Linux side of `cargo xtask bench --linux`: Debian's Linux 6.1 booted under the same
//! QEMU settings as kentry, with the same static bench programs in an initramfs, one program
//! per boot as `rdinit=/<program>`.
//!
//! The boot ends when the program exits: Linux then panics ("Attempted to kill init!
//! exitcode=0x…"), `panic=-1` makes it reboot at once, and `-no-reboot` turns the reboot into
//! QEMU's exit. The exit code in the panic line is the program's status, so a run counts only
//! when that line says 0.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::bench::{BenchLine, ICOUNT_ARGS, parse_log};
use crate::bench_plugin;
use crate::cpio;
use crate::qemu::{self, Boot, Exit, Machine};

/// The bench programs, each booted as init in turn: user/src/bin/'s, and the 32-bit process's
/// paths from user/c/ia32_bench.c (see [`is_c_program`]).
pub const PROGRAMS: [&str; 3] = ["bench", "bench_mem", IA32_BENCH];

/// The i386 bench program (`gcc -m32 -static`, user/c/build.sh's `progs32`).
pub const IA32_BENCH: &str = "ia32_bench-glibc32";

/// Whether bench program `p` is one of user/c/'s (built into target/user-c) rather than a
/// Rust one of user/src/bin/.
pub fn is_c_program(p: &str) -> bool {
    p == IA32_BENCH
}

/// A set of Linux kernel arguments measured as one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinuxConfig {
    /// The key in latest.json.
    pub key: &'static str,
    /// The table heading.
    pub heading: &'static str,
    /// Kernel arguments beyond the common ones.
    pub args: &'static [&'static str],
}

/// The columns: mitigations off (the spec's reference), and Linux as Debian ships it.
pub const CONFIGS: [LinuxConfig; 2] = [
    LinuxConfig {
        key: "mitigations-off",
        heading: "Linux off",
        args: &["mitigations=off"],
    },
    LinuxConfig {
        key: "default",
        heading: "Linux dflt",
        args: &[],
    },
];

/// Why the context-tracking column (Linux with `nohz_full=1 isolcpus=1`) is not measured
/// without `--plugin`.
pub const NOHZ_FULL_NOT_MEASURED: &str = "Linux getpid-ct (nohz_full=1 isolcpus=1) not \
measured: nohz_full needs a second CPU, and -icount with -smp 2 hangs Linux's SMP bring-up on \
QEMU 7.2; cargo xtask bench --plugin counts it with the insn-count plugin";

/// Where the Linux getpid-ct figure comes from when it is measured.
pub const NOHZ_FULL_MEASURED: &str = "*: Linux getpid on CPU 1 of -smp 2 with mitigations=off \
nohz_full=1 isolcpus=1, the bench pinned there, counted by the insn-count plugin (no -icount)";

/// The TSC frequency Linux is told on microvm (`tsc_early_khz=`), which has no firmware
/// tables to calibrate against. Under `-icount shift=0` the guest TSC counts nanoseconds of
/// virtual time: 1 GHz. Under plain TCG it is the host's TSC; the value only sets Linux's
/// clock and timer rates, never an instruction count.
pub fn tsc_khz(icount: bool) -> u64 {
    if icount {
        1_000_000
    } else {
        host_tsc_khz().unwrap_or(2_000_000)
    }
}

/// The host's CPU frequency from /proc/cpuinfo (`cpu MHz`), in kHz.
fn host_tsc_khz() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    parse_cpu_mhz(&text)
}

fn parse_cpu_mhz(cpuinfo: &str) -> Option<u64> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k.trim() != "cpu MHz" {
            return None;
        }
        let mhz: f64 = v.trim().parse().ok()?;
        (mhz > 0.0).then(|| (mhz * 1000.0).round() as u64)
    })
}

/// The kernel command line of one Linux bench boot.
pub fn cmdline(config: &LinuxConfig, program: &str, machine: Machine, icount: bool) -> Vec<String> {
    let mut a: Vec<String> = ["console=ttyS0", "tsc=reliable", "panic=-1", "quiet"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(format!("rdinit=/{program}"));
    if machine == Machine::Microvm {
        a.push(format!("tsc_early_khz={}", tsc_khz(icount)));
    }
    a.extend(config.args.iter().map(|s| s.to_string()));
    a
}

/// The program that moves itself onto a CPU and execs a bench program there
/// (user/src/bin/pin.rs).
pub const PIN_PROGRAM: &str = "pin";

/// The kernel command line of a Linux bench boot whose init is [`PIN_PROGRAM`], running
/// `program` on `cpu`. Never under `-icount` (a second CPU hangs it).
pub fn pinned_cmdline(
    config: &LinuxConfig,
    program: &str,
    cpu: u32,
    machine: Machine,
) -> Vec<String> {
    let mut a = cmdline(config, PIN_PROGRAM, machine, false);
    // Everything after `--` is init's argv.
    a.push("--".into());
    a.push(cpu.to_string());
    a.push(format!("/{program}"));
    a
}

/// The program `cargo xtask bench --smp` runs on Linux's nohz_full CPU for its ticks
/// (user/src/bin/bench_nohz.rs; not one of [`PROGRAMS`]).
pub const NOHZ_PROGRAM: &str = "bench_nohz";

/// Writes the initramfs (cpio newc) holding the bench programs, [`NOHZ_PROGRAM`] and
/// [`PIN_PROGRAM`] at its root (the Rust ones from `user_bin_dir`, the C one from
/// `user_c_bin_dir`).
pub fn write_initramfs(user_bin_dir: &Path, user_c_bin_dir: &Path, out: &Path) -> Result<()> {
    let mut w = cpio::Writer::new();
    for p in PROGRAMS.iter().chain(&[NOHZ_PROGRAM, PIN_PROGRAM]) {
        let dir = if is_c_program(p) {
            user_c_bin_dir
        } else {
            user_bin_dir
        };
        let src = dir.join(p);
        let data = std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?;
        w.file(p, 0o755, &data)?;
    }
    std::fs::write(out, w.finish()?).with_context(|| format!("writing {}", out.display()))
}

/// The exit code in Linux's "Attempted to kill init! exitcode=0x…" panic line.
pub fn init_exit_code(lines: &[String]) -> Option<u32> {
    lines.iter().find_map(|l| {
        let rest = l.split("Attempted to kill init! exitcode=").nth(1)?;
        let hex = rest.trim().trim_start_matches("0x");
        let digits: String = hex.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        u32::from_str_radix(&digits, 16).ok()
    })
}

/// What every Linux bench boot shares.
pub struct LinuxBench<'a> {
    pub qemu: &'a Path,
    pub vmlinuz: &'a Path,
    pub initramfs: &'a Path,
    pub machine: Machine,
    pub timeout: Duration,
}

/// How a Linux bench boot counts: the TSC under plain TCG; `-icount shift=0`, with the
/// instruction-counting plugin (bench_plugin.rs) counting in the same boot if given; or the
/// plugin alone with `cpus` vCPUs and, for a `nohz_full` boot, the bench program pinned to
/// `pin`.
#[derive(Debug, Clone, Copy)]
pub enum Counter<'a> {
    Tsc,
    Icount {
        plugin: Option<&'a Path>,
    },
    Plugin {
        plugin: &'a Path,
        cpus: u32,
        pin: Option<u32>,
    },
}

/// The nohz_full configuration measured with the plugin: the `getpid-ct` reference
/// (spec/bench.md: Linux 6.1 on a `nohz_full` CPU, context tracking on), with mitigations off
/// as in the reference column.
pub const NOHZ_FULL: LinuxConfig = LinuxConfig {
    key: "nohz-full",
    heading: "Linux nohz_full",
    args: &["mitigations=off", "nohz_full=1", "isolcpus=1"],
};

/// The CPU the bench program runs on in the [`NOHZ_FULL`] boot (of `-smp 2`).
pub const NOHZ_FULL_CPU: u32 = 1;

impl LinuxBench<'_> {
    /// One Linux boot running `program` as init: its bench lines and, with the plugin, the
    /// same lines with the plugin's figures; or an error with the log printed.
    pub fn boot(
        &self,
        config: &LinuxConfig,
        program: &str,
        counter: Counter,
    ) -> Result<(Vec<BenchLine>, Option<Vec<BenchLine>>)> {
        self.boot_with_log(config, program, counter)
            .map(|(lines, counted, _)| (lines, counted))
    }

    /// [`Self::boot`], and the boot's log for lines other than bench lines.
    pub fn boot_with_log(
        &self,
        config: &LinuxConfig,
        program: &str,
        counter: Counter,
    ) -> Result<(Vec<BenchLine>, Option<Vec<BenchLine>>, qemu::BootLog)> {
        let icount = matches!(counter, Counter::Icount { .. });
        let words = match counter {
            Counter::Plugin { pin: Some(cpu), .. } => {
                pinned_cmdline(config, program, cpu, self.machine)
            }
            _ => cmdline(config, program, self.machine, icount),
        };
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let mut b = Boot::new(self.vmlinuz, self.initramfs, &words);
        b.machine = self.machine;
        b.timeout = Some(self.timeout);
        let (plugin, cpus, vcpu) = match counter {
            Counter::Tsc => (None, 1, 0),
            Counter::Icount { plugin } => {
                b.extra_args = ICOUNT_ARGS.iter().map(|s| s.to_string()).collect();
                (plugin, 1, 0)
            }
            Counter::Plugin { plugin, cpus, pin } => (Some(plugin), cpus, pin.unwrap_or(0)),
        };
        if let Some(plugin) = plugin {
            b.extra_args.extend(bench_plugin::qemu_args(plugin, cpus));
        }
        let log = qemu::run(self.qemu, &b)?;
        let (lines, bad) = parse_log(&log.lines);
        let code = init_exit_code(&log.lines);
        let mut trouble = match (log.exit, code) {
            (Exit::Timeout, _) => Some("timed out".to_string()),
            (_, None) => Some("ended without init's exit (no \"Attempted to kill init\")".into()),
            (_, Some(c)) if c != 0 => Some(format!("/{program} exited with 0x{c:x}")),
            _ if !bad.is_empty() => Some(format!("printed bad lines: {}", bad.join("; "))),
            _ if lines.is_empty() => Some("printed no `bench <path> …` line".into()),
            _ => crate::bench_spec::check_lines(&lines)
                .err()
                .map(|e| format!("printed lines short of the spec: {e}")),
        };
        let mut counted = None;
        if trouble.is_none() && plugin.is_some() {
            match bench_plugin::regions(&log.stderr, vcpu)
                .and_then(|r| bench_plugin::replace_figures(&log.lines, &r))
            {
                Ok(l) => counted = Some(l),
                Err(e) => trouble = Some(format!("plugin counts: {e:#}")),
            }
        }
        if let Some(why) = trouble {
            let what = format!("Linux bench /{program} ({})", config.key);
            log.print_full(&what);
            bail!("{what} {why}");
        }
        Ok((lines, counted, log))
    }
}

/// The initramfs path under the bench directory.
pub fn initramfs_path(bench_dir: &Path) -> PathBuf {
    bench_dir.join("linux-initramfs.cpio")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_init_exit_code() {
        let lines = vec![
            "[    2.1] Run /bench as init process".to_string(),
            "[    9.9] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000"
                .to_string(),
        ];
        assert_eq!(init_exit_code(&lines), Some(0));
        let failed = vec![
            "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100".to_string(),
        ];
        assert_eq!(init_exit_code(&failed), Some(0x100));
        assert_eq!(
            init_exit_code(&["Kernel panic - not syncing: VFS".to_string()]),
            None
        );
    }

    #[test]
    fn command_lines() {
        let off = cmdline(&CONFIGS[0], "bench", Machine::Microvm, true);
        for w in [
            "console=ttyS0",
            "tsc=reliable",
            "panic=-1",
            "rdinit=/bench",
            "mitigations=off",
            "tsc_early_khz=1000000",
        ] {
            assert!(off.iter().any(|a| a == w), "{w} missing from {off:?}");
        }
        let pinned = pinned_cmdline(&NOHZ_FULL, "bench", 1, Machine::Microvm);
        let tail: Vec<&str> = pinned
            .iter()
            .rev()
            .take(4)
            .rev()
            .map(String::as_str)
            .collect();
        assert_eq!(tail, ["isolcpus=1", "--", "1", "/bench"]);
        assert!(pinned.iter().any(|a| a == "rdinit=/pin"));
        assert!(pinned.iter().any(|a| a == "nohz_full=1"));
        let dflt = cmdline(&CONFIGS[1], "bench_mem", Machine::Pc, false);
        assert!(dflt.iter().any(|a| a == "rdinit=/bench_mem"));
        assert!(!dflt.iter().any(|a| a.starts_with("mitigations")));
        assert!(!dflt.iter().any(|a| a.starts_with("tsc_early_khz")));
    }

    #[test]
    fn reads_cpu_mhz() {
        let text = "processor\t: 0\nmodel name\t: X\ncpu MHz\t\t: 2499.998\n";
        assert_eq!(parse_cpu_mhz(text), Some(2_499_998));
        assert_eq!(parse_cpu_mhz("processor : 0\n"), None);
    }
}
