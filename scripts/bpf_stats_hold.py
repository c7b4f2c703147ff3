#!/usr/bin/env python3
"""Holds BPF run-time statistics on (bpf(BPF_ENABLE_STATS)) until killed.

scripts/bench-sched.sh BENCH_PROG_STATS=1 runs it around the rounds: while its
file descriptor is open the kernel times every BPF program run (run_time_ns,
run_cnt in `bpftool prog show`); closing it (this process exiting, however it
exits) turns the statistics off again, unlike the kernel.bpf_stats_enabled
sysctl, which would stay on if the bench were interrupted."""
import ctypes
import os
import signal
import sys

SYS_BPF = 321          # x86_64
BPF_ENABLE_STATS = 32  # enum bpf_cmd
BPF_STATS_RUN_TIME = 0

libc = ctypes.CDLL(None, use_errno=True)
attr = ctypes.create_string_buffer(8)
ctypes.c_uint32.from_buffer(attr).value = BPF_STATS_RUN_TIME
fd = libc.syscall(SYS_BPF, BPF_ENABLE_STATS, attr, ctypes.c_uint(8))
if fd < 0:
    sys.stderr.write("bpf_stats_hold: BPF_ENABLE_STATS: %s\n" % os.strerror(ctypes.get_errno()))
    sys.exit(1)
print("ready", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pause()
