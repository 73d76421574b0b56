"""The containers' HEALTHCHECK: `python -m mlcraft.healthcheck` (exit 0 healthy, 1 not).

One image runs every verb of a project's CLI, and only `serve` has a server to ask. So the check
reads the container's command (PID 1's arguments, `python -m <project> <verb> ...`, behind
`docker run --init`'s tini too): a serve is healthy while its /health answers 200; any other verb
(train, evaluate, ...) has nothing to ask and is healthy while it runs.
"""

import argparse
import sys
from pathlib import Path

from mlcraft.cli import DEFAULT_PORT

TIMEOUT_S = 5


def health_url(argv: list[str]) -> str | None:
    """The /health URL of `... -m <project> serve [--host H] [--port P] ...`; None for any other
    command."""
    if "-m" not in argv:  # not `python -m ...`: not this image's entrypoint
        return None
    verb = argv[argv.index("-m") + 2 :]  # past `-m <project>`: the verb and its flags
    if verb[:1] != ["serve"]:
        return None
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    known, _ = parser.parse_known_args(verb[1:])
    # a server on every interface answers on loopback too
    host = "127.0.0.1" if known.host in ("0.0.0.0", "::") else known.host
    return f"http://{f'[{host}]' if ':' in host else host}:{known.port}/health"


def healthy(url: str) -> bool:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url, timeout=TIMEOUT_S) as response:
            return response.status == 200
    except OSError as exc:  # refused, timed out, or an error status
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return False


def main(cmdline: Path = Path("/proc/1/cmdline")) -> int:
    argv = cmdline.read_bytes().decode(errors="replace").split("\0")
    url = health_url(argv)
    return 0 if url is None or healthy(url) else 1


if __name__ == "__main__":
    sys.exit(main())
