//! `cargo xtask build`: the kernel and user-program builds of harness.md (the Rust programs and
//! the C ones of `user/c/`), `boot/kernel.sym` and the initrd.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::cpio;
use crate::install;
use crate::manifest;
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
    let programs = programs(ws)?;
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
    if package == KERNEL_PACKAGE {
        // The kernel embeds the vDSO image (built first by [`crate::vdso::build`]).
        cmd.env(crate::vdso::ENV, crate::vdso::image(ws));
        cmd.env(crate::vdso::ENV32, crate::vdso::stripped32(ws));
        cmd.env(crate::vdso::ENV32_SYMS, crate::vdso::syms32(ws));
    }
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
    crate::vdso::build(ws)?;
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

/// Builds every user program, the Rust ones (`user`) and the C ones (`user_c`); returns them
/// all. Their names must differ: they share the initrd's `bin/`.
pub fn programs(ws: &Workspace) -> Result<Vec<UserProgram>> {
    let mut programs = user(ws)?;
    for p in user_c(ws)? {
        if let Some(q) = programs.iter().find(|q| q.name == p.name) {
            bail!(
                "two user programs are named {}: {} and {}",
                p.name,
                q.path.display(),
                p.path.display()
            );
        }
        programs.push(p);
    }
    Ok(programs)
}

/// Builds the C test programs with `user/c/build.sh target/user-c` (after making sure that
/// `musl-gcc` exists), unless every output is newer than every source; returns
/// `<prog>-musl` and `<prog>-glibc` for every `user/c/<prog>.c`, and only `<prog>-glibc32`
/// (gcc -m32) for an i386 one (`user/c/ia32*.c`).
pub fn user_c(ws: &Workspace) -> Result<Vec<UserProgram>> {
    let src = ws.user_c_src();
    let out = ws.user_c_bin_dir();
    let (sources, names) = c_sources(&src)?;
    let programs: Vec<UserProgram> = names
        .into_iter()
        .map(|name| UserProgram {
            path: out.join(&name),
            name,
        })
        .collect();
    let outputs: Vec<&Path> = programs.iter().map(|p| p.path.as_path()).collect();
    if !up_to_date(&sources, &outputs) {
        install::installed(install::NEED_MUSL).context("setup for the C test programs")?;
        install::require(install::NEED_GCC_MULTILIB)
            .context("setup for the 32-bit C test programs")?;
        let script = src.join("build.sh");
        run_checked(
            Command::new("bash")
                .arg(&script)
                .arg(&out)
                .current_dir(&ws.root),
            &format!(
                "building the C test programs ({} {})",
                workspace::shown(&script, &ws.root),
                workspace::shown(&out, &ws.root)
            ),
        )?;
    }
    for p in &programs {
        if !is_executable(&p.path) {
            bail!(
                "C test program {} was not built: {} is missing or not executable \
                 (is it in the progs list of user/c/build.sh?)",
                p.name,
                p.path.display()
            );
        }
    }
    Ok(programs)
}

/// The names of the C test programs (built or not).
pub fn c_program_names(ws: &Workspace) -> Result<Vec<String>> {
    Ok(c_sources(&ws.user_c_src())?.1)
}

/// The sources of the C test programs in `dir` (every file but the `.md` and `.manifest` ones,
/// `build.sh` included) and the names of the programs built from them, sorted.
fn c_sources(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut sources = Vec::new();
    let mut names = Vec::new();
    for ent in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = ent
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if !path.is_file() {
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "md" || ext == "manifest" {
            continue;
        }
        if ext == "c"
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            if stem.starts_with("ia32") {
                // An i386 program: glibc's i386 build only (musl has no i386 target here).
                names.push(format!("{stem}-glibc32"));
            } else {
                names.extend(["musl", "glibc"].map(|libc| format!("{stem}-{libc}")));
            }
        }
        sources.push(path);
    }
    if names.is_empty() {
        bail!("{} holds no C program (*.c)", dir.display());
    }
    // build.sh's `progs_m32=(...)`: portable programs also built for i386 as <prog>-glibc32;
    // its `progs_dyn=(...)`: also linked dynamically.
    let script = dir.join("build.sh");
    if let Ok(text) = std::fs::read_to_string(&script) {
        for line in text.lines() {
            if let Some(list) = line
                .strip_prefix("progs_m32=(")
                .and_then(|l| l.strip_suffix(')'))
            {
                names.extend(list.split_whitespace().map(|p| format!("{p}-glibc32")));
            }
            // `progs_dyn=(...)`: also linked dynamically, x86-64 and i386.
            if let Some(list) = line
                .strip_prefix("progs_dyn=(")
                .and_then(|l| l.strip_suffix(')'))
            {
                for p in list.split_whitespace() {
                    names.extend([format!("{p}-glibcdyn"), format!("{p}-glibc32dyn")]);
                }
            }
        }
    }
    sources.sort();
    names.sort();
    Ok((sources, names))
}

