//! Linux's own x86 selftests (tools/testing/selftests/x86 of Linux 6.1), built static from
//! Debian's linux-source-6.1 package and run on kentry by the runner checks. Nothing of them
//! is kept in this repository: the package is installed (as root) and the sources are
//! extracted and compiled under `target/linux-selftests/` on first use. Which tests run, and
//! what each must print, is in `expected.rs`; `judge.rs` holds a run to it.

pub mod expected;
pub mod expected_32;
pub mod judge;
pub mod kselftest;
pub mod kselftest_expected;
pub mod kselftest_judge;
pub mod x86_gated;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The source package and its tarball.
pub const PACKAGE: &str = "linux-source-6.1";
pub const TARBALL: &str = "/usr/src/linux-source-6.1.tar.xz";
const TREE: &str = "linux-source-6.1/tools/testing/selftests/x86";

/// The Makefile's flags for the 64-bit variants, plus `-static` (kentry runs static
/// programs only). `-DCAN_BUILD_32` is what the Makefile passes on a host that can build
/// 32-bit code; it only enables 64-bit tests of the int $0x80 path.
const CFLAGS: &[&str] = &[
    "-m64",
    "-O2",
    "-g",
    "-std=gnu99",
    "-pthread",
    "-Wall",
    "-no-pie",
    "-static",
    "-DCAN_BUILD_32",
    "-DCAN_BUILD_64",
];

/// Where the tests are built.
pub fn dir(target: &Path) -> PathBuf {
    target.join("linux-selftests")
}

/// The binary of test `name`: `<name>_64`, or for a name ending in `_32` (the -m32 build,
/// `expected_32.rs`) that name itself.
pub fn binary(target: &Path, name: &str) -> PathBuf {
    if name.ends_with("_32") {
        return dir(target).join("bin").join(name);
    }
    dir(target).join("bin").join(format!("{name}_64"))
}

/// The upstream Makefile's flags for the `_32` binaries (`-m32`, `-lm`), plus `-static`.
const CFLAGS_32: &[&str] = &[
    "-m32",
    "-O2",
    "-g",
    "-std=gnu99",
    "-pthread",
    "-Wall",
    "-no-pie",
    "-static",
    "-DCAN_BUILD_32",
    "-DCAN_BUILD_64",
];

/// Builds every test of `names` that is not built yet: installs the source package when
/// needed (as root; otherwise stops naming it), extracts the selftests, compiles.
pub fn ensure_built(target: &Path, names: &[&str]) -> Result<()> {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !binary(target, n).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let src = dir(target).join("src");
    let tree = src.join(TREE);
    if !tree.join("helpers.h").is_file() {
        if !Path::new(TARBALL).is_file() {
            bail!(
                "{TARBALL} is missing: install the package {PACKAGE} (`apt-get install {PACKAGE}`)"
            );
        }
        std::fs::create_dir_all(&src).with_context(|| format!("creating {}", src.display()))?;
        eprintln!("xtask: extracting Linux's x86 selftests from {TARBALL}");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&src)
            .args(["-xJf", TARBALL, "--wildcards"])
            .arg(format!("{TREE}/*"))
            .arg("linux-source-6.1/tools/testing/selftests/kselftest.h")
            .arg("linux-source-6.1/arch/x86/include/asm/desc_defs.h")
            .status()
            .context("running tar")?;
        if !status.success() {
            bail!("extracting the selftests from {TARBALL} failed ({status})");
        }
    }
    std::fs::create_dir_all(dir(target).join("bin"))?;
    for name in missing {
        let (stem, flags) = match name.strip_suffix("_32") {
            Some(stem) => (stem, CFLAGS_32),
            None => (name, CFLAGS),
        };
        let mut cmd = Command::new("gcc");
        cmd.current_dir(&tree)
            .args(flags)
            .arg("-o")
            .arg(binary(target, name))
            .arg(format!("{stem}.c"))
            .arg("helpers.h");
        // The Makefile's extra sources per binary.
        match name {
            "sysret_ss_attrs" => {
                cmd.arg("thunks.S");
            }
            "ptrace_syscall_32" => {
                cmd.arg("raw_syscall_helper_32.S");
            }
            "test_syscall_vdso_32" => {
                cmd.arg("thunks_32.S");
            }
            "check_initial_reg_state" | "check_initial_reg_state_32" => {
                cmd.arg("-Wl,-ereal_start");
            }
            _ => {}
        }
        cmd.args(["-lrt", "-ldl"]);
        if flags == CFLAGS_32 {
            cmd.arg("-lm");
        }
        eprintln!("xtask: building Linux selftest {name}");
        let out = cmd.output().context("running gcc")?;
        if !out.status.success() {
            bail!(
                "building Linux selftest {name} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}
