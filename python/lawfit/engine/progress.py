"""Progress of long batches, driven by the core's count of finished problems.

The core calls ``callback(done, total)`` about every 0.2 s while a batch runs
(:func:`lawfit.engine.core.solve_batch`'s ``progress``).  A bar appears only once
the whole call has taken a second, so short fits print nothing but the summary
line; it uses tqdm when installed, else one line on stderr rewritten in place --
or, where stderr is not a terminal (a log file, CI), a plain line every
:data:`LOG_EVERY_S` seconds instead of carriage returns and escape codes.
"""
from __future__ import annotations

import sys
import time

__all__ = ["Progress"]

SHOW_AFTER_S = 1.0
LOG_EVERY_S = 10.0  # lines written to a stream that is not a terminal


class Progress:
    """One call's progress: stages (``"starts"``, ``"bootstrap"``, ...) of one or more batches."""

    def __init__(self, enabled: bool = True, stream=None):
        self.enabled = bool(enabled)
        self.stream = sys.stderr if stream is None else stream
        self.t0 = time.perf_counter()
        self.stage_name = ""
        self._bar = None
        self._plain = False
        self._last = (-1, -1)
        self._base = (0, 0)  # (done, total) of the stage's earlier batches
        isatty = getattr(self.stream, "isatty", None)
        self._tty = bool(isatty()) if callable(isatty) else False
        self._logged = -LOG_EVERY_S  # when the last line went to a non-terminal stream

    @property
    def callback(self):
        """The function to hand to solve_batch (None when disabled: the core then skips the calls)."""
        return self.update if self.enabled else None

    def stage(self, name: str) -> None:
        """Name the batches that follow (a new bar: its count and rate start from this stage's)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.stage_name = name
        self._last = (-1, -1)
        self._base = (0, 0)

    def update(self, done: int, total: int) -> None:
        if not self.enabled or (total, done) == self._last:
            return
        if self._last[0] >= 0 and (total != self._last[0] or done < self._last[1]):
            # A new batch of the same stage (pruning pass, LM, bootstrap chunk): count on.
            self._base = (self._base[0] + self._last[0], self._base[1] + self._last[0])
        self._last = (total, done)
        shown, of = self._base[0] + done, self._base[1] + total
        if time.perf_counter() - self.t0 < SHOW_AFTER_S:
            return  # counted (batches of this stage before the bar appears add to its total), not shown
        if self._bar is None and not self._plain:
            try:
                from tqdm.auto import tqdm

                # initial: the fits finished before the bar appeared do not count in its rate
                # (else the first rate shown is thousands of times too high)
                self._bar = tqdm(total=of, initial=shown, desc=f"lawfit {self.stage_name}", unit="fit",
                                 leave=False, file=self.stream, dynamic_ncols=True)
            except ImportError:
                self._plain = True
        if self._bar is not None:
            if self._bar.total != of:
                self._bar.total = of
            self._bar.set_description(f"lawfit {self.stage_name}", refresh=False)
            self._bar.n = shown
            self._bar.refresh()
        elif self._tty:
            self.stream.write(f"\rlawfit {self.stage_name}: {shown:,}/{of:,} fits")
            self.stream.flush()
        elif time.perf_counter() - self._logged >= LOG_EVERY_S:  # a log: whole lines, now and then
            self._logged = time.perf_counter()
            self.stream.write(f"lawfit {self.stage_name}: {shown:,}/{of:,} fits\n")
            self.stream.flush()

    def close(self, line: str | None = None) -> None:
        """Remove the bar; print the summary ``line`` with the elapsed time."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._plain and self._tty and self._last[0] >= 0:
            self.stream.write("\r\033[K")
        if self.enabled and line:
            print(f"lawfit: {line} ({time.perf_counter() - self.t0:.2f} s)", file=self.stream)
