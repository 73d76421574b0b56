"""text_classifier."""

from pathlib import Path

_SOURCE = Path(__file__).resolve().parents[2]
# The project folder (configs/, results/, README.md): the source checkout, or for an installed
# package (the container image) the working directory, which holds configs/ there.
PROJECT_DIR = _SOURCE if (_SOURCE / "configs").is_dir() else Path.cwd()
