"""A shared entry wrapper: bad input becomes one clear line on stderr and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

from mlcraft.errors import UserInputError


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    try:
        return int(main(argv) or 0)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
