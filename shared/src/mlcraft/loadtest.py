"""A load test with a real HTTP client against a real server process.

`python -m <project> loadtest --model RUN` starts `<project> serve` as a subprocess (one uvicorn
worker), sends one-row /predict requests from `concurrency` concurrent clients, and reports
requests/s and p50/p95/p99 latency per concurrency level, with micro-batching off and on. The
client runs on the same machine as the server, so on a small machine they share its cores: the
table records how many there were.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlcraft.errors import UserInputError

WARMUP_REQUESTS = 20


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (in use or an unknown host: no)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _load(url: str, bodies: Sequence[bytes], concurrency: int, total: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    sent = 0
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors, sent
        while sent < total:
            body = bodies[sent % len(bodies)]
            sent += 1
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
                failed = response.status_code != 200
            except httpx.TransportError:  # the server dropped the connection: count, go on
                failed = True
            latencies.append(time.perf_counter() - started)
            errors += failed

    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    p50, p95, p99 = np.percentile(np.array(latencies) * 1000, [50, 95, 99])
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
    }


def measure(url: str, bodies: Sequence[bytes], concurrency: int, total: int) -> dict[str, Any]:
    """`total` POSTs of `bodies` (cycled) from `concurrency` concurrent clients."""
    asyncio.run(_load(url, bodies[:WARMUP_REQUESTS], min(concurrency, 4), WARMUP_REQUESTS))
    return asyncio.run(_load(url, bodies, concurrency, total))


def start_server(module: str, model_run: str, port: int, batch_ms: float) -> subprocess.Popen:
    command = [sys.executable, "-m", module, "serve", "--model", model_run, "--port", str(port),
               "--batch-ms", str(batch_ms)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_until_healthy(server, f"http://127.0.0.1:{port}/health")
    return server


def wait_until_healthy(server: subprocess.Popen, url: str, timeout_s: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            message = server.stderr.read().decode(errors="replace").strip().splitlines()
            raise UserInputError(f"serve exited with {server.returncode}: {message[-1:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise UserInputError(f"serve did not answer {url} within {timeout_s:.0f} s")


def run_loadtest(
    module: str,
    model_run: str,
    rows: Sequence[dict[str, Any]],
    levels: Sequence[int],
    total: int,
    batch_settings: Sequence[float],
) -> list[dict[str, Any]]:
    """One server per batch setting; every concurrency level against it; one row per pair."""
    bodies = [json.dumps({"rows": [row]}).encode() for row in rows]
    table = []
    for batch_ms in batch_settings:
        port = free_port()
        server = start_server(module, model_run, port, batch_ms)
        try:
            for level in levels:
                result = measure(f"http://127.0.0.1:{port}/predict", bodies, level, total)
                table.append({"batch_ms": batch_ms, **result, "cpu_count": os.cpu_count()})
                print(json.dumps(table[-1]))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return table


def write_report(folder: Path, table: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """loadtest.csv/.md and loadtest.json (hardware, model run, the batching verdict)."""
    import pandas as pd

    from mlcraft.files import atomic_write_json
    from mlcraft.reporting import write_table

    frame = pd.DataFrame(table)
    write_table(folder, "loadtest", frame, digits=1)
    top = frame["concurrency"].max()
    at_top = frame[frame["concurrency"] == top].set_index("batch_ms")["requests_per_s"]
    gain = float(at_top.max() / at_top.get(0.0, np.nan)) if 0.0 in at_top.index else None
    atomic_write_json(
        folder / "loadtest.json",
        {**meta, "rows": table, "top_concurrency": int(top), "batching_speedup_at_top": gain},
    )


BATCHING_TARGET = 2.0  # micro-batching is worth its latency only if it at least doubles throughput


def published_block(results: Path) -> str | None:
    """The README/docs text for a published load test (results/serve/), or None when there is
    none: which model and machine, the table, and the micro-batching verdict at the top level."""
    from mlcraft.reporting import markdown_table

    meta_path = results / "serve" / "loadtest.json"
    if not meta_path.is_file():
        return None
    import pandas as pd

    meta = json.loads(meta_path.read_text())
    frame = pd.DataFrame(meta["rows"])
    columns = [
        "batch_ms",
        "concurrency",
        "requests",
        "errors",
        "requests_per_s",
        "p50_ms",
        "p95_ms",
        "p99_ms",
    ]
    hardware = meta.get("hardware") or {}
    text = (
        f"Model run {meta['model_run']} (git {str(meta.get('git_sha'))[:7]}), one uvicorn worker "
        f"and the client on the same {hardware.get('cpu_count', '?')} cores "
        f"({hardware.get('cpu_model', 'unknown CPU')}), {meta.get('rows_per_request', 1)} row per request."
    )
    gain = meta.get("batching_speedup_at_top")
    if gain is not None:
        top = frame[frame["concurrency"] == meta["top_concurrency"]]
        on = top[top["batch_ms"] > 0].sort_values("requests_per_s").iloc[-1]
        verdict = "met" if gain >= BATCHING_TARGET else "missed"
        text += (
            f" At concurrency {meta['top_concurrency']}, micro-batching ({on['batch_ms']:g} ms) "
            f"gives **{gain:.1f}x** the requests/s of one request at a time (target "
            f">= {BATCHING_TARGET:g}x: {verdict}), at p50 {on['p50_ms']:.0f} ms."
        )
    return text + "\n\n" + markdown_table(frame[columns], digits=1)
