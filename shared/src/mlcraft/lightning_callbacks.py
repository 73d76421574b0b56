"""Lightning callbacks built on mlcraft.profiling (needs mlcraft[torch])."""

from __future__ import annotations

import time

import lightning.pytorch as pl

from mlcraft.profiling import StepTimer, _default_size, _sync


class StepTimerCallback(pl.Callback):
    """Splits each training step into data wait (end of last step to start of this one) and compute.
    skip_first: untimed warm-up steps, as StepTimer's (the trainer's max_steps must include them)."""

    def __init__(self, skip_first: int = 0) -> None:
        self.timer = StepTimer(skip_first=skip_first)
        self._mark = None
        self._batch_start = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._mark = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        _sync()
        now = time.perf_counter()
        self.timer.record(
            self._batch_start - self._mark, now - self._batch_start, _default_size(batch)
        )
        self._mark = now
