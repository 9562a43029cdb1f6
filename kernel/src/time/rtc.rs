//! The CMOS real-time clock, and conversions between Unix seconds and civil dates.

// --- The CMOS RTC ---

fn cmos(reg: u8) -> u8 {
    use x86_64::instructions::port::Port;
    // SAFETY: the CMOS index/data ports; reading a register has no other effect. NMIs stay
    // enabled (bit 7 clear), as Linux leaves them.
    unsafe {
        Port::<u8>::new(0x70).write(reg & 0x7f);
        Port::<u8>::new(0x71).read()
    }
}

/// The RTC's time as Unix seconds, if an RTC answers with a plausible date (2000–2099).
pub fn read_rtc() -> Option<u64> {
    let read = || -> Option<[u8; 7]> {
        // Wait out an update in progress (it lasts under 2 ms).
        let mut spins = 0;
        while cmos(0x0a) & 0x80 != 0 {
            spins += 1;
            if spins > 100_000 {
                return None;
            }
        }
        Some([
            cmos(0x00),
            cmos(0x02),
            cmos(0x04),
            cmos(0x07),
            cmos(0x08),
            cmos(0x09),
            cmos(0x0b),
        ])
    };
    let mut a = read()?;
    for _ in 0..5 {
        let b = read()?;
        if a == b {
            break;
        }
        a = b;
    }
    let [sec, min, hour, day, mon, year, status_b] = a;
    if status_b == 0xff {
        return None; // nothing on the port
    }
    let bcd = status_b & 0x04 == 0;
    let conv = |v: u8| -> u8 { if bcd { (v >> 4) * 10 + (v & 0x0f) } else { v } };
    let pm = status_b & 0x02 == 0 && hour & 0x80 != 0;
    let mut h = conv(hour & 0x7f);
    if status_b & 0x02 == 0 {
        // 12-hour mode: 12 AM is 0, 12 PM is 12.
        h %= 12;
        if pm {
            h += 12;
        }
    }
    let (s, mi, d, mo, y) = (conv(sec), conv(min), conv(day), conv(mon), conv(year));
    if s > 59 || mi > 59 || h > 23 || !(1..=31).contains(&d) || !(1..=12).contains(&mo) || y > 99 {
        return None;
    }
    let days = days_from_civil(2000 + y as i64, mo as u32, d as u32);
    Some(days as u64 * 86_400 + h as u64 * 3600 + mi as u64 * 60 + s as u64)
}

/// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds → (year, month, day, hour, minute, second), UTC.
pub fn civil_from_unix(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    )
}
