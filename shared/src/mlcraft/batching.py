"""Server-side micro-batching: requests that arrive within a few milliseconds share one model call.

A model's cost per call has a large fixed part (Python, framework dispatch, thread start-up), so
32 concurrent one-row requests answered by one 32-row call can be much cheaper than 32 calls. The
first request of a batch waits at most `wait_s` for company; a batch never exceeds `max_rows`.
"""

import asyncio
from collections.abc import Callable
from typing import Any

from mlcraft.errors import UserInputError

Rows = list[dict[str, Any]]


class MicroBatcher:
    def __init__(self, predict: Callable[[Rows], Rows], wait_s: float, max_rows: int):
        self.predict = predict
        self.wait_s = wait_s
        self.max_rows = max_rows
        self.queue: asyncio.Queue[tuple[Rows, asyncio.Future]] | None = None
        self.batches = 0  # model calls made, for tests and metrics

    async def submit(self, rows: Rows) -> Rows:
        if self.queue is None:  # created inside the server's event loop, on first use
            self.queue = asyncio.Queue()
            asyncio.get_running_loop().create_task(self._serve_forever())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((rows, future))
        return await future

    async def _serve_forever(self) -> None:
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0][0])
            deadline = asyncio.get_running_loop().time() + self.wait_s
            while size < self.max_rows:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
                batch.append(item)
                size += len(item[0])
            await self._answer(batch)

    async def _answer(self, batch: list[tuple[Rows, asyncio.Future]]) -> None:
        rows = [row for request, _ in batch for row in request]
        self.batches += 1
        try:
            outputs = await asyncio.to_thread(self.predict, rows)
        except UserInputError:
            # one request's bad value must not fail its neighbours: answer each on its own
            for request, future in batch:
                await self._answer_one(request, future)
            return
        except Exception as exc:  # noqa: BLE001 - a bug: every waiting request gets it (500)
            for _, future in batch:
                future.set_exception(exc)
            return
        start = 0
        for request, future in batch:
            future.set_result(outputs[start : start + len(request)])
            start += len(request)

    async def _answer_one(self, request: Rows, future: asyncio.Future) -> None:
        try:
            future.set_result(await asyncio.to_thread(self.predict, request))
        except Exception as exc:  # noqa: BLE001 - handed to the request that caused it
            future.set_exception(exc)
