//! fs_basic's tests of the special files: /dev/null, /dev/zero, /dev/urandom and /proc.

use super::*;

/// /dev/null, /dev/zero, /dev/urandom.
pub(super) fn devices(k: &mut Ktap) {
    let mut buf = [0u8; 64];
    let null = open(c(b"/dev/null\0"), O_RDWR | O_CLOEXEC, 0);
    let ns = fstat(null).unwrap_or_default();
    k.result(
        null >= 0
            && write(null, b"12345") == 5
            && read(null, &mut buf) == 0
            && ns.mode & S_IFMT == S_IFCHR
            && ns.rdev == (1 << 8 | 3),
        "dev_null",
    );
    close(null);
    let zero = open(c(b"/dev/zero\0"), O_RDONLY | O_CLOEXEC, 0);
    buf.fill(0xff);
    k.result(
        zero >= 0 && read(zero, &mut buf[..16]) == 16 && buf[..16].iter().all(|&b| b == 0),
        "dev_zero",
    );
    close(zero);
    let ur = open(c(b"/dev/urandom\0"), O_RDONLY | O_CLOEXEC, 0);
    k.result(ur >= 0 && read(ur, &mut buf[..16]) == 16, "dev_urandom");
    close(ur);
}

/// /proc/self/exe, /proc/self/status (`pid_s`: this process's pid in decimal), /proc/cpuinfo,
/// /proc/self/maps.
pub(super) fn procfs(k: &mut Ktap, pid_s: &[u8]) {
    let mut exe = [0u8; 256];
    let n = sc3(
        nr::READLINK,
        c(b"/proc/self/exe\0"),
        exe.as_mut_ptr() as usize,
        exe.len(),
    );
    let exe_ok = n > 0 && exe[0] == b'/' && exe[..n as usize].ends_with(b"/fs_basic");
    if n > 0 {
        diag!("/proc/self/exe -> {}", Bytes(&exe[..n as usize]));
    }
    k.result(exe_ok, "proc_self_exe");
    let mut proc_buf = [0u8; 16384];
    let pb = &mut proc_buf;
    let n = slurp(c(b"/proc/self/status\0"), pb);
    let pid_line = Path::new(&[b"\nPid:\t", pid_s, b"\n"]);
    k.result(
        n > 0
            && pb.starts_with(b"Name:\tfs_basic\n")
            && contains(&pb[..n as usize], pid_line.bytes()),
        "proc_self_status",
    );
    let n = slurp(c(b"/proc/cpuinfo\0"), pb);
    let text = &pb[..n.max(0) as usize];
    k.result(
        n > 0
            && text.starts_with(b"processor\t: 0\n")
            && contains(text, b"\nvendor_id\t: ")
            && contains(text, b"\nmodel name\t: ")
            && contains(text, b"\nflags\t\t: "),
        "proc_cpuinfo",
    );
    k.result(
        slurp(c(b"/proc/self/maps\0"), pb) >= 0,
        "proc_self_maps_readable",
    );
}
