//! A small writer for cpio "newc" archives (the initrd format Linux and our kernel read).
//!
//! Each entry is a 110-byte ASCII header (`070701` and thirteen 8-digit hex fields), the
//! NUL-terminated name padded so that header + name is a multiple of 4 bytes, then the data
//! padded to a multiple of 4 bytes. The archive ends with an entry named `TRAILER!!!`.

use anyhow::{Result, bail};

/// The magic of the "newc" format (no checksums).
pub const MAGIC: &[u8; 6] = b"070701";
/// The name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";

/// File type bits of `c_mode`.
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;

/// An archive being built in memory. Entries keep the order they were added in; a reader
/// that creates files needs each directory before the files in it.
#[derive(Debug, Default)]
pub struct Writer {
    out: Vec<u8>,
    next_ino: u32,
    finished: bool,
}

impl Writer {
    pub fn new() -> Self {
        Self {
            out: Vec::new(),
            next_ino: 1,
            finished: false,
        }
    }

    /// Adds a directory (mode 0755).
    pub fn dir(&mut self, name: &str) -> Result<()> {
        self.entry(name, S_IFDIR | 0o755, 2, &[])
    }

    /// Adds a regular file with the given permission bits (e.g. 0o755 or 0o644).
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> Result<()> {
        self.entry(name, S_IFREG | (perm & 0o7777), 1, data)
    }

