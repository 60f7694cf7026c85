"""A fake clock for the poller, rate-limiter and retry tests: time moves only when someone sleeps."""

from __future__ import annotations

import asyncio


class FakeTime:
    """A monotonic clock and a sleep that advances it at once; no test waits in real time.

    ``slept`` lists every delay asked for, in order. Each sleep yields to the event loop once, as a
    real one does, so other tasks run in between.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.now += max(0.0, delay)
        await asyncio.sleep(0)
