//! `cargo xtask run`: boot the kernel in run mode with the serial console on stdout.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::build;
use crate::install;
use crate::qemu::{self, Accel, Boot, KernelExit, Machine};
use crate::workspace::{self, Workspace};

/// Options of `cargo xtask run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Start QEMU's gdbstub on :1234 and wait for a debugger (no timeout).
    #[arg(long)]
    pub gdb: bool,
    /// The accelerator. KVM on these machines is kvm_pvm and does not run the kernel correctly.
    #[arg(long, value_enum, default_value_t = Accel::Tcg)]
    pub accel: Accel,
    /// Seconds before QEMU is stopped (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// The QEMU machine.
    #[arg(long, value_enum, default_value_t = Machine::Microvm)]
    pub machine: Machine,
    /// The QEMU CPU model (e.g. `max,-smap`).
    #[arg(long, default_value = "max")]
    pub cpu: String,
    /// The program to run (a name in /bin, or an absolute path in the initrd) and its
    /// arguments; default /bin/hello.
    #[arg(last = true, value_name = "PROGRAM ARGS")]
    pub program: Vec<String>,
}

/// The kernel command line of a run: `kentry.mode=run [kentry.init=<path> [-- args…]]`.
pub fn cmdline(program: &[String]) -> Result<Vec<String>> {
    let mut words = vec!["kentry.mode=run".to_string()];
    let Some((prog, args)) = program.split_first() else {
        return Ok(words);
    };
    for w in program {
        if w.is_empty() || w.chars().any(char::is_whitespace) {
            bail!("{w:?}: the kernel command line cannot carry empty words or words with spaces");
        }
    }
    let path = if prog.starts_with('/') {
        prog.clone()
    } else {
        format!("/bin/{prog}")
    };
    words.push(format!("kentry.init={path}"));
    if !args.is_empty() {
        words.push("--".into());
        words.extend(args.iter().cloned());
    }
    Ok(words)
}

pub fn run(ws: &Workspace, args: &RunArgs) -> Result<ExitCode> {
    let words = cmdline(&args.program)?;
    if args.accel == Accel::Kvm {
        eprintln!("{}", qemu::KVM_WARNING);
    }
    let qemu_bin = install::ensure_qemu()?;
    install::ensure_toolchain(ws)?;
    let art = build::all(ws, crate::workspace::Flavor::Lean)?;
    if let Some(prog) = args.program.first()
        && !prog.starts_with('/')
        && !art.programs.iter().any(|p| &p.name == prog)
    {
        let names: Vec<&str> = art.programs.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "there is no user program {prog:?}; the programs are: {}",
            names.join(", ")
        );
    }

    let mut boot = Boot::new(&art.kernel, &art.initrd, &[]);
    boot.cmdline = words;
    boot.machine = args.machine;
    boot.accel = args.accel;
    boot.cpu = args.cpu.clone();
    boot.gdb = args.gdb;
    boot.echo = true;
    boot.timeout = (!args.gdb && args.timeout > 0).then(|| Duration::from_secs(args.timeout));
    if args.gdb {
        println!("xtask: QEMU waits for a debugger on :1234; attach with");
        println!(
            "    gdb {} -ex 'target remote :1234'",
            workspace::shown(&art.kernel, &ws.root)
        );
    }
    eprintln!("xtask: booting: {}", boot.cmdline_text());
    let log = qemu::run(&qemu_bin, &boot)?;
    let exit = log.kernel_exit();
    if exit == KernelExit::Finished {
        eprintln!("xtask: {}", log.describe());
        return Ok(ExitCode::SUCCESS);
    }
    if exit == KernelExit::Timeout {
        println!("TIMEOUT");
    }
    if let KernelExit::QemuError(msg) = &exit {
        eprintln!("xtask: QEMU: {msg}");
    }
    eprintln!(
        "xtask: the kernel did not finish cleanly: {}",
        log.describe()
    );
    Ok(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Result<Vec<String>> {
        cmdline(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn run_cmdlines() {
        assert_eq!(words(&[]).unwrap(), vec!["kentry.mode=run"]);
        assert_eq!(
            words(&["hello"]).unwrap(),
            vec!["kentry.mode=run", "kentry.init=/bin/hello"]
        );
        assert_eq!(
            words(&["/bin/echo", "a", "b"]).unwrap(),
            vec!["kentry.mode=run", "kentry.init=/bin/echo", "--", "a", "b"]
        );
        assert!(words(&["echo", "two words"]).is_err());
        assert!(words(&["echo", ""]).is_err());
    }
}