    /// Appends the trailer and returns the archive bytes.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.write_entry(TRAILER, 0, 1, &[], 0)?;
        self.finished = true;
        Ok(self.out)
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) -> Result<()> {
        check_name(name)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        self.write_entry(name, mode, nlink, data, ino)
    }

    fn write_entry(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        data: &[u8],
        ino: u32,
    ) -> Result<()> {
        if self.finished {
            bail!("cpio: entry {name:?} added after the trailer");
        }
        let Ok(filesize) = u32::try_from(data.len()) else {
            bail!(
                "cpio: {name:?} is {} bytes, more than newc can describe (4 GiB)",
                data.len()
            );
        };
        // The name size counts the terminating NUL.
        let namesize = u32::try_from(name.len() + 1)?;
        // c_mtime is 0 so that the archive is reproducible; c_check is only used by "070702".
        let fields: [u32; 13] = [
            ino,      // c_ino
            mode,     // c_mode
            0,        // c_uid
            0,        // c_gid
            nlink,    // c_nlink
            0,        // c_mtime
            filesize, // c_filesize
            0,        // c_devmajor
            0,        // c_devminor
            0,        // c_rdevmajor
            0,        // c_rdevminor
            namesize, // c_namesize
            0,        // c_check
        ];
        self.out.extend_from_slice(MAGIC);
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad4();
        self.out.extend_from_slice(data);
        self.pad4();
        Ok(())
    }

    fn pad4(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.starts_with('/')
        || name.contains('\0')
        || name == TRAILER
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        bail!("cpio: bad entry name {name:?} (want a relative path like bin/hello)");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Size of the fixed part of a header: the magic and 13 fields of 8 hex digits.
    pub const HEADER_LEN: usize = 6 + 13 * 8;

    /// One entry as read back from an archive.
    #[derive(Debug, PartialEq)]
    pub struct Entry {
        pub name: String,
        pub mode: u32,
        pub nlink: u32,
        pub ino: u32,
        pub data: Vec<u8>,
    }

    /// A minimal newc reader, independent of the writer, for the round-trip tests.
    pub fn read_archive(mut buf: &[u8]) -> Vec<Entry> {
        let total = buf.len();
        let mut entries = Vec::new();
        loop {
            let offset = total - buf.len();
            assert_eq!(offset % 4, 0, "entry at unaligned offset {offset}");
            assert!(buf.len() >= HEADER_LEN, "truncated header at {offset}");
            assert_eq!(&buf[..6], MAGIC, "bad magic at {offset}");
            let field = |i: usize| {
                let s = std::str::from_utf8(&buf[6 + 8 * i..6 + 8 * (i + 1)]).unwrap();
                assert!(s.bytes().all(|b| b.is_ascii_hexdigit()), "field {s:?}");
                u32::from_str_radix(s, 16).unwrap()
            };
            let (ino, mode, nlink) = (field(0), field(1), field(4));
            let filesize = field(6) as usize;
            let namesize = field(11) as usize;
            assert_eq!(field(12), 0, "check field");
            let name_end = HEADER_LEN + namesize;
            assert_eq!(buf[name_end - 1], 0, "name not NUL-terminated");
            let name = std::str::from_utf8(&buf[HEADER_LEN..name_end - 1])
                .unwrap()
                .to_string();
            let data_start = name_end.next_multiple_of(4);
            let data_end = data_start + filesize;
            let data = buf[data_start..data_end].to_vec();
            buf = &buf[data_end.next_multiple_of(4).min(buf.len())..];
            if name == TRAILER {
                assert!(buf.is_empty(), "bytes after the trailer");
                assert_eq!(total % 4, 0);
                return entries;
            }
            entries.push(Entry {
                name,
                mode,
                nlink,
                ino,
                data,
            });
        }
    }

    #[test]
    fn round_trip() {
        let mut w = Writer::new();
        w.dir("bin").unwrap();
        w.file("bin/hello", 0o755, b"\x7fELF and more").unwrap();
        w.dir("etc").unwrap();
        w.file("etc/kentry-tests", 0o644, b"").unwrap();
        // Names and sizes of every length modulo 4 exercise the padding.
        for n in 0..8 {
            let name = format!("etc/{}", "x".repeat(n + 1));
            w.file(&name, 0o600, &vec![n as u8; n]).unwrap();
        }
        let bytes = w.finish().unwrap();
        let entries = read_archive(&bytes);
        assert_eq!(entries.len(), 12);
        assert_eq!(entries[0].name, "bin");
        assert_eq!(entries[0].mode, 0o040755);
        assert_eq!(entries[0].nlink, 2);
        assert_eq!(entries[1].name, "bin/hello");
        assert_eq!(entries[1].mode, 0o100755);
        assert_eq!(entries[1].data, b"\x7fELF and more");
        assert_eq!(entries[3].data, b"");
        for (n, e) in entries[4..].iter().enumerate() {
            assert_eq!(e.name, format!("etc/{}", "x".repeat(n + 1)));
            assert_eq!(e.data, vec![n as u8; n]);
            assert_eq!(e.mode, 0o100600);
        }
        // Inode numbers are unique and non-zero.
        let mut inos: Vec<u32> = entries.iter().map(|e| e.ino).collect();
        inos.sort();
        inos.dedup();
        assert_eq!(inos.len(), entries.len());
        assert!(!inos.contains(&0));
    }

    #[test]
    fn header_bytes() {
        let mut w = Writer::new();
        w.file("a", 0o644, b"xyz").unwrap();
        let bytes = w.finish().unwrap();
        let header = std::str::from_utf8(&bytes[..HEADER_LEN]).unwrap();
        assert_eq!(
            header,
            concat!(
                "070701", "00000001", "000081a4", "00000000", "00000000", "00000001", "00000000",
                "00000003", "00000000", "00000000", "00000000", "00000000", "00000002", "00000000"
            )
        );
        // 110 + "a\0" = 112 is aligned; then 3 bytes of data and one byte of padding.
        assert_eq!(&bytes[HEADER_LEN..HEADER_LEN + 2], b"a\0");
        assert_eq!(&bytes[112..116], b"xyz\0");
        assert_eq!(&bytes[116..122], MAGIC);
        let trailer = 116 + HEADER_LEN;
        assert_eq!(&bytes[trailer..trailer + 11], b"TRAILER!!!\0");
        assert_eq!(bytes.len() % 4, 0);
    }

    #[test]
    fn rejects_bad_names() {
        let mut w = Writer::new();
        for bad in [
            "",
            "/bin",
            "bin//x",
            "bin/../x",
            "./x",
            "TRAILER!!!",
            "a\0b",
        ] {
            assert!(w.file(bad, 0o644, b"").is_err(), "{bad:?} accepted");
        }
    }
}
