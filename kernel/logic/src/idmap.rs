//! User-namespace id maps (`/proc/PID/uid_map`, `gid_map`): the text a write gives, checked as
//! Linux 6.1's `map_write` checks it, and the translation of an id through a map.

use alloc::vec::Vec;

/// Linux's UID_GID_MAP_MAX_EXTENTS.
pub const MAX_EXTENTS: usize = 340;

/// One line of a map: ids `first..first + count` inside are `lower_first..` in the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub first: u32,
    pub lower_first: u32,
    pub count: u32,
}

/// The extents of a map write, or why it is refused (always EINVAL in Linux): lines of three
/// unsigned decimal numbers separated by spaces or tabs, each ending in a newline (the last
/// one may lack it); no count of 0; no range that wraps past 2^32 - 1 (the last id, -1, is
/// never mapped); no two extents overlapping inside or outside; 1 to 340 extents.
#[inline]
pub fn parse_map(text: &[u8]) -> Result<Vec<Extent>, &'static str> {
    let mut out: Vec<Extent> = Vec::new();
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.is_empty() {
        return Err("no extent");
    }
    for line in text.split(|&b| b == b'\n') {
        let mut nums = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|w| !w.is_empty());
        let mut next = || -> Result<u32, &'static str> {
            let w = nums.next().ok_or("fewer than three numbers")?;
            if !w.iter().all(u8::is_ascii_digit) {
                return Err("not a number");
            }
            core::str::from_utf8(w)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or("number out of range")
        };
        let e = Extent {
            first: next()?,
            lower_first: next()?,
            count: next()?,
        };
        if nums.next().is_some() {
            return Err("more than three numbers");
        }
        if e.count == 0 {
            return Err("count 0");
        }
        // Linux: `first + count` and `lower_first + count` must not wrap, and -1 stays
        // unmapped (`(u32)-1` is the invalid id).
        if e.first.checked_add(e.count).is_none() || e.lower_first.checked_add(e.count).is_none() {
            return Err("range wraps");
        }
        let overlaps =
            |a: u32, b: u32, n: u32, m: u32| a < b.saturating_add(m) && b < a.saturating_add(n);
        if out.iter().any(|o| {
            overlaps(o.first, e.first, o.count, e.count)
                || overlaps(o.lower_first, e.lower_first, o.count, e.count)
        }) {
            return Err("extents overlap");
        }
        if out.len() == MAX_EXTENTS {
            return Err("more than 340 extents");
        }
        out.push(e);
    }
    Ok(out)
}

/// The id inside that `lower` (an id of the parent namespace) maps to, if any.
#[inline]
pub fn map_id_up(map: &[Extent], lower: u32) -> Option<u32> {
    map.iter()
        .find(|e| lower >= e.lower_first && lower - e.lower_first < e.count)
        .map(|e| e.first + (lower - e.lower_first))
}

/// The id of the parent namespace that `id` (an id inside) maps to, if any (Linux's
/// `map_id_down`: what setuid and chown turn a caller's id into).
#[inline]
pub fn map_id_down(map: &[Extent], id: u32) -> Option<u32> {
    map.iter()
        .find(|e| id >= e.first && id - e.first < e.count)
        .map(|e| e.lower_first + (id - e.first))
}

/// A map's text as /proc shows it (Linux's `%10u %10u %10u\n` per extent).
pub fn show(map: &[Extent]) -> alloc::string::String {
    let mut s = alloc::string::String::new();
    for e in map {
        s.push_str(&alloc::format!(
            "{:>10} {:>10} {:>10}\n",
            e.first,
            e.lower_first,
            e.count
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let m = parse_map(b"0 1000 1\n1 100000 65536\n").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[1],
            Extent {
                first: 1,
                lower_first: 100000,
                count: 65536
            }
        );
        assert_eq!(parse_map(b"0\t0 4294967295").unwrap().len(), 1);
    }

    #[test]
    fn refuses_what_linux_refuses() {
        for bad in [
            &b""[..],
            b"\n",
            b"0 0",
            b"0 0 0\n",
            b"0 0 1 2\n",
            b"a 0 1\n",
            b"-1 0 1\n",
            b"1 0 4294967295\n",
            b"0 0 10\n5 100 10\n",
            b"0 0 10\n100 5 10\n",
            b"0 0 1\n\n",
        ] {
            assert!(parse_map(bad).is_err(), "{:?}", core::str::from_utf8(bad));
        }
        let mut many = alloc::string::String::new();
        for i in 0..341u32 {
            many.push_str(&alloc::format!("{i} {i} 1\n"));
        }
        assert!(parse_map(many.as_bytes()).is_err());
        many.truncate(many.rfind("\n340 ").unwrap() + 1);
        assert_eq!(parse_map(many.as_bytes()).unwrap().len(), 340);
    }

    #[test]
    fn maps_up() {
        let m = parse_map(b"0 1000 1\n5 0 2\n").unwrap();
        assert_eq!(map_id_up(&m, 1000), Some(0));
        assert_eq!(map_id_up(&m, 1), Some(6));
        assert_eq!(map_id_up(&m, 2), None);
        assert_eq!(show(&m[..1]), "         0       1000          1\n");
    }

    #[test]
    fn maps_down() {
        let m = parse_map(b"0 1000 1\n5 0 2\n").unwrap();
        assert_eq!(map_id_down(&m, 0), Some(1000));
        assert_eq!(map_id_down(&m, 6), Some(1));
        assert_eq!(map_id_down(&m, 7), None);
        assert_eq!(map_id_down(&m, 1), None);
        for id in [0, 5, 6] {
            assert_eq!(map_id_down(&m, id).and_then(|l| map_id_up(&m, l)), Some(id));
        }
    }
}
