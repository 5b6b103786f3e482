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

import resource
import time

PHASES = ("imports", "preparing", "start-up", "grading", "stopping", "reports")


def process_age() -> float:
    """Seconds since this process started (the kernel's start time, to its clock tick)."""
    import psutil  # distributed's own dependency

    return max(0.0, time.time() - psutil.Process().create_time())


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
