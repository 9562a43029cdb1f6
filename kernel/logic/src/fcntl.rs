//! open(2) flags and file modes: what a new description keeps of the flags open was given,
//! what F_SETFL may change, what the access mode allows, and the mode of a new file or
//! directory under the umask.

// open(2) flags (x86-64 values).
pub const O_ACCMODE: u32 = 0o3;
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 0o1;
pub const O_RDWR: u32 = 0o2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DSYNC: u32 = 0o10000;
pub const O_ASYNC: u32 = 0o20000;
pub const O_DIRECT: u32 = 0o40000;
pub const O_LARGEFILE: u32 = 0o100000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_NOATIME: u32 = 0o1000000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const O_SYNC: u32 = 0o4010000;
pub const O_PATH: u32 = 0o10000000;
pub const O_TMPFILE: u32 = 0o20000000;

/// The status flags F_SETFL may change.
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;

/// The flags of a description after F_SETFL(`fl`): only the SETFL_MASK bits change.
#[inline]
pub fn setfl(old: u32, fl: u32) -> u32 {
    (old & !SETFL_MASK) | (fl & SETFL_MASK)
}

/// Whether a description with `flags` may be read (O_PATH ones may not).
#[inline]
pub fn readable(flags: u32) -> bool {
    flags & O_PATH == 0 && matches!(flags & O_ACCMODE, O_RDONLY | O_RDWR)
}

/// Whether a description with `flags` may be written (O_PATH ones may not).
#[inline]
pub fn writable(flags: u32) -> bool {
    flags & O_PATH == 0 && matches!(flags & O_ACCMODE, O_WRONLY | O_RDWR)
}

/// What a description opened with `flags` keeps (F_GETFL shows it): the access mode, the
/// status flags, the sync and lookup flags, and O_LARGEFILE, always set on 64-bit; the
/// open-time flags (O_CREAT, O_EXCL, O_TRUNC, O_CLOEXEC) go.
#[inline]
pub fn kept_flags(flags: u32) -> u32 {
    (flags & O_ACCMODE)
        | (flags & (SETFL_MASK | O_DSYNC | O_SYNC | O_DIRECTORY | O_NOFOLLOW))
        | O_LARGEFILE
}

/// What an O_PATH description keeps: O_PATH and the lookup flags, no access mode.
#[inline]
pub fn kept_path_flags(flags: u32) -> u32 {
    O_PATH | (flags & (O_DIRECTORY | O_NOFOLLOW))
}

/// The permission bits of a file created with `mode` under `umask` (setuid, setgid and
/// sticky bits pass; the umask only takes permission bits).
#[inline]
pub fn create_mode(mode: u32, umask: u32) -> u32 {
    mode & !umask & 0o7777
}

/// The permission bits of a directory made with `mode` under `umask` (Linux's mkdir keeps
/// the sticky bit but not setuid or setgid from `mode`).
#[inline]
pub fn mkdir_mode(mode: u32, umask: u32) -> u32 {
    mode & !umask & 0o1777
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_modes() {
        assert!(readable(0) && !writable(0));
        assert!(!readable(1) && writable(1));
        assert!(readable(2) && writable(2));
        // 3 is not an access mode: neither.
        assert!(!readable(3) && !writable(3));
        // O_PATH (0o10000000) allows neither, whatever the mode bits.
        assert!(!readable(0o10000002) && !writable(0o10000002));
        // Other flags do not matter.
        assert!(readable(0o2002) && writable(0o2002));
    }

    #[test]
    fn setfl_changes_only_status_flags() {
        // Old: O_RDWR|O_APPEND; new asks O_NONBLOCK|O_WRONLY|O_CREAT|O_SYNC: only O_NONBLOCK
        // lands, O_APPEND goes, the access mode stays.
        assert_eq!(setfl(0o2002, 0o4010000 | 0o4000 | 0o1 | 0o100), 0o4002);
        // O_ASYNC, O_DIRECT, O_NOATIME are settable too.
        assert_eq!(setfl(0, 0o20000 | 0o40000 | 0o1000000), 0o1060000);
    }

    #[test]
    fn open_keeps_status_drops_open_time_flags() {
        // O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC|O_APPEND → O_WRONLY|O_APPEND|O_LARGEFILE.
        assert_eq!(
            kept_flags(0o1 | 0o100 | 0o1000 | 0o2000000 | 0o2000),
            0o102001
        );
        // O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_SYNC: all kept.
        assert_eq!(kept_flags(0o200000 | 0o400000 | 0o4010000), 0o4710000);
        assert_eq!(kept_path_flags(0o2 | 0o200000 | 0o100), 0o10200000);
    }

    #[test]
    fn modes_under_the_umask() {
        assert_eq!(create_mode(0o666, 0o022), 0o644);
        assert_eq!(create_mode(0o4777, 0o077), 0o4700);
        assert_eq!(create_mode(0o170644, 0), 0o644, "file type bits go");
        assert_eq!(mkdir_mode(0o777, 0o022), 0o755);
        assert_eq!(
            mkdir_mode(0o7777, 0),
            0o1777,
            "setuid and setgid go, sticky stays"
        );
    }
}
