//! `cargo xtask`: the host tool of kentry. It builds the kernel and the user programs, packs the
//! initrd, boots the kernel under QEMU and reads what it says (docs/harness.md is the contract).

mod bench;
mod bench_linux;
mod bench_nohz;
mod bench_plugin;
mod bench_plugin_report;
mod bench_report;
mod bench_smp;
mod bench_smp_report;
mod bench_spec;
mod boots;
mod build;
mod capability_probe;
mod cpio;
mod entry_cases;
mod example;
mod frames;
mod fuzz;
mod host_run;
mod install;
mod ktap;
mod lean;
mod lint;
mod linux_image;
mod linux_oracle;
mod linux_selftests;
mod manifest;
mod noinstr;
mod qemu;
mod qmp;
mod run;
mod runner_check;
mod symbols;
mod test;
mod tty_check;
mod unit;
mod vdso;
mod verify;
mod window_tables;
mod workspace;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::workspace::Workspace;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Build, boot, test and measure kentry")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build the kernel and the user programs and pack target/initrd.cpio.
    Build,
    /// Run a static x86-64 Linux program on kentry as PID 1, like a shell: its stdin, stdout,
    /// stderr and exit status are xtask's (`-- PROGRAM [ARGS…]`; without one, the demo).
    Run(run::RunArgs),
    /// Run every test: host unit tests, the test kernel, the boot tests, the host cross-check.
    Test(test::TestArgs),
    /// Measure the entry paths (plain TCG and -icount) and compare with the references.
    Bench(bench::BenchArgs),
    /// Inject an NMI at every instruction of the entry paths (gdbstub + QMP), with the
    /// register checkers running (docs/verify.md).
    Verify(verify::VerifyArgs),
    /// The entry fuzzer on -smp N with NMIs injected (docs/fuzz.md).
    Fuzz(fuzz::FuzzArgs),
    /// Run the selftests that `cargo xtask test` runs on kentry from Linux's seccomp and ptrace
    /// directories, and the x86 ones kentry cannot run yet, on Debian's Linux 6.1 under the
    /// same QEMU: Linux's result per case next to kentry's, checked against the tables.
    LinuxSelftests,
    /// Clippy with -D warnings on the host crates, the kernel and the user programs.
    Clippy,
    /// The noinstr check of `cargo xtask test` on kernel ELF files (default: the built test
    /// and lean kernels), with its figures per root (docs/entry-cases.md, E23).
    Noinstr {
        /// ELF files to check.
        elf: Vec<std::path::PathBuf>,
    },
    /// Format the workspace (cargo fmt --all).
    Fmt {
        /// Only check; change nothing.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    let ws = Workspace::locate()?;
    // Every package a command needs is installed here, once, before anything runs in parallel.
    let needs = match &cmd {
        Cmd::Test(args) => install::needs_for_test(args.host),
        Cmd::LinuxSelftests => install::needs_for_test(false),
        Cmd::Run(_) | Cmd::Bench(_) | Cmd::Build | Cmd::Verify(_) | Cmd::Fuzz(_) => {
            install::needs_for_boot()
        }
        Cmd::Clippy | Cmd::Fmt { .. } | Cmd::Noinstr { .. } => Vec::new(),
    };
    install::ensure_packages(&needs)?;
    match cmd {
        Cmd::Build => {
            install::ensure_toolchain(&ws)?;
            for flavor in [workspace::Flavor::Test, workspace::Flavor::Lean] {
                let art = build::all(&ws, flavor)?;
                println!(
                    "{flavor:?} kernel: {}",
                    workspace::shown(&art.kernel, &ws.root)
                );
                println!("initrd: {}", workspace::shown(&art.initrd, &ws.root));
                println!(
                    "symbols: {}",
                    workspace::shown(&ws.kernel_sym(flavor), &ws.root)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run(args) => run::run(&ws, &args),
        Cmd::Test(args) => test::run(&ws, &args),
        Cmd::Bench(args) => bench::run(&ws, &args).map(|()| ExitCode::SUCCESS),
        Cmd::Verify(args) => verify::run(&ws, &args),
        Cmd::Fuzz(args) => fuzz::run(&ws, &args),
        Cmd::LinuxSelftests => linux_oracle::run(&ws),
        Cmd::Clippy => lint::clippy(&ws).map(|()| ExitCode::SUCCESS),
        Cmd::Noinstr { elf } => noinstr::command(&ws, &elf),
        Cmd::Fmt { check } => lint::fmt(&ws, check).map(|()| ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_commands() {
        let cli = Cli::try_parse_from(["xtask", "run", "--gdb", "--", "echo", "-n", "x"]).unwrap();
        let Cmd::Run(args) = cli.command else {
            panic!("not run")
        };
        assert!(args.gdb);
        assert_eq!(args.program, vec!["echo", "-n", "x"]);
        let cli = Cli::try_parse_from([
            "xtask", "run", "--file", "a:/b", "--file", "c", "--log", "--", "p", "--file",
        ])
        .unwrap();
        let Cmd::Run(args) = cli.command else {
            panic!("not run")
        };
        assert!(args.log);
        assert_eq!(args.files, vec!["a:/b", "c"]);
        // Everything after `--` is the program's, options included.
        assert_eq!(args.program, vec!["p", "--file"]);
        let cli = Cli::try_parse_from(["xtask", "test", "--only", "sigsegv"]).unwrap();
        let Cmd::Test(args) = cli.command else {
            panic!("not test")
        };
        assert_eq!(args.only.as_deref(), Some("sigsegv"));
        assert!(Cli::try_parse_from(["xtask", "test", "--host", "--negative"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "bench", "--runs", "0"]).is_err());
        let cli = Cli::try_parse_from(["xtask", "bench", "--no-linux"]).unwrap();
        let Cmd::Bench(args) = cli.command else {
            panic!("not bench")
        };
        assert!(args.no_linux);
        assert!(Cli::try_parse_from(["xtask", "bench", "--linux", "--no-linux"]).is_err());
        let cli = Cli::try_parse_from(["xtask", "bench", "--smp", "--no-linux"]).unwrap();
        let Cmd::Bench(args) = cli.command else {
            panic!("not bench")
        };
        assert!(args.smp && args.no_linux);
        // --smp is its own set of boots: it does not combine with the one-CPU plugin run.
        assert!(Cli::try_parse_from(["xtask", "bench", "--smp", "--plugin"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "run", "--accel", "hvf"]).is_err());
        let cli = Cli::try_parse_from([
            "xtask",
            "fuzz",
            "--minutes",
            "60",
            "--seed",
            "0x60d2",
            "--cpus",
            "2",
        ])
        .unwrap();
        let Cmd::Fuzz(args) = cli.command else {
            panic!("not fuzz")
        };
        assert_eq!((args.minutes, args.cpus), (60, 2));
        assert_eq!(
            fuzz::parse_seed(args.seed.as_deref().unwrap()).unwrap(),
            0x60d2
        );
        assert!(Cli::try_parse_from(["xtask", "fuzz", "--minutes", "0"]).is_err());
    }
}
