//! The negative runs of memfd's seals, of clone3's struct size rules, of epoll's edges, of
//! timerfd's expiry counts, of AF_UNIX's control-data checks (both layouts) and accept
//! backlog, of socketcall's argument counts, of the id calls' permission checks and of
//! TIOCSTI's, each
//! switched off (`kentry.break=<check>`) so that its C test must fail.

use super::BootTest;

pub const NEGATIVE_FILES_BOOTS: &[BootTest] = &[
    BootTest {
        // Seals recorded but not enforced (`kentry.break=memfd_seals`): every case that
        // expects a seal's EPERM, EBUSY or EACCES fails; the rest still pass.
        name: "negative_memfd_seals",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=memfd_seals",
            "kentry.only=c_memfd_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: memfd seals are recorded but enforce nothing",
            "ok 16 maps_memfd_name",
            "not ok 17 no_sealing_seal_seal",
            "not ok 20 seal_shrink",
            "not ok 21 seal_grow",
            "not ok 22 seal_write_busy_while_mapped",
            "not ok 23 seal_write_refuses_write",
            "not ok 24 seal_write_refuses_shared_rw_mmap",
            "not ok 25 seal_write_readonly_map_stays_readonly",
            "not ok 27 seal_seal_final",
            "not ok 28 seal_future_write",
            "not ok 1 c_memfd_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // clone3 without its size rules (`kentry.break=clone3_size`): a struct with a
        // non-zero tail, one over a page and one under 64 bytes each make a child instead of
        // failing with E2BIG or EINVAL.
        name: "negative_clone3_size",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=clone3_size",
            "kentry.only=c_clone3_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: clone3 reads its struct without the size rules",
            "ok 1 clone3_sizes_64_80_88_96",
            "not ok 2 clone3_nonzero_tail_e2big",
            "not ok 3 clone3_over_page_e2big",
            "not ok 4 clone3_short_einval",
            "ok 5 clone3_invalid_args_einval",
            "not ok 1 c_clone3_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // epoll without edges (`kentry.break=epoll_edge`): edge-triggered items are reported
        // while ready, as level-triggered ones, and ONESHOT items never disarm; the
        // level-triggered cases still pass.
        name: "negative_epoll_edge",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=epoll_edge",
            "kentry.only=c_epoll_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: epoll's edge-triggered and ONESHOT items act level-triggered",
            "ok 17 level_triggered_repeats",
            "not ok 19 edge_triggered_once",
            "not ok 20 edge_triggered_partial_read_quiet",
            "not ok 21 edge_triggered_new_data",
            "not ok 22 oneshot_disarms",
            "not ok 31 socket_edge_triggered",
            "not ok 1 c_epoll_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // timerfd reads without overruns (`kentry.break=timerfd_overrun`): a read after
        // missed periods returns 1.
        name: "negative_timerfd_overrun",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=timerfd_overrun",
            "kentry.only=c_eventfds_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: a timerfd read returns 1 however many periods passed",
            "ok 15 timerfd_oneshot_blocking_read",
            "not ok 16 timerfd_periodic_missed_periods",
            "not ok 24 timerfd_epoll_edges",
            "not ok 1 c_eventfds_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // AF_UNIX control data unchecked (`kentry.break=unix_scm`): a short or overlong
        // cmsg_len ends the parse instead of EINVAL, 254 descriptors go, so control_errors
        // sees sends succeed; descriptors and credentials still travel.
        name: "negative_unix_scm",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=unix_scm",
            "kentry.only=c_unixscm_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: AF_UNIX control data goes unchecked (cmsg_len, SCM_MAX_FD)",
            "ok 5 rights_stream_piece",
            "not ok 6 control_errors",
            "ok 7 passcred_auto",
            "not ok 1 c_unixscm_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // AF_UNIX listeners without a bound (`kentry.break=unix_backlog`): the third
        // non-blocking connect to a listen(fd, 1) socket gets in instead of EAGAIN.
        name: "negative_unix_backlog",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=unix_backlog",
            "kentry.only=c_unixnamed_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: AF_UNIX listeners queue connections without bound",
            "ok 9 bad_addresses",
            "not ok 10 accept_backlog",
            "ok 11 listen_readiness",
            "not ok 1 c_unixnamed_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // i386 control data unchecked (`kentry.break=unix_scm`): a compat cmsghdr too short
        // or running past the buffer ends the rewrite quietly, so scm_compat_errors sees
        // sends succeed; good control data still travels.
        name: "negative_unix_scm_compat",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=unix_scm",
            "kentry.only=c_ia32_net_glibc32",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: AF_UNIX control data goes unchecked (cmsg_len, SCM_MAX_FD)",
            "ok 7 scm_credentials_rights",
            "not ok 8 scm_compat_errors",
            "ok 9 mmsg_direct",
            "not ok 1 c_ia32_net_glibc32",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // socketcall without Linux's nas[] (`kentry.break=socketcall_nargs`): six words read
        // for every call, so a two-word shutdown block at the end of readable memory is
        // EFAULT; blocks inside memory still work.
        name: "negative_socketcall_nargs",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=socketcall_nargs",
            "kentry.only=c_ia32_net_glibc32",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: socketcall reads six words of every call's argument block",
            "ok 1 socketcall_calls",
            "not ok 2 socketcall_errors",
            "ok 10 mmsg_socketcall",
            "not ok 1 c_ia32_net_glibc32",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // The id calls without their permission checks (`kentry.break=cred_checks`): with
        // an effective uid of 70000 setuid16(5), setgid16(1) and setgroups16 succeed where
        // Linux says EPERM; the conversions still pass.
        name: "negative_cred_checks",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=cred_checks",
            "kentry.only=c_ia32_ids_glibc32",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: the id calls grant every change (no capability asked)",
            "ok 1 uid16_gids",
            "not ok 2 uid16_uids",
            "not ok 3 uid16_groups",
            "ok 4 uid16_chown",
            "not ok 1 c_ia32_ids_glibc32",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
    BootTest {
        // TIOCSTI without its check (`kentry.break=tiocsti_perm`): a process without
        // CAP_SYS_ADMIN pushes input into a pty slave that is not its controlling terminal
        // where Linux says EPERM; pushing into its own still works.
        name: "negative_tiocsti_perm",
        cmdline: &[
            "kentry.mode=test",
            "kentry.break=tiocsti_perm",
            "kentry.only=c_pty_musl",
        ],
        expect_status: 3,
        expect_log: &[
            "test hook: TIOCSTI pushes input into any terminal (no permission asked)",
            "ok 17 tiocsti_as_typed",
            "not ok 18 tiocsti_eperm_not_ctty",
            "ok 19 tiocsti_cap_sys_admin",
            "not ok 1 c_pty_musl",
        ],
        qemu_args: &[],
        or_endings: &[],
    },
];
