"""Quiet logs: third-party info lines and notices a run's log does not need; progress bars and
real warnings stay."""

from __future__ import annotations

import logging
import warnings


def quiet_lightning() -> None:
    """Lightning's info lines off: the litlogger tip, "GPU available", "was configured so", and
    the DDP start-up banner ("Initializing distributed: GLOBAL_RANK ...", "All distributed
    processes registered"). Lightning sets its two root loggers to INFO when imported; WARNING
    on them keeps warnings. Spawned DDP workers inherit the levels (fork) or, started by a
    launcher script, call this again through the same training code."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Lightning 2.x builds torch's deprecated LeafSpec when it flattens a DataLoader (inside
    # CombinedLoader); nothing in the projects' calls can avoid it, so only that notice goes.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
