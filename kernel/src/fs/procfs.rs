//! The text of the generated /proc files, made when such a file is opened (a read sees one
//! consistent snapshot, as a seq_file's first read does).

use super::node::ProcFile;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::Ordering;

/// The text of `what`; Err(-ESRCH) for a per-process file whose process has gone.
pub fn generate(what: ProcFile) -> Result<Vec<u8>, i64> {
    Ok(match what {
        ProcFile::Maps(t) => super::proc_task::maps(t)?.into_bytes(),
        ProcFile::TaskStat(t) => super::proc_task::stat(t)?.into_bytes(),
        ProcFile::TaskStatus(t) => super::proc_task::status(t)?.into_bytes(),
        ProcFile::TaskSyscall(t) => super::proc_task::syscall(t)?.into_bytes(),
        ProcFile::Cpuinfo => cpuinfo().into_bytes(),
        ProcFile::Meminfo => meminfo().into_bytes(),
        ProcFile::Mounts => String::from(
            "rootfs / rootfs rw 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n",
        )
        .into_bytes(),
        ProcFile::Cmdline => {
            let mut s = String::from(crate::CMDLINE.get().copied().unwrap_or(""));
            s.push('\n');
            s.into_bytes()
        }
        ProcFile::Stat => stat().into_bytes(),
        ProcFile::Interrupts => interrupts().into_bytes(),
        ProcFile::CpuOnline => cpu_list(crate::smp::online_mask()).into_bytes(),
        ProcFile::PidCmdline(pid) => super::proc_pid::strings(pid, false)?,
        ProcFile::PidEnviron(pid) => super::proc_pid::strings(pid, true)?,
        ProcFile::PidComm(t) => super::proc_task::comm_file(t)?.into_bytes(),
        ProcFile::Loadavg => loadavg().into_bytes(),
        ProcFile::Filesystems => {
            String::from("nodev\trootfs\nnodev\tproc\nnodev\tsysfs\n").into_bytes()
        }
        ProcFile::SysKernel(name) => {
            let value = KERNEL_SYSCTLS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, v)| *v);
            format!("{value}\n").into_bytes()
        }
        ProcFile::IdMap(..) | ProcFile::Setgroups(_) => super::proc_ns::text(what)?.into_bytes(),
        ProcFile::Uptime => {
            let ns = crate::time::monotonic_ns();
            let (sec, cs) = (ns / 1_000_000_000, ns % 1_000_000_000 / 10_000_000);
            format!("{sec}.{cs:02} 0.00\n").into_bytes()
        }
    })
}

/// `/proc/sys/kernel/<name>` and its value (read-only: kentry has no sysctl writes).
pub const KERNEL_SYSCTLS: [(&str, &str); 6] = {
    use crate::syscall::misc::sysinfo::UTSNAME;
    [
        ("domainname", UTSNAME[5]),
        ("hostname", UTSNAME[1]),
        ("osrelease", UTSNAME[2]),
        ("ostype", UTSNAME[0]),
        // Pids are never reused here (process::alloc_pid); this is Linux's 64-bit default.
        ("pid_max", "4194304"),
        ("version", UTSNAME[3]),
    ]
};

/// `/proc/loadavg`: Linux's format, `avg1 avg5 avg15 runnable/total last_pid`. kentry keeps
/// no load averages (0.00); the counts are of threads, as Linux's.
fn loadavg() -> String {
    let (mut runnable, mut total) = (0u32, 0u32);
    for p in crate::process::all_user_processes() {
        for t in p.other_threads(0) {
            match t.state() {
                crate::task::TaskState::Dead => {}
                crate::task::TaskState::Runnable => {
                    runnable += 1;
                    total += 1;
                }
                _ => total += 1,
            }
        }
    }
    let last = crate::process::forks_since_boot();
    format!("0.00 0.00 0.00 {runnable}/{total} {last}\n")
}

/// Linux's `/proc/interrupts` rows for the per-CPU vectors (arch_show_interrupts): a header
/// of `CPUn` columns, then per row a 3-wide name, a 10-wide count per online CPU, and the
/// description.
fn interrupts() -> String {
    use crate::percpu::EntryCounters;
    let cpus: Vec<_> = crate::smp::ipi::online_cpus().collect();
    let mut s = format!("{:11}", "");
    for (n, _) in &cpus {
        let _ = write!(s, "CPU{n:<8}");
    }
    s.push('\n');
    type Row = (&'static str, fn(&EntryCounters) -> u64, &'static str);
    let rows: [Row; 5] = [
        (
            "NMI",
            |c| c.nmis.load(Ordering::Relaxed),
            "Non-maskable interrupts",
        ),
        (
            "LOC",
            |c| c.timer_ticks.load(Ordering::Relaxed),
            "Local timer interrupts",
        ),
        (
            "RES",
            |c| c.ipi_reschedule.load(Ordering::Relaxed),
            "Rescheduling interrupts",
        ),
        (
            "CAL",
            |c| c.ipi_call.load(Ordering::Relaxed),
            "Function call interrupts",
        ),
        (
            "TLB",
            |c| c.ipi_tlb.load(Ordering::Relaxed),
            "TLB shootdowns",
        ),
    ];
    for (name, count, what) in rows {
        let _ = write!(s, "{name:>3}: ");
        for (_, cpu) in &cpus {
            let _ = write!(s, "{:10} ", count(&cpu.counters));
        }
        let _ = writeln!(s, "  {what}");
    }
    s
}

