"""A text progress bar for jobs, on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from kalmanac.results import Job

WIDTH = 24


class ProgressBar:
    """Call with each job record seen while waiting. On a terminal the bar is redrawn in
    place; elsewhere (a log, a pipe) a line is written only when the status changes."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.started = time.monotonic()
        self.last: str | None = None
        self.width = 0  # of the line drawn last, so that a shorter one covers it

    def __call__(self, job: Job) -> None:
        filled = round(WIDTH * min(max(job.progress, 0.0), 1.0))
        bar = "#" * filled + "-" * (WIDTH - filled)
        elapsed = time.monotonic() - self.started
        left = "" if job.eta_s is None else f" ~{job.eta_s:.0f}s left"
        line = f"[{bar}] {job.progress:4.0%} {job.status:<9} {elapsed:5.1f}s{left}  job {job.id}"
        if self.tty:
            self.out.write("\r" + line.ljust(self.width) + ("\n" if job.done else ""))
            self.width = len(line)
        elif job.status != self.last:
            self.out.write(line + "\n")
        self.out.flush()
        self.last = job.status
