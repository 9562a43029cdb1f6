//! Debian's Linux kernel image for the side-by-side bench runs, without installing it:
//! `apt-get download` of the package `linux-image-amd64` depends on, unpacked with
//! `dpkg-deb -x` into `target/linux-image/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::install::run_tool;
use anyhow::{Context, Result, bail};

/// The meta-package whose dependency names the current Debian kernel image.
const META_PACKAGE: &str = "linux-image-amd64";

/// The directory the image package is unpacked into.
pub fn image_dir(target: &Path) -> PathBuf {
    target.join("linux-image")
}

/// The kernel image (`boot/vmlinuz-*`) under `target/linux-image/`, downloading and unpacking
/// the package first when it is missing. `target` is the workspace's `target/` directory.
pub fn ensure_linux_image(target: &Path) -> Result<PathBuf> {
    let dir = image_dir(target);
    if let Some(found) = find_vmlinuz(&dir)? {
        return Ok(found);
    }
    let package = image_package()?;
    eprintln!(
        "xtask: fetching Debian's Linux kernel image ({package}: apt-get download, dpkg-deb -x into {})",
        dir.display()
    );
    let scratch = target.join("xtask").join("linux-image-download");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    if apt_download(&package, &scratch).is_err() {
        // The package lists may name a version the mirror no longer has.
        eprintln!("xtask: apt-get download {package} failed; running apt-get update once");
        run_tool(Command::new("apt-get").arg("update"), "apt-get update")?;
        apt_download(&package, &scratch)?;
    }
    let deb = std::fs::read_dir(&scratch)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .with_context(|| format!("apt-get download left no .deb in {}", scratch.display()))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    run_tool(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir),
        &format!("dpkg-deb -x {}", deb.display()),
    )?;
    let _ = std::fs::remove_dir_all(&scratch);
    find_vmlinuz(&dir)?.with_context(|| format!("{} holds no boot/vmlinuz-*", deb.display()))
}

/// `boot/vmlinuz-*` under `dir`, if there is one (the newest name if several).
fn find_vmlinuz(dir: &Path) -> Result<Option<PathBuf>> {
    let boot = dir.join("boot");
    let Ok(entries) = std::fs::read_dir(&boot) else {
        return Ok(None);
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    found.sort();
    Ok(found.pop())
}

/// The image package `linux-image-amd64` depends on (e.g. `linux-image-6.1.0-57-amd64`).
fn image_package() -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["depends", META_PACKAGE])
        .output()
        .context("cannot run apt-cache")?;
    if !out.status.success() {
        bail!(
            "apt-cache depends {META_PACKAGE} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_depends(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("apt-cache depends {META_PACKAGE} names no linux-image package"))
}

/// The first `Depends: linux-image-…` of `apt-cache depends` output.
pub fn parse_depends(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && !p.contains(' '))
        .map(str::to_string)
}

fn apt_download(package: &str, dir: &Path) -> Result<()> {
    run_tool(
        Command::new("apt-get")
            .args(["download", package])
            .current_dir(dir),
        &format!("apt-get download {package}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_image_dependency() {
        let text = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n";
        assert_eq!(
            parse_depends(text).as_deref(),
            Some("linux-image-6.1.0-57-amd64")
        );
        let other = "linux-image-amd64\n  Depends: <virtual>\n  Recommends: firmware\n";
        assert_eq!(parse_depends(other), None);
    }
}