/// A CPU mask as Linux prints a cpulist: ranges `a-b` and single CPUs, comma-separated.
pub(super) fn cpu_list(mask: u64) -> String {
    let mut s = String::new();
    let mut n = 0;
    while n < 64 {
        if mask & (1 << n) == 0 {
            n += 1;
            continue;
        }
        let start = n;
        while n + 1 < 64 && mask & (1 << (n + 1)) != 0 {
            n += 1;
        }
        if !s.is_empty() {
            s.push(',');
        }
        if start == n {
            let _ = write!(s, "{n}");
        } else {
            let _ = write!(s, "{start}-{n}");
        }
        n += 1;
    }
    s.push('\n');
    s
}

fn meminfo() -> String {
    let (total, free) = crate::mm::frame::stats();
    let kib = |frames: u64| frames * 4;
    format!(
        "MemTotal:       {:8} kB\nMemFree:        {:8} kB\nMemAvailable:   {:8} kB\n",
        kib(total),
        kib(free),
        kib(free)
    )
}

/// Linux's /proc/stat: the `cpu` row (the sum) and a `cpuN` row per online CPU, each
/// `user nice system idle iowait irq softirq steal guest guest_nice` in USER_HZ units, from
/// the per-CPU accounting (sched/cputime.rs); then the boot time and the fork count.
fn stat() -> String {
    use crate::sched::cputime::USER_HZ;
    let to_clock_t = |ns: u64| ns / (1_000_000_000 / USER_HZ);
    let row = |s: &mut String, name: &str, [system, user, idle]: [u64; 3]| {
        let (user, system, idle) = (to_clock_t(user), to_clock_t(system), to_clock_t(idle));
        let _ = writeln!(s, "{name} {user} 0 {system} {idle} 0 0 0 0 0 0");
    };
    let per_cpu: Vec<(usize, [u64; 3])> = crate::smp::ipi::online_cpus()
        .map(|(n, _)| (n, crate::sched::cputime::cpu_time(n)))
        .collect();
    let mut total = [0u64; 3];
    for (_, t) in &per_cpu {
        for (sum, x) in total.iter_mut().zip(t) {
            *sum += x;
        }
    }
    let mut s = String::new();
    row(&mut s, "cpu ", total);
    for (n, t) in per_cpu {
        row(&mut s, &format!("cpu{n}"), t);
    }
    let btime = crate::time::realtime_ns().saturating_sub(crate::time::monotonic_ns());
    let _ = write!(
        s,
        "btime {}\nprocesses {}\n",
        btime / 1_000_000_000,
        crate::process::forks_since_boot()
    );
    s
}

fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86-64 CPU and has no side effects.
    let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, sub) };
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// (leaf, register index in [eax, ebx, ecx, edx], bit, name) as Linux names the flags.
const FLAGS: &[(u32, usize, u32, &str)] = &[
    (1, 3, 0, "fpu"),
    (1, 3, 1, "vme"),
    (1, 3, 2, "de"),
    (1, 3, 3, "pse"),
    (1, 3, 4, "tsc"),
    (1, 3, 5, "msr"),
    (1, 3, 6, "pae"),
    (1, 3, 7, "mce"),
    (1, 3, 8, "cx8"),
    (1, 3, 9, "apic"),
    (1, 3, 11, "sep"),
    (1, 3, 12, "mtrr"),
    (1, 3, 13, "pge"),
    (1, 3, 14, "mca"),
    (1, 3, 15, "cmov"),
    (1, 3, 16, "pat"),
    (1, 3, 17, "pse36"),
    (1, 3, 19, "clflush"),
    (1, 3, 23, "mmx"),
    (1, 3, 24, "fxsr"),
    (1, 3, 25, "sse"),
    (1, 3, 26, "sse2"),
    (1, 3, 28, "ht"),
    (0x8000_0001, 3, 11, "syscall"),
    (0x8000_0001, 3, 20, "nx"),
    (0x8000_0001, 3, 26, "pdpe1gb"),
    (0x8000_0001, 3, 27, "rdtscp"),
    (0x8000_0001, 3, 29, "lm"),
    (1, 2, 0, "pni"),
    (1, 2, 1, "pclmulqdq"),
    (1, 2, 9, "ssse3"),
    (1, 2, 12, "fma"),
    (1, 2, 13, "cx16"),
    (1, 2, 19, "sse4_1"),
    (1, 2, 20, "sse4_2"),
    (1, 2, 21, "x2apic"),
    (1, 2, 22, "movbe"),
    (1, 2, 23, "popcnt"),
    (1, 2, 25, "aes"),
    (1, 2, 26, "xsave"),
    (1, 2, 28, "avx"),
    (1, 2, 29, "f16c"),
    (1, 2, 30, "rdrand"),
    (1, 2, 31, "hypervisor"),
    (0x8000_0001, 2, 0, "lahf_lm"),
    (0x8000_0001, 2, 5, "abm"),
    (0x8000_0001, 2, 6, "sse4a"),
    (0x8000_0001, 2, 8, "3dnowprefetch"),
    (7, 1, 0, "fsgsbase"),
    (7, 1, 3, "bmi1"),
    (7, 1, 5, "avx2"),
    (7, 1, 7, "smep"),
    (7, 1, 8, "bmi2"),
    (7, 1, 9, "erms"),
    (7, 1, 10, "invpcid"),
    (7, 1, 16, "avx512f"),
    (7, 1, 18, "rdseed"),
    (7, 1, 19, "adx"),
    (7, 1, 20, "smap"),
    (7, 1, 23, "clflushopt"),
    (7, 1, 29, "sha_ni"),
    (7, 2, 2, "umip"),
    (7, 2, 22, "rdpid"),
];

fn cpuinfo() -> String {
    let l0 = cpuid(0, 0);
    let mut vendor = Vec::with_capacity(12);
    for r in [l0[1], l0[3], l0[2]] {
        vendor.extend_from_slice(&r.to_le_bytes());
    }
    let vendor = String::from_utf8_lossy(&vendor).into_owned();
    let l1 = cpuid(1, 0);
    let base_family = (l1[0] >> 8) & 0xf;
    let family = if base_family == 0xf {
        base_family + ((l1[0] >> 20) & 0xff)
    } else {
        base_family
    };
    let model = if base_family == 6 || base_family == 0xf {
        ((l1[0] >> 4) & 0xf) | (((l1[0] >> 16) & 0xf) << 4)
    } else {
        (l1[0] >> 4) & 0xf
    };
    let stepping = l1[0] & 0xf;
    let max_ext = cpuid(0x8000_0000, 0)[0];
    let brand = if max_ext >= 0x8000_0004 {
        let mut b = Vec::with_capacity(48);
        for leaf in 0x8000_0002..=0x8000_0004u32 {
            for r in cpuid(leaf, 0) {
                b.extend_from_slice(&r.to_le_bytes());
            }
        }
        let s = String::from_utf8_lossy(&b).into_owned();
        String::from(s.trim_matches(|c: char| c == '\0' || c == ' '))
    } else {
        String::from("QEMU Virtual CPU")
    };
    let max_basic = l0[0];
    let mut flags = String::new();
    for &(leaf, reg, bit, name) in FLAGS {
        let present = if leaf >= 0x8000_0000 {
            max_ext >= leaf
        } else {
            max_basic >= leaf
        };
        if present && cpuid(leaf, 0)[reg] & (1 << bit) != 0 {
            if !flags.is_empty() {
                flags.push(' ');
            }
            flags.push_str(name);
        }
    }
    let clflush = ((l1[1] >> 8) & 0xff) * 8;
    // One block per online CPU (what `nproc --all` and programs counting "processor" read).
    let n = crate::smp::online_count();
    let mut all = String::new();
    for (cpu, _) in crate::smp::ipi::online_cpus() {
        let apicid = crate::smp::apic_id(cpu);
        let _ = write!(
            all,
            "processor\t: {cpu}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n\
         model name\t: {brand}\nstepping\t: {stepping}\ncpu MHz\t\t: 1000.000\n\
         physical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {cpu}\ncpu cores\t: {n}\n\
         apicid\t\t: {apicid}\nfpu\t\t: yes\n\
         fpu_exception\t: yes\ncpuid level\t: {max_basic}\nwp\t\t: yes\nflags\t\t: {flags}\n\
         bogomips\t: 2000.00\nclflush size\t: {clflush}\ncache_alignment\t: 64\n\
         address sizes\t: 40 bits physical, 48 bits virtual\npower management:\n\n"
        );
    }
    all
}
