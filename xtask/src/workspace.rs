//! Where things are: the workspace root and the paths of the build products (harness.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The target triple of the kernel and of the user programs.
pub const TARGET: &str = "x86_64-unknown-none";
/// The cargo package of the kernel, and its binary.
pub const KERNEL_PACKAGE: &str = "kentry-kernel";
/// The cargo package of the user programs.
pub const USER_PACKAGE: &str = "kentry-user";
/// The cargo package of the entry/exit layer (host unit tests).
pub const ENTRY_PACKAGE: &str = "kentry";
/// The cargo package of the second, minimal kernel (`examples/minimal`), and its binary.
pub const EXAMPLE_PACKAGE: &str = "kentry-minimal";
/// The cargo package of the shared Linux ABI numbers (host unit tests: the list against Linux).
pub const ABI_PACKAGE: &str = "kentry-abi";
/// The cargo package of the kernel's pure logic (host unit tests; `kernel/logic`).
pub const KERNEL_LOGIC_PACKAGE: &str = "kentry-kernel-logic";

/// Which kernel build: the test kernel carries kentry's test hooks (breakable checks,
/// tripwires, entry counters); the lean one is what `run` shows and `bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Test,
    Lean,
}

impl Flavor {
    /// Suffix of this flavor's target dir and files (`""` for the test kernel).
    fn suffix(self) -> &'static str {
        match self {
            Flavor::Test => "",
            Flavor::Lean => "-lean",
        }
    }

    /// Extra cargo arguments of this flavor's kernel build.
    pub fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Flavor::Test => &[],
            Flavor::Lean => &["--no-default-features"],
        }
    }
}

/// The kentry workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    /// The workspace is the parent of this crate's directory.
    pub fn locate() -> Result<Self> {
        let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir
            .parent()
            .context("xtask's CARGO_MANIFEST_DIR has no parent directory")?
            .to_path_buf();
        if !root.join("Cargo.toml").is_file() {
            bail!(
                "{} has no Cargo.toml: xtask must live in the kentry workspace (run `cargo xtask`)",
                root.display()
            );
        }
        Ok(Self { root })
    }

    pub fn target(&self) -> PathBuf {
        self.root.join("target")
    }

    /// `--target-dir` of the kernel build.
    pub fn kernel_target_dir(&self, flavor: Flavor) -> PathBuf {
        self.target().join(format!("kernel{}", flavor.suffix()))
    }

    /// `--target-dir` of the example kernel's build.
    pub fn example_target_dir(&self) -> PathBuf {
        self.target().join("minimal")
    }

    /// The example kernel's ELF image.
    pub fn example_elf(&self) -> PathBuf {
        self.example_target_dir()
            .join(TARGET)
            .join("release")
            .join(EXAMPLE_PACKAGE)
    }

    /// `--target-dir` of the user-program build.
    pub fn user_target_dir(&self) -> PathBuf {
        self.target().join("user")
    }

    pub fn kernel_elf(&self, flavor: Flavor) -> PathBuf {
        self.kernel_target_dir(flavor)
            .join(TARGET)
            .join("release")
            .join(KERNEL_PACKAGE)
    }

    /// The directory that holds the user programs.
    pub fn user_bin_dir(&self) -> PathBuf {
        self.user_target_dir().join(TARGET).join("release")
    }

    pub fn initrd(&self, flavor: Flavor) -> PathBuf {
        self.target()
            .join(format!("initrd{}.cpio", flavor.suffix()))
    }

    /// A copy of `boot/kernel.sym`, for people.
    pub fn kernel_sym(&self, flavor: Flavor) -> PathBuf {
        self.target().join(format!("kernel{}.sym", flavor.suffix()))
    }

    /// The C test programs' sources and `build.sh` (user/c/README.md).
    pub fn user_c_src(&self) -> PathBuf {
        self.root.join("user").join("c")
    }

    /// Where `user/c/build.sh` puts the C test programs.
    pub fn user_c_bin_dir(&self) -> PathBuf {
        self.target().join("user-c")
    }

    /// The directories that hold the user programs, Rust first; a host run looks in each.
    pub fn user_bin_dirs(&self) -> Vec<PathBuf> {
        vec![self.user_bin_dir(), self.user_c_bin_dir()]
    }

    /// The test manifests, in order: the kernel reads them as one file (`etc/kentry-tests`).
    pub fn manifests(&self) -> Vec<PathBuf> {
        vec![
            self.root.join("user").join("tests.manifest"),
            self.user_c_src().join("tests.manifest"),
        ]
    }

    pub fn bench_dir(&self) -> PathBuf {
        self.target().join("bench")
    }

    /// Scratch space: the working directory of programs run on the host.
    pub fn scratch_dir(&self) -> PathBuf {
        self.target().join("xtask")
    }

    /// A `cargo` command run from the workspace root with a clean flag environment.
    pub fn cargo(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&self.root);
        // CARGO_ENCODED_RUSTFLAGS would override the RUSTFLAGS each build sets.
        cmd.env_remove("CARGO_ENCODED_RUSTFLAGS");
        cmd
    }

    /// The names of the binaries of the user package, from `cargo metadata`.
    pub fn user_bin_names(&self) -> Result<Vec<String>> {
        let out = self
            .cargo()
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .output()
            .context("running cargo metadata")?;
        if !out.status.success() {
            bail!(
                "cargo metadata failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        bins_of_package(&out.stdout, USER_PACKAGE)
    }
}

/// Extracts the `bin` targets of `package` from `cargo metadata` JSON.
pub fn bins_of_package(metadata_json: &[u8], package: &str) -> Result<Vec<String>> {
    let meta: serde_json::Value =
        serde_json::from_slice(metadata_json).context("parsing cargo metadata output")?;
    let packages = meta["packages"]
        .as_array()
        .context("cargo metadata: no `packages` array")?;
    let pkg = packages
        .iter()
        .find(|p| p["name"] == package)
        .with_context(|| format!("package {package} is not in the workspace"))?;
    let mut names: Vec<String> = pkg["targets"]
        .as_array()
        .context("cargo metadata: package without `targets`")?
        .iter()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// `path` relative to `base` for messages, or `path` itself.
pub fn shown(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_from_metadata() {
        let json = br#"{"packages":[
            {"name":"kentry","targets":[{"name":"kentry","kind":["lib"]}]},
            {"name":"kentry-user","targets":[
                {"name":"sigsegv","kind":["bin"]},
                {"name":"hello","kind":["bin"]},
                {"name":"common","kind":["lib"]}]}]}"#;
        assert_eq!(
            bins_of_package(json, USER_PACKAGE).unwrap(),
            vec!["hello", "sigsegv"]
        );
        assert!(bins_of_package(json, "nope").is_err());
        assert!(bins_of_package(b"{", USER_PACKAGE).is_err());
    }

    #[test]
    fn locates_the_workspace() {
        let ws = Workspace::locate().unwrap();
        assert!(ws.root.join("xtask").is_dir());
        assert!(
            ws.kernel_elf(Flavor::Test)
                .ends_with("target/kernel/x86_64-unknown-none/release/kentry-kernel")
        );
    }
}
