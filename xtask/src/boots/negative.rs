//! The negative runs: boots with one safety check turned off (`kentry.break=<check>`), each
//! passing only when another check or test catches the breakage (docs/entry-cases.md,
//! "negative run"). `cargo xtask test --negative` runs exactly these.

use super::BootTest;

pub const NEGATIVE_BOOTS: &[BootTest] = &[
    BootTest {
        // With the user-state update of context tracking removed, the entry assertion must
        // catch the first syscall and panic.
        name: "negative_ct_assert",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=ct_user_state",
            "kentry.only=syscall_regs",
        ],
        expect_status: 5,
        expect_log: &["context tracking violated", "frame is user mode"],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With static-key flips skipping the park, the context-tracking key changes while the
        // other CPU is in ring 3 or between an entry and its exit: a transition is lost or
        // doubled (turned on with the word at "kernel" while in ring 3: the next user entry
        // finds "kernel"; turned off and on across a syscall: the next IRQ in the kernel finds
        // "user"), and an entry assertion fires — which one depends on the timing.
        name: "negative_key_park",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=key_park",
            "kentry.only=static_key_flips_smp",
        ],
        expect_status: 5,
        expect_log: &["context tracking violated"],
        // A second CPU to run the ring-3 load (a later -smp overrides the default one).
        qemu_args: &["-smp", "2"],
        // Or the other CPU runs a half-written site before an assertion can see the state,
        // and the kernel dies of what that instruction did: a #DF, or a kernel fault (each seen
        // about once in 20 runs). The park is as load-bearing either way.
        // Or RCU's reader check sees the word wrong first (a lost transition leaves it in an
        // extended quiescent state while kernel code reads under RCU). Or the lock check
        // does (a doubled transition leaves the word's NMI nesting count up, and an ordinary
        // lock looks taken inside an NMI-like handler: seen once in CI, 8 Dec 2026).
        or_endings: &[
            (7, &["DOUBLE FAULT"]),
            (5, &["KERNEL FAULT"]),
            (5, &["rcu_read_lock while RCU is not watching"]),
            (5, &["BUG: lock check:", "taken in an NMI-like handler"]),
        ],
    },
    BootTest {
        // With DF left out of FMASK, the FMASK read back must differ from Linux's (E08).
        // (syscall_flags' df_uname_copy would catch the kernel copying backwards on a CPU
        // that carries DF across SYSCALL; QEMU 7.2 TCG clears it whatever FMASK says.)
        name: "negative_fmask_df",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=fmask_df",
            "kentry.only=syscall_msrs",
        ],
        expect_status: 3,
        expect_log: &[
            "FMASK = 0x257bd5, Linux has 0x257fd5 (missing 0x400",
            "not ok 1 syscall_msrs",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With TF left out of FMASK, syscall_flags' syscall made with TF=1 takes #DB on the
        // kernel's first instruction (E05), which the kernel reports (T3 names the stub) and
        // survives; the test harness fails the test during which it came.
        name: "negative_fmask_tf",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=fmask_tf",
            "kentry.only=syscall_flags",
        ],
        expect_status: 3,
        expect_log: &[
            "    ok 6 df_uname_copy",
            "KERNEL-MODE #DB (survived): #DB",
            "DR6 0x4000 (positive polarity) names no in-kernel breakpoint and no user copy",
            "# syscall_flags: 1 kernel-mode #DB the kernel could not explain",
            "not ok 1 syscall_flags",
            "RIP: 0x",
            "<kentry_syscall_64+0x0>",
            // Tripwire T3: an exception inside an entry stub, named with its window.
            // (The row's line number is left out: the table moves when its file is edited.)
            "T3 tripwire: kernel-mode #DB debug inside entry stub kentry_syscall_64+0x0, in the window from kentry_syscall_64+0x0 (entry/src/arch/syscall_64.rs:",
            "): `swapgs` | user RSP, user GS | can arrive: NMI, #MC, #DB (MOV SS, E21)",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the SYSRET predicate not refusing TF in R11, the syscall made with TF=1 returns
        // by SYSRET, whose restored TF traps before the next user instruction instead of after
        // it: tf_across_syscall must fail (E02, E05).
        name: "negative_sysret_tf",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysret_tf",
            "kentry.only=syscall_flags",
        ],
        expect_status: 3,
        expect_log: &["not ok 7 tf_across_syscall", "not ok 1 syscall_flags"],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the SYSRET predicate's RIP term dropped, the 17 sigreturns to RIP = RCX = 2^n
        // leave by SYSRET, and e01_sysret_noncanonical's count of those exits on the live
        // exit path must fail it (E01). (TCG's SYSRET does not check RCX; the #GP comes from
        // the ring-3 fetch, so the program still gets its SIGSEGVs.)
        name: "negative_sysret_noncanonical",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysret_noncanonical",
            "kentry.only=e01_sysret_noncanonical",
        ],
        expect_status: 3,
        expect_log: &[
            "# e01: syscall exits to RIP >= 2^47: 0 by IRET, 17 by SYSRET",
            "17 syscall exit(s) to a non-canonical RIP went by SYSRET",
            "not ok 1 e01_sysret_noncanonical",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the bad-IRET fixup skipped, the #GP that the iretq to user raises on
        // sigreturn_bad's null CS stays a kernel-mode fault: instead of the program's SIGSEGV,
        // the kernel must stop with a report naming the iretq (E14). With context tracking on
        // (the test kernel's default) the entry assertion reports it first: the CPU is "in
        // user" by the exit path's account, yet the frame is kernel mode.
        name: "negative_iret_fixup",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=iret_fixup",
            "kentry.only=sigreturn_bad",
        ],
        expect_status: 5,
        expect_log: &[
            "context tracking violated at #GP general protection 0xd: state=1 (user), frame is kernel mode",
            "RIP: 0x",
            "<kentry_iret_to_user+0x0>",
            // Tripwire T3 names the stub and the window the kernel-mode fault came from.
            "T3 tripwire: kernel-mode #GP general protection inside entry stub kentry_return_via_iret+0x",
            ", in the window from kentry_iret_to_user+0x0 (entry/src/arch/iret.rs:",
            "): `iretq` to user | kernel stack at the hardware frame, or the espfix stack at its copy; user GS | can arrive: NMI, #MC; #GP/#NP/#SS if the frame's CS/SS is bad (E14)",
        ],
        qemu_args: &[],
        // Without context tracking the kernel's own fault report names it.
        or_endings: &[(
            5,
            &[
                "KERNEL FAULT: #GP",
                "<kentry_iret_to_user+0x0>",
                ", in the window from kentry_iret_to_user+0x0 (entry/src/arch/iret.rs:",
                "): `iretq` to user | kernel stack at the hardware frame, or the espfix stack at its copy; user GS | can arrive: NMI, #MC; #GP/#NP/#SS if the frame's CS/SS is bad (E14)",
            ],
        )],
    },
    BootTest {
        // With rt_sigreturn taking IF, IOPL and NT from the user's frame, sigreturn_bad's
        // handler returns to ring 3 with IOPL 3, NT set and IF clear, and its flags case must
        // fail (E34).
        name: "negative_sigreturn_flags",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sigreturn_flags",
            "kentry.only=sigreturn_bad",
        ],
        expect_status: 3,
        expect_log: &[
            "flags after sigreturn 0x7",
            "not ok 10 sigreturn_drops_iopl_nt_keeps_if",
            "not ok 1 sigreturn_bad",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With kernel stacks mapped without the stack area's lock, two CPUs allocating the
        // first stacks of a fresh 2 MiB region each make its page table, and the stack mapped
        // in the table that loses is gone (found by the entry fuzzer, docs/fuzz.md).
        name: "negative_stack_map_lock",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=stack_map_lock",
            "kentry.only=stack_map_smp",
        ],
        expect_status: 3,
        expect_log: &[
            "stack pages unmapped right after their allocation",
            "not ok 1 stack_map_smp",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // With IF left out of FMASK, the first syscall runs its stub and enters Rust with
        // interrupts on, and the dispatch-time flags tripwire must name IF (0x200) as leaked
        // (E10).
        name: "negative_fmask_if",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=fmask_if",
            "kentry.only=syscall_regs",
        ],
        expect_status: 5,
        expect_log: &[
            "user flags leaked into the kernel at syscall entry: RFLAGS=0x",
            ", leaked 0x200 (AC 0 NT 0 TF 0 DF 0 IF 1)",
        ],
        qemu_args: &[],
        // Or a timer IRQ comes first, while interrupts are on where none may arrive:
        or_endings: &[
            // in kentry_rust_syscall before context tracking says "kernel" (about one run in
            // five): the entry assertion catches it;
            (
                5,
                &[
                    "context tracking violated at interrupt 0x20: state=1 (user), frame is kernel mode",
                    "<kentry_rust_syscall+",
                ],
            ),
            // or in the stub once it is on the kernel's stack and GS, building the frame
            // (seen once in a fresh-clone CI run): the same assertion;
            (
                5,
                &[
                    "context tracking violated at interrupt 0x20: state=1 (user), frame is kernel mode",
                    "<kentry_syscall_64_frame+",
                ],
            ),
            // in the stub's window on the user's RSP and GS: a tripwire sees them;
            (5, &["T1 tripwire: live GS base"]),
            (5, &["T2 tripwire: entry code runs on RSP"]),
            // or at the stub's first instruction, before `swapgs`: the IRQ's frame goes onto
            // the user's stack (a kernel-mode entry switches no stack), SMAP faults on the
            // same stack, and the #DF report names the window (seen once in a full run).
            (
                7,
                &[
                    "T3 tripwire: kernel-mode #DF double fault inside entry stub kentry_syscall_64+0x0",
                ],
            ),
        ],
    },
    BootTest {
        // With the IDT common path keeping the user's GS on a user-mode entry, tripwire T1 must
        // catch Rust running on it at the first exception or interrupt from ring 3 (E12).
        name: "negative_swapgs_by_cs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=swapgs_by_cs",
            "kentry.only=fault_ud",
        ],
        expect_status: 5,
        expect_log: &["T1 tripwire: live GS base 0x0 is not a per-CPU area"],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the paranoid path no longer putting CR2 back, the page fault taken inside
        // nmi_keeps_cr2's NMI leaves its address in CR2 for the interrupted code (E20).
        name: "negative_paranoid_cr2",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=paranoid_cr2",
            "kentry.only=nmi_keeps_cr2",
        ],
        expect_status: 3,
        expect_log: &[
            "# e20: CR2 0xffffffffffffe000 before the NMI, 0x1000 inside it, 0x1000 after",
            "not ok 1 nmi_keeps_cr2",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the SYSRET predicate's RCX = RIP term dropped, the kill() that raises
        // sigreturn_bad's SIGUSR1 returns by SYSRET to RCX instead of to the handler the
        // signal delivery put in RIP: the handler never runs, and no SIGSEGV follows (E02).
        name: "negative_sysret_rcx",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysret_rcx",
            "kentry.only=sigreturn_bad",
        ],
        expect_status: 3,
        expect_log: &[
            "null_cs_sigsegv: 0 SIGSEGV",
            "not ok 2 null_cs_sigsegv",
            "not ok 1 sigreturn_bad",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With NT alone left out of FMASK, syscall_flags' syscall made with NT set must trip
        // the dispatch-time flags check, which names NT (0x4000) alone (E06).
        name: "negative_fmask_nt",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=fmask_nt",
            "kentry.only=syscall_flags",
        ],
        expect_status: 5,
        expect_log: &[
            "user flags leaked into the kernel at syscall entry: RFLAGS=0x",
            ", leaked 0x4000 (AC 0 NT 1 TF 0 DF 0 IF 0)",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With AC alone left out of FMASK, syscall_flags' syscall made with AC set must trip
        // the dispatch-time flags check, which names AC (0x40000) alone (E07).
        name: "negative_fmask_ac",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=fmask_ac",
            "kentry.only=syscall_flags",
        ],
        expect_status: 5,
        expect_log: &[
            "user flags leaked into the kernel at syscall entry: RFLAGS=0x",
            ", leaked 0x40000 (AC 1 NT 0 TF 0 DF 0 IF 0)",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the paranoid path keeping the live GS base, the NMI that nmi_user_gs_base takes
        // in kernel mode with a user-chosen GS base live runs its Rust on that base, and
        // tripwire T1 must catch it (E13).
        name: "negative_paranoid_gs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=paranoid_gs",
            "kentry.only=nmi_user_gs_base",
        ],
        expect_status: 5,
        expect_log: &["T1 tripwire: live GS base 0x12345000 is not a per-CPU area"],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the SYSRET predicate's R11 = RFLAGS term dropped, sigreturn_bad's frame with
        // TF and arithmetic flags in R11 alone leaves by SYSRET, which loads them (E02): the
        // program sees a SIGTRAP and the flags it never asked for.
        name: "negative_sysret_r11",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysret_r11",
            "kentry.only=sigreturn_bad",
        ],
        expect_status: 3,
        expect_log: &[
            "sysret_r11_differs: flags after 0x",
            "not ok 8 sysret_r11_differs",
            "not ok 1 sigreturn_bad",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the SYSRET predicate's CS term dropped, sigreturn_bad's return to 32-bit code
        // (CS 0x23) leaves by SYSRET, which loads the 64-bit CS: the probe runs in 64-bit
        // mode (E02), and the null-CS frame comes back without a fault.
        name: "negative_sysret_cs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysret_cs",
            "kentry.only=sigreturn_bad",
        ],
        expect_status: 3,
        expect_log: &[
            "null_cs_sigsegv: 0 SIGSEGV",
            "not ok 2 null_cs_sigsegv",
            "CS 0x33 (want 0x23)",
            "not ok 9 sysret_cs_compat",
            "not ok 1 sigreturn_bad",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the SYSRET predicate's SS term dropped, sigreturn_bad's frames with an LDT
        // selector or a code segment as SS leave by SYSRET, which loads the fixed data
        // selector: no IRET fault, no SIGSEGV (E02, E33).
        name: "negative_sysret_ss",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=sysret_ss",
            "kentry.only=sigreturn_bad",
        ],
        expect_status: 3,
        expect_log: &[
            "ldt_ss_sigsegv: 0 SIGSEGV",
            "not ok 3 ldt_ss_sigsegv",
            "code_ss_sigsegv: 0 SIGSEGV",
            "not ok 4 code_ss_sigsegv",
            "not ok 1 sigreturn_bad",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the SYSCALL stub's stack switch skipped, the stub would build its frame on the
        // user's stack; tripwire T2, checked before the first push, must name the user RSP
        // (E11) — not a SMAP fault on the user stack and a double fault.
        name: "negative_syscall_stack",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=syscall_stack",
            "kentry.only=syscall_regs",
        ],
        expect_status: 5,
        expect_log: &[
            "T2 tripwire: entry code runs on RSP 0x7",
            "(kentry_syscall_64 after its stack switch, before its first push)",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With AC and NT left out of FMASK, a syscall made with AC=1 must trip the
        // dispatch-time flags check (E06, E07).
        name: "negative_syscall_fmask",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=syscall_fmask",
            "kentry.only=syscall_flags",
        ],
        expect_status: 5,
        expect_log: &["user flags leaked into the kernel at syscall entry"],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the fault on the iretq to user not recognised as carrying the user's GS, the
        // stub skips its swapgs and tripwire T1 must catch Rust on the user's GS (E12).
        name: "negative_iret_user_gs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=iret_user_gs",
            "kentry.only=sigreturn_bad",
        ],
        expect_status: 5,
        expect_log: &["T1 tripwire: live GS base 0x0 is not a per-CPU area"],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the NMI latch off, the self-NMI that arrives at the IRET of the #PF fixed up
        // inside the NMI handler builds its frame over the running NMI's on the same IST
        // stack, and the IST depth check must report it, naming where the nested NMI landed:
        // the fixup of that #PF (E18).
        name: "negative_nmi_latch",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=nmi_latch",
            "kentry.only=nmi_nested_latched",
        ],
        expect_status: 5,
        expect_log: &[
            "IST recursion: NMI re-entered its own stack",
            "IST RECURSION: NMI",
            "<kernel_fixup_register_check+",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // The same with the outer NMI taken in ring 3 (its handler runs on the task stack):
        // with the latch off, the nested NMI runs the handler inside the running one, and
        // nmi_nested_latched_user must see the re-entry (E18).
        name: "negative_nmi_latch_user",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=nmi_latch",
            "kentry.only=nmi_nested_latched_user",
        ],
        expect_status: 3,
        expect_log: &[
            "the NMI handler was re-entered by the nested NMI",
            "not ok 1 nmi_nested_latched_user",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With grace-period detection treating a kernel-mode CPU as quiescent, objects are
        // freed while CPU 1's readers still use them: rcu_stress's checker must see a
        // poisoned object (the proof that the checker can fail). A million updates: 200,000
        // (about 0.3 s) once ended without the checker meeting a freed object.
        name: "negative_rcu_qs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=rcu_qs",
            "kentry.only=rcu_stress",
            "kentry.rcu_updates=1000000",
        ],
        expect_status: 3,
        expect_log: &["use-after-free: ", "not ok 1 rcu_stress"],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // With nmi_enter no longer making RCU watch, an NMI injected while a ring-3 loop runs
        // (an extended quiescent state, context tracking on) must trip the assertion that
        // RCU watches inside NMI-like handlers.
        name: "negative_rcu_nmi_watch",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=rcu_nmi_watch",
            "kentry.only=nmi_from_user",
        ],
        expect_status: 5,
        expect_log: &[
            "RCU not watching in NMI-like handler NMI: state 1",
            "RCU NOT WATCHING: NMI",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With kernel preemption off (`kentry.break=kernel_preempt`: no preemption at an
        // interrupt's return, none when the count drops to 0), the other task on the CPU
        // never runs during kernel_preemption's 200 ms preemptible region (docs/preemption.md).
        name: "negative_kernel_preempt",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=kernel_preempt",
            "kentry.only=kernel_preemption",
        ],
        expect_status: 3,
        expect_log: &[
            "kernel code was not preempted",
            "not ok 1 kernel_preemption",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // The same break seen from ring 3: the spinning thread on the writer's CPU does not
        // run during the one 32 MiB write() (at most twice around it), and c_preempt fails.
        name: "negative_kernel_preempt_user",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=kernel_preempt",
            "kentry.only=c_preempt_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "    not ok 2 other_thread_ran_during_write",
            "not ok 1 c_preempt_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the IRQ-exit test ignoring the preempt count (`kentry.break=preempt_count`), a
        // tick that ends a slice preempts kernel code at the default count (1): schedule() is
        // entered at count 2 (3 if the tick lands inside a spin lock: any count above the
        // default will do), and the scheduling-while-atomic check must stop the kernel.
        name: "negative_preempt_count",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=preempt_count",
            "kentry.only=kernel_preemption",
        ],
        expect_status: 5,
        expect_log: &["BUG: scheduling while atomic: preempt count "],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the lock-context checks off (`kentry.break=lockcheck`), a lock taken in an NMI
        // handler and a lock taken in hardirq context and with interrupts on go unreported,
        // and both lockcheck self-tests fail (kernel/src/lockcheck.rs).
        name: "negative_lockcheck",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=lockcheck",
            "kentry.only=lockcheck_nmi_lock,lockcheck_irq_unsafe_lock",
        ],
        expect_status: 3,
        expect_log: &[
            "a lock taken in an NMI handler was not reported",
            "not ok 1 lockcheck_nmi_lock",
            "0 for the IRQ-unsafe one (want 1 or more)",
            "not ok 2 lockcheck_irq_unsafe_lock",
        ],
        // A second CPU, whose call-function handler is the hardirq context.
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The same with the tick kept on the nohz_full CPU (`kentry.break=nohz`): CPU 1 takes
        // its ~5000 timer interrupts during the spin, and the test must fail on them.
        name: "negative_nohz_keep_tick",
        cmdline: &[
            "kentry.mode=test",
            "nohz_full=1",
            "kentry.break=nohz",
            "kentry.only=nohz_full_spin",
        ],
        expect_status: 3,
        expect_log: &[
            "    not ok 2 loc_delta_zero",
            "    not ok 9 tick_stops_again_alone",
            "not ok 1 nohz_full_spin",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // The same with readers that ignore the time pending on other CPUs
        // (`kentry.break=vtime_remote`): the spinner's time stays unfolded, and the reads
        // must fail to see it grow.
        name: "negative_vtime_remote",
        cmdline: &[
            "kentry.mode=test",
            "nohz_full=1",
            "kentry.break=vtime_remote",
            "kentry.only=c_nohz_times_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "not ok 1 remote_utime_grows",
            "not ok 2 remote_times_grows",
            "not ok 4 remote_cpu_row_grows",
            "not ok 1 c_nohz_times_musl",
        ],
        qemu_args: &["-smp", "2"],
        or_endings: &[],
    },
    BootTest {
        // With the #PF path reading CR2 late, after its probe point, pf_cr2_read_first's
        // fault at 0x3000 reaches its handler with the address of the fault the probe made
        // there (0x1000), and the test must say so (E20).
        name: "negative_cr2_first",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=cr2_first",
            "kentry.only=pf_cr2_read_first",
        ],
        expect_status: 3,
        expect_log: &[
            "its handler was handed CR2 0x1000",
            "not ok 1 pf_cr2_read_first",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // With the NMI-like entries leaving DR7 armed, nmi_clears_dr7's write watchpoint fires
        // inside its NMI handler, at the hook's write: a kernel-mode #DB on top of the NMI,
        // which the kernel reports and survives (E22), and the test sees DR7 armed in it.
        name: "negative_paranoid_dr7",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=paranoid_dr7",
            "kentry.only=nmi_clears_dr7",
        ],
        expect_status: 3,
        expect_log: &[
            "KERNEL-MODE #DB (survived): #DB debug err=0x1",
            "write_watched",
            "not ok 1 nmi_clears_dr7",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
];
