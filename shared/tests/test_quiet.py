import logging

import pytest


def test_quiet_lightning_silences_its_info_lines_and_keeps_warnings():
    pytest.importorskip("lightning.fabric")
    import lightning.fabric  # noqa: F401  (its import sets the loggers to INFO)
    from mlcraft.quiet import quiet_lightning

    banner = logging.getLogger("lightning.fabric.utilities.distributed")  # "Initializing ..."
    tips = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    assert banner.getEffectiveLevel() <= logging.INFO
    quiet_lightning()
    for logger in (banner, tips):
        assert not logger.isEnabledFor(logging.INFO) and logger.isEnabledFor(logging.WARNING)
