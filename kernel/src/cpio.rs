//! Reading the initrd: a cpio "newc" archive.

pub struct Cpio {
    data: &'static [u8],
}

pub struct Entry {
    pub name: &'static str,
    pub mode: u32,
    pub data: &'static [u8],
}

fn hex(field: &[u8]) -> Option<u32> {
    u32::from_str_radix(core::str::from_utf8(field).ok()?, 16).ok()
}

fn align4(v: usize) -> usize {
    (v + 3) & !3
}

impl Cpio {
    pub fn new(data: &'static [u8]) -> Self {
        Cpio { data }
    }

    /// Every entry, in archive order; stops at the trailer or at the first malformed header.
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let mut off = 0usize;
        core::iter::from_fn(move || {
            let d = self.data;
            let h = d.get(off..off + 110)?;
            if &h[..6] != b"070701" {
                return None;
            }
            let field = |i: usize| hex(&h[6 + i * 8..14 + i * 8]);
            let mode = field(1)?;
            let filesize = field(6)? as usize;
            let namesize = field(11)? as usize;
            let name_start = off + 110;
            let name_bytes = d.get(name_start..name_start + namesize.checked_sub(1)?)?;
            let name = core::str::from_utf8(name_bytes).ok()?;
            let data_start = align4(name_start + namesize);
            let data = d.get(data_start..data_start + filesize)?;
            off = align4(data_start + filesize);
            if name == "TRAILER!!!" {
                return None;
            }
            Some(Entry { name, mode, data })
        })
    }

    /// The file at `path` (leading `/` optional).
    pub fn find(&self, path: &str) -> Option<&'static [u8]> {
        let path = path.trim_start_matches('/');
        self.entries()
            .find(|e| e.name.trim_start_matches("./") == path && e.mode & 0o170000 == 0o100000)
            .map(|e| e.data)
    }
}
