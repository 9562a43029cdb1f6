//! `runner_large_static`: a static executable of [`BLOB_MIB`] MiB, the size issue 13 names
//! for Go and Haskell toolchains' binaries, run like any runner case (packed into an initrd
//! of its own, `cargo xtask run`'s RAM sizing, compared with its native run). kentry loads
//! executables by demand paging (docs/exec.md); a loader that copies the file whole runs out
//! of memory before the program's `main`. The program (user/c/large/large_exec.c) reads
//! pages spread over its blob and prints what it found.
//!
//! It is built here, once per `cargo xtask test`, and not by user/c/build.sh: the blob would
//! make every other initrd 170 MiB larger.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The blob's size: with the program's own code, an executable of about 170 MiB (178 MB).
pub const BLOB_MIB: usize = 170;

/// Where [`build`] puts the executable, under the runner's scratch directory.
pub fn exe_path(scratch: &Path) -> PathBuf {
    scratch.join("large").join("large_exec")
}

/// Builds the executable from `src` (user/c/large/large_exec.c) into [`exe_path`]: the blob
/// written in large_exec.c's pattern, made an object by `ld -r -b binary`, linked with
/// `gcc -static`.
pub fn build(src: &Path, scratch: &Path) -> Result<PathBuf> {
    let dir = scratch.join("large");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let blob = dir.join("large.blob");
    std::fs::write(&blob, pattern(BLOB_MIB << 20))
        .with_context(|| format!("writing {}", blob.display()))?;
    // `ld -b binary` names the symbols after the path it is given: run it in `dir` with the
    // bare file name, for `_binary_large_blob_start`.
    run(Command::new("ld").current_dir(&dir).args([
        "-r",
        "-b",
        "binary",
        "-o",
        "large.o",
        "large.blob",
    ]))?;
    let exe = exe_path(scratch);
    run(Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&exe)
        .arg(src)
        .arg(dir.join("large.o")))?;
    // The blob and its object are not needed any more: 340 MiB of scratch.
    let _ = std::fs::remove_file(&blob);
    let _ = std::fs::remove_file(dir.join("large.o"));
    Ok(exe)
}

/// `len` bytes: page p holds p (little-endian, 8 bytes), then (p * 7 + 1) & 0xff.
fn pattern(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    for p in 0..len / 4096 {
        out.extend_from_slice(&(p as u64).to_le_bytes());
        out.resize(out.len() + 4096 - 8, ((p * 7 + 1) & 0xff) as u8);
    }
    out
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("running {cmd:?} (binutils and gcc are needed)"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn pattern_pages() {
        // The layout large_exec.c checks, worked out by hand for pages 0, 1 and 37.
        let b = super::pattern(38 * 4096);
        assert_eq!(b.len(), 38 * 4096);
        assert_eq!(&b[..8], &[0; 8]);
        assert_eq!(b[8], 1);
        assert_eq!(&b[4096..4104], &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(b[4096 + 4095], 8);
        assert_eq!(b[37 * 4096], 37);
        assert_eq!(b[37 * 4096 + 100], 4); // 37 * 7 + 1 = 260 = 0x104
    }
}
