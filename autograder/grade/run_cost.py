"""What a grading run costs, phase by phase: the command's last line.

    imports 1.9 s; preparing 0.2 s; start-up 2.1 s; grading 41.0 s; stopping 0.4 s; reports
    1.1 s; client peak memory 180 MiB; client CPU 12.5 s, 6.1 s of it while grading

Every second from the process's start to the line is in one phase: ``imports`` (the interpreter
and the command's modules, up to the command's first step), ``preparing`` (the checks of the
command line, finding the submissions, the journal and the gradebook opened), ``start-up`` (what
the client waits for the cluster after that: starting it, probing its sandboxes, setting up its
workers, which begins before preparing and overlaps it), ``grading``, ``stopping`` (the last
results written, the cluster stopped) and ``reports`` (grades.csv, feedback, the course root,
plots, similarity). Only the interpreter's exit after the line is not in it: a benchmark that
times the whole command sees it as the rest. autograder/tools/scale_benchmark.py parses the
line (COST_LINE there).
"""

import os
import resource
import time

PHASES = ("imports", "preparing", "start-up", "grading", "stopping", "reports")


def process_age() -> float:
    """Seconds since this process started, to the kernel's clock tick: its start time in ticks
    since boot (/proc/self/stat) against the boot-time clock. (psutil's create_time() adds the
    time of boot, which the kernel gives in whole seconds: up to a second off.)"""
    with open("/proc/self/stat", "rb") as stat:
        after_name = stat.read().rpartition(b")")[2].split()  # fields 3, 4, ... of proc(5)
    start_ticks = int(after_name[22 - 3])  # field 22: starttime
    since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    return max(0.0, since_boot - start_ticks / os.sysconf("SC_CLK_TCK"))


def client_cpu() -> float:
    """Seconds of CPU this process has used, all its threads (a local cluster's scheduler too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RunCost:
    """The seconds of each phase: `enter(phase)` ends the one before; "imports" runs from the
    process's start to this object's creation."""

    def __init__(self):
        now = time.monotonic()
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.seconds["imports"] = process_age()
        self.phase, self.since = None, now
        self.grading_cpu = 0.0
        self._cpu_since = None

    def enter(self, phase: str) -> None:
        now = time.monotonic()
        if self.phase is not None:
            self.seconds[self.phase] += now - self.since
        if self.phase == "grading":
            self.grading_cpu += client_cpu() - self._cpu_since
        if phase == "grading":
            self._cpu_since = client_cpu()
        self.phase, self.since = phase, now

    def elapsed(self) -> float:
        """Seconds since the process started."""
        return sum(self.seconds.values()) + (time.monotonic() - self.since)

    def line(self) -> str:
        self.enter(None)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10  # KiB on Linux
        phases = "; ".join(f"{phase} {self.seconds[phase]:.1f} s" for phase in PHASES)
        return (
            f"{phases}; client peak memory {peak} MiB; client CPU {client_cpu():.1f} s, "
            f"{self.grading_cpu:.1f} s of it while grading"
        )
