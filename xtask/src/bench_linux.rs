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
use crate::cpio;
use crate::qemu::{self, Boot, Exit, Machine};

/// The bench programs, each booted as init in turn (user/src/bin/).
pub const PROGRAMS: [&str; 2] = ["bench", "bench_mem"];

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

/// Why the context-tracking column (Linux with `nohz_full=1 isolcpus=1`) is not measured.
pub const NOHZ_FULL_NOT_MEASURED: &str = "Linux getpid-ct (nohz_full=1 isolcpus=1) not \
measured: nohz_full needs a second CPU, -icount with -smp 2 hangs Linux's SMP bring-up on QEMU \
7.2, and counting per vCPU with a TCG plugin needs qemu-plugin.h, which is not installed here";

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

/// Writes the initramfs (cpio newc) holding the bench programs at its root.
pub fn write_initramfs(user_bin_dir: &Path, out: &Path) -> Result<()> {
    let mut w = cpio::Writer::new();
    for p in PROGRAMS {
        let src = user_bin_dir.join(p);
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

impl LinuxBench<'_> {
    /// One Linux boot running `program` as init; its bench lines, or an error with the log
    /// printed.
    pub fn boot(
        &self,
        config: &LinuxConfig,
        program: &str,
        icount: bool,
    ) -> Result<Vec<BenchLine>> {
        let words = cmdline(config, program, self.machine, icount);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let mut b = Boot::new(self.vmlinuz, self.initramfs, &words);
        b.machine = self.machine;
        b.timeout = Some(self.timeout);
        if icount {
            b.extra_args = ICOUNT_ARGS.iter().map(|s| s.to_string()).collect();
        }
        let log = qemu::run(self.qemu, &b)?;
        let (lines, bad) = parse_log(&log.lines);
        let code = init_exit_code(&log.lines);
        let trouble = match (log.exit, code) {
            (Exit::Timeout, _) => Some("timed out".to_string()),
            (_, None) => Some("ended without init's exit (no \"Attempted to kill init\")".into()),
            (_, Some(c)) if c != 0 => Some(format!("/{program} exited with 0x{c:x}")),
            _ if !bad.is_empty() => Some(format!("printed bad lines: {}", bad.join("; "))),
            _ if lines.is_empty() => Some("printed no `bench <path> …` line".into()),
            _ => None,
        };
        if let Some(why) = trouble {
            let what = format!("Linux bench /{program} ({})", config.key);
            log.print_full(&what);
            bail!("{what} {why}");
        }
        Ok(lines)
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
