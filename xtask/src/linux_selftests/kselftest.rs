//! Linux 6.1's `tools/testing/selftests/seccomp/seccomp_bpf.c` and
//! `tools/testing/selftests/ptrace/{get_syscall_info,peeksiginfo,vmaccess}.c`, built static
//! from Debian's linux-source-6.1 (as the x86 selftests are, `super::ensure_built`) with glibc
//! and with musl, under `target/linux-selftests/kselftest/`. What each case must do is in
//! `kselftest_expected.rs`; `kselftest_judge.rs` holds a run to it.
//!
//! Each harness-based selftest is compiled together with `xtask/c/ksft_leave_out.c`, a `main`
//! that can leave named cases out (Linux 6.1's harness runs all of them, and a case that
//! cannot end without ptrace would wait out its 30 s timeout); the selftest's own source is
//! compiled unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::kselftest_expected::{Harness, KsftProgram};
use super::{PACKAGE, TARBALL};

/// The directory the selftests are extracted into (next to the x86 ones).
const SELFTESTS: &str = "linux-source-6.1/tools/testing/selftests";

/// The C library a binary is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    Glibc,
    Musl,
}

impl Libc {
    pub const ALL: [Libc; 2] = [Libc::Glibc, Libc::Musl];

    pub const fn word(self) -> &'static str {
        match self {
            Libc::Glibc => "glibc",
            Libc::Musl => "musl",
        }
    }
}

/// The library libcap-dev installs; seccomp_bpf links it statically.
pub const LIBCAP_A: &str = "/usr/lib/x86_64-linux-gnu/libcap.a";
/// The Debian package holding it and `<sys/capability.h>`.
pub const LIBCAP_PACKAGE: &str = "libcap-dev";

fn dir(target: &Path) -> PathBuf {
    super::dir(target).join("kselftest")
}

/// The binary of `p` built with `libc`.
pub fn binary(target: &Path, p: &KsftProgram, libc: Libc) -> PathBuf {
    dir(target)
        .join("bin")
        .join(format!("{}-{}", p.name, libc.word()))
}

/// The source of `xtask/c/ksft_leave_out.c`, compiled into every harness-based binary.
const LEAVE_OUT_C: &str = include_str!("../../c/ksft_leave_out.c");

/// Builds every binary of `programs` that is not built yet.
pub fn ensure_built(target: &Path, programs: &[&KsftProgram]) -> Result<()> {
    let wanted: Vec<(&KsftProgram, Libc)> = programs
        .iter()
        .flat_map(|p| Libc::ALL.iter().map(move |l| (*p, *l)))
        .filter(|(p, l)| !binary(target, p, *l).is_file())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let src = super::dir(target).join("src");
    let tree = src.join(SELFTESTS);
    if !tree.join("seccomp/seccomp_bpf.c").is_file() || !tree.join("clone3").is_dir() {
        if !Path::new(TARBALL).is_file() {
            bail!("{TARBALL} is missing: install the package {PACKAGE}");
        }
        std::fs::create_dir_all(&src).with_context(|| format!("creating {}", src.display()))?;
        eprintln!("xtask: extracting Linux's seccomp and ptrace selftests from {TARBALL}");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&src)
            .args(["-xJf", TARBALL, "--wildcards"])
            .args(["seccomp", "ptrace", "clone3"].map(|d| format!("{SELFTESTS}/{d}/*")))
            .arg(format!("{SELFTESTS}/kselftest.h"))
            .arg(format!("{SELFTESTS}/kselftest_harness.h"))
            .status()
            .context("running tar")?;
        if !status.success() {
            bail!("extracting the selftests from {TARBALL} failed ({status})");
        }
    }
    let out = dir(target);
    std::fs::create_dir_all(out.join("bin"))?;
    let leave_out = out.join("ksft_leave_out.c");
    std::fs::write(&leave_out, LEAVE_OUT_C)?;
    let musl_inc = musl_includes(&out)?;
    for (p, libc) in wanted {
        let source = tree.join(p.dir).join(format!("{}.c", p.name));
        let mut cmd = match libc {
            Libc::Glibc => Command::new("gcc"),
            Libc::Musl => {
                let mut c = Command::new(crate::install::MUSL_GCC);
                // musl-gcc searches no Linux UAPI headers: the host's (Debian's
                // linux-libc-dev, Linux 6.1) through a directory of links.
                c.arg("-isystem").arg(&musl_inc);
                // seccomp_bpf includes <asm/siginfo.h> for glibc before 2.26 (it asks with
                // __GLIBC_PREREQ, which musl lacks; musl's siginfo_t has the SIGSYS
                // fields), and both <sys/prctl.h> and <linux/prctl.h>, which define
                // struct prctl_mm_map twice under musl (musl's has every PR_ constant).
                c.args(["-D__GLIBC_PREREQ(a,b)=1", "-D_LINUX_PRCTL_H"]);
                c
            }
        };
        cmd.current_dir(tree.join(p.dir))
            .args(["-O2", "-g", "-Wall", "-static", "-pthread"])
            .args(p.cflags);
        match p.harness {
            Harness::Kselftest => {
                cmd.arg(format!("-DKSFT_SOURCE=\"{}\"", source.display()))
                    .arg(&leave_out);
            }
            Harness::ExitStatus { .. } => {
                cmd.arg(&source);
            }
        }
        if p.libcap {
            // Debian's libcap.a is built against glibc; musl provides every libc symbol it
            // uses (the link says so, or fails).
            cmd.arg(LIBCAP_A);
        }
        cmd.arg("-o").arg(binary(target, p, libc));
        eprintln!(
            "xtask: building Linux selftest {}/{} ({})",
            p.dir,
            p.name,
            libc.word()
        );
        let o = cmd.output().context("running the C compiler")?;
        if !o.status.success() {
            bail!(
                "building Linux selftest {}/{} ({}) failed:\n{}",
                p.dir,
                p.name,
                libc.word(),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    Ok(())
}

/// A directory holding `linux`, `asm`, `asm-generic` (links to the host's UAPI headers) and
/// `sys/capability.h` (libcap-dev's), for musl-gcc.
fn musl_includes(out: &Path) -> Result<PathBuf> {
    let inc = out.join("musl-include");
    std::fs::create_dir_all(inc.join("sys"))?;
    for (link, to) in [
        ("linux", "/usr/include/linux"),
        ("asm", "/usr/include/x86_64-linux-gnu/asm"),
        ("asm-generic", "/usr/include/asm-generic"),
        ("sys/capability.h", "/usr/include/sys/capability.h"),
    ] {
        let at = inc.join(link);
        if std::fs::symlink_metadata(&at).is_err() {
            std::os::unix::fs::symlink(to, &at)
                .with_context(|| format!("linking {} to {to}", at.display()))?;
        }
    }
    Ok(inc)
}
