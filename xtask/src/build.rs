//! `cargo xtask build`: the kernel and user-program builds of harness.md, `boot/kernel.sym` and
//! the initrd.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use crate::cpio;
use crate::symbols;
use crate::workspace::{self, Flavor, KERNEL_PACKAGE, TARGET, USER_PACKAGE, Workspace};

/// RUSTFLAGS of the kernel build.
/// No frame pointers: backtraces come from the DWARF unwind tables (`-C force-unwind-tables`),
/// so no kernel function pays a frame-pointer prologue.
pub const KERNEL_RUSTFLAGS: &str =
    "-C code-model=kernel -C relocation-model=static -C force-unwind-tables=yes";
/// RUSTFLAGS of the user-program build.
pub const USER_RUSTFLAGS: &str = "-C relocation-model=static";

/// A built user program.
#[derive(Debug, Clone)]
pub struct UserProgram {
    pub name: String,
    pub path: PathBuf,
}

/// Everything a boot needs.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub kernel: PathBuf,
    pub programs: Vec<UserProgram>,
    pub initrd: PathBuf,
}

/// Builds the kernel of `flavor` and the user programs and packs the initrd.
pub fn all(ws: &Workspace, flavor: Flavor) -> Result<Artifacts> {
    let kernel = kernel(ws, flavor)?;
    let programs = user(ws)?;
    let initrd = initrd(ws, flavor, &kernel, &programs)?;
    Ok(Artifacts {
        kernel,
        programs,
        initrd,
    })
}

/// The cross-build command for `package` with the given `RUSTFLAGS` and target dir; `subcommand`
/// is `build` or `clippy`.
pub fn cross_cargo(
    ws: &Workspace,
    subcommand: &str,
    package: &str,
    rustflags: &str,
    target_dir: &Path,
) -> Command {
    let mut cmd = ws.cargo();
    cmd.args([subcommand, "--release", "-p", package, "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir)
        .env("RUSTFLAGS", rustflags);
    cmd
}

/// Quiet builds: no progress messages, and the tools' output only when they fail.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Makes the builds quiet (`cargo xtask run`, whose stdout and stderr belong to the guest
/// program) or chatty (the default).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Runs a command, its output on stderr (quiet: collected, and shown only if it fails);
/// fails with `what` if it fails.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<()> {
    let program = cmd.get_program().to_owned();
    let start = || format!("{what}: cannot start {program:?}");
    if quiet() {
        let out = cmd.output().with_context(start)?;
        if !out.status.success() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&out.stdout);
            let _ = err.write_all(&out.stderr);
            bail!("{what} failed ({})", out.status);
        }
        return Ok(());
    }
    eprintln!("xtask: {what}");
    let status = cmd.stdout(std::io::stderr()).status().with_context(start)?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Builds the kernel; returns the path of its ELF image.
pub fn kernel(ws: &Workspace, flavor: Flavor) -> Result<PathBuf> {
    run_checked(
        cross_cargo(
            ws,
            "build",
            KERNEL_PACKAGE,
            KERNEL_RUSTFLAGS,
            &ws.kernel_target_dir(flavor),
        )
        .args(flavor.cargo_args()),
        &format!(
            "building the {flavor:?} kernel ({KERNEL_PACKAGE} {}, RUSTFLAGS=\"{KERNEL_RUSTFLAGS}\")",
            flavor.cargo_args().join(" ")
        ),
    )?;
    let elf = ws.kernel_elf(flavor);
    if !elf.is_file() {
        bail!(
            "the kernel build succeeded but {} does not exist",
            elf.display()
        );
    }
    Ok(elf)
}

/// Builds the user programs; returns every binary of the user package.
pub fn user(ws: &Workspace) -> Result<Vec<UserProgram>> {
    run_checked(
        &mut cross_cargo(
            ws,
            "build",
            USER_PACKAGE,
            USER_RUSTFLAGS,
            &ws.user_target_dir(),
        ),
        &format!("building the user programs ({USER_PACKAGE}, RUSTFLAGS=\"{USER_RUSTFLAGS}\")"),
    )?;
    let names = ws.user_bin_names()?;
    let dir = ws.user_bin_dir();
    let mut programs = Vec::new();
    for name in names {
        let path = dir.join(&name);
        if !is_executable(&path) {
            bail!(
                "user program {name} was not built: {} is missing or not executable",
                path.display()
            );
        }
        programs.push(UserProgram { name, path });
    }
    Ok(programs)
}

/// Whether `path` is a regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Writes `target/kernel.sym` and `target/initrd.cpio`; returns the initrd's path.
pub fn initrd(
    ws: &Workspace,
    flavor: Flavor,
    kernel: &Path,
    programs: &[UserProgram],
) -> Result<PathBuf> {
    let syms = symbols::read(kernel)?;
    let sym_text = symbols::format(&syms);
    write_file(&ws.kernel_sym(flavor), sym_text.as_bytes())?;

    let manifest_path = ws.manifest();
    let manifest = std::fs::read(&manifest_path)
        .with_context(|| format!("reading the test manifest {}", manifest_path.display()))?;

    let mut w = cpio::Writer::new();
    for dir in ["bin", "etc", "boot"] {
        w.dir(dir)?;
    }
    for p in programs {
        let data =
            std::fs::read(&p.path).with_context(|| format!("reading {}", p.path.display()))?;
        w.file(&format!("bin/{}", p.name), 0o755, &data)?;
    }
    w.file("etc/kentry-tests", 0o644, &manifest)?;
    w.file("boot/kernel.sym", 0o644, sym_text.as_bytes())?;
    let bytes = w.finish()?;
    let out = ws.initrd(flavor);
    write_file(&out, &bytes)?;
    if !quiet() {
        eprintln!(
            "xtask: wrote {} ({} programs, {} kernel symbols, {} KiB)",
            workspace::shown(&out, &ws.root),
            programs.len(),
            syms.len(),
            bytes.len().div_ceil(1024)
        );
    }
    Ok(out)
}

pub fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}
