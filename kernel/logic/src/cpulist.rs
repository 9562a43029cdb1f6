//! Linux's cpulist syntax (`nohz_full=1`, `1-3`, `1,3`, `0-2,5`), as the kernel command line
//! and `/sys/devices/system/cpu/*` use it.

/// The CPUs `list` names, as a mask of CPUs below `limit` (at most 64); `Err` is the first
/// word that is not a CPU number or an ascending range of them below `limit`.
#[inline]
pub fn parse_cpulist(list: &str, limit: usize) -> Result<u64, &str> {
    let limit = limit.min(64);
    let mut mask = 0u64;
    for part in list.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>(), b.parse::<usize>()),
            None => (part.parse::<usize>(), part.parse::<usize>()),
        };
        match (lo, hi) {
            (Ok(lo), Ok(hi)) if lo <= hi && hi < limit => {
                for cpu in lo..=hi {
                    mask |= 1 << cpu;
                }
            }
            _ => return Err(part),
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::parse_cpulist;

    #[test]
    fn linux_forms() {
        assert_eq!(parse_cpulist("1", 64), Ok(0b10));
        assert_eq!(parse_cpulist("1-3", 64), Ok(0b1110));
        assert_eq!(parse_cpulist("1,3", 64), Ok(0b1010));
        assert_eq!(parse_cpulist("0-2,5", 64), Ok(0b10_0111));
        assert_eq!(parse_cpulist("63", 64), Ok(1 << 63));
        assert_eq!(parse_cpulist("0-63", 64), Ok(u64::MAX));
    }

    #[test]
    fn bad_words_are_named() {
        assert_eq!(parse_cpulist("", 64), Err(""));
        assert_eq!(parse_cpulist("1,x", 64), Err("x"));
        assert_eq!(parse_cpulist("3-1", 64), Err("3-1"));
        assert_eq!(parse_cpulist("1-", 64), Err("1-"));
        assert_eq!(parse_cpulist("64", 64), Err("64"));
        assert_eq!(parse_cpulist("2", 2), Err("2"));
        assert_eq!(parse_cpulist("1 ,2", 64), Err("1 "));
        assert_eq!(parse_cpulist("0-100", 1000), Err("0-100"));
    }
}