/// Whether every output exists and is newer than every source.
fn up_to_date(sources: &[PathBuf], outputs: &[&Path]) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let newest_source = sources
        .iter()
        .map(|s| mtime(s))
        .try_fold(SystemTime::UNIX_EPOCH, |acc, t| t.map(|t| acc.max(t)));
    let oldest_output = outputs
        .iter()
        .map(|o| mtime(o))
        .try_fold(None::<SystemTime>, |acc, t| {
            t.map(|t| Some(acc.map_or(t, |a| a.min(t))))
        });
    match (newest_source, oldest_output) {
        (Some(src), Some(Some(out))) => out > src,
        _ => false,
    }
}

/// Whether `path` is a regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// User programs left out of kentry's initrd: `pin` only serves the Linux bench boots
/// (bench_linux.rs), and an extra file in the initrd moves kentry's fork and exec figures.
pub const NOT_IN_INITRD: [&str; 1] = ["pin"];

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

    // One file from all the manifests, checked here as xtask reads them.
    let manifest = manifest::read_all(&ws.manifests(), &ws.root)?;

    let mut w = cpio::Writer::new();
    for dir in ["bin", "etc", "boot"] {
        w.dir(dir)?;
    }
    let programs: Vec<&UserProgram> = programs
        .iter()
        .filter(|p| !NOT_IN_INITRD.contains(&p.name.as_str()))
        .collect();
    for p in &programs {
        let data =
            std::fs::read(&p.path).with_context(|| format!("reading {}", p.path.display()))?;
        w.file(&format!("bin/{}", p.name), 0o755, &data)?;
    }
    w.file("etc/kentry-tests", 0o644, manifest.text.as_bytes())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn touch(path: &Path, secs: u64) {
        std::fs::write(path, b"x").unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn c_sources_and_freshness() {
        let dir = std::env::temp_dir().join(format!("xtask-build-{}", std::process::id()));
        let (src, out) = (dir.join("c"), dir.join("out"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        for (name, t) in [
            ("b.c", 100),
            ("a.c", 100),
            ("ktap.h", 100),
            ("build.sh", 100),
            ("README.md", 900),
            ("tests.manifest", 900),
        ] {
            touch(&src.join(name), t);
        }
        let (sources, names) = c_sources(&src).unwrap();
        assert_eq!(names, vec!["a-glibc", "a-musl", "b-glibc", "b-musl"]);
        let shown: Vec<String> = sources.iter().map(|p| workspace::shown(p, &src)).collect();
        assert_eq!(shown, vec!["a.c", "b.c", "build.sh", "ktap.h"]);

        let outputs: Vec<PathBuf> = names.iter().map(|n| out.join(n)).collect();
        let outs: Vec<&Path> = outputs.iter().map(PathBuf::as_path).collect();
        assert!(!up_to_date(&sources, &outs), "no outputs yet");
        for o in &outputs {
            touch(o, 200);
        }
        assert!(up_to_date(&sources, &outs));
        // The docs and the manifest are no sources.
        touch(&src.join("README.md"), 300);
        assert!(up_to_date(&sources, &outs));
        touch(&src.join("ktap.h"), 200);
        assert!(!up_to_date(&sources, &outs), "a source as new as an output");
        touch(&src.join("ktap.h"), 100);
        touch(&outputs[2], 50);
        assert!(!up_to_date(&sources, &outs), "one output older");
        std::fs::remove_file(&outputs[2]).unwrap();
        assert!(!up_to_date(&sources, &outs), "one output missing");

        std::fs::remove_file(src.join("a.c")).unwrap();
        std::fs::remove_file(src.join("b.c")).unwrap();
        assert!(c_sources(&src).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
