"""Many screens, one count: requests share a computation that started after they arrived."""

from __future__ import annotations

import asyncio

from jiaodong.api.web.coalesce import Coalesced


async def test_requests_share_one_computation_that_started_after_they_arrived() -> None:
    shared: Coalesced[int] = Coalesced()
    started: list[int] = []
    release = asyncio.Event()

    async def count() -> int:
        started.append(len(started) + 1)
        n = len(started)
        await release.wait()
        return n

    first = [asyncio.create_task(shared.get("region", count)) for _ in range(5)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert started == [1]  # five screens, one computation
    # Arriving while it runs: they wait for the next one (the running one may predate them).
    later = [asyncio.create_task(shared.get("region", count)) for _ in range(5)]
    other = asyncio.create_task(shared.get("weihai", count))  # another key: its own
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*first) == [1] * 5
    results = await asyncio.gather(*later)
    assert len(set(results)) == 1 and results[0] > 1
    assert await other > 0
    assert len(started) == 3


async def test_a_failure_reaches_its_callers_only_and_the_next_one_runs() -> None:
    shared: Coalesced[int] = Coalesced()
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database gone")
        return calls

    try:
        await shared.get("k", flaky)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the failure was swallowed")
    assert await shared.get("k", flaky) == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    shared: Coalesced[str] = Coalesced()
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "figures"

    leaving = asyncio.create_task(shared.get("k", slow))
    staying = asyncio.create_task(shared.get("k", slow))
    await asyncio.sleep(0)
    leaving.cancel()
    release.set()
    assert await staying == "figures"
