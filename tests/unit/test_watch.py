"""The broadcaster: who hears of what, and whether anyone does (pure, in one event loop)."""

from __future__ import annotations

import asyncio

from jiaodong.app.watch import Broadcaster, Change
from jiaodong.v1 import delegation_pb2 as pb


def change(requesting: str, entrusted: str = "") -> Change:
    return Change(pb.Delegation(requesting_court=requesting, entrusted_court=entrusted), None)


async def test_wants_only_the_courts_someone_watches() -> None:
    hub = Broadcaster()
    assert not hub.wants(["370202", "370602"]), "nobody watches: build nothing"
    heard: list[Change] = []

    async def watch(courts: list[str] | None) -> None:
        async for item in hub.watch(lambda c: True, courts=courts):
            heard.append(item)

    task = asyncio.create_task(watch(["370602"]))
    for _ in range(100):  # the generator registers when first iterated
        if hub.watchers:
            break
        await asyncio.sleep(0)
    assert hub.watchers == 1
    assert hub.wants(["370202", "370602"]) and hub.wants(["370602", ""])
    assert not hub.wants(["370202", "371002"]) and not hub.wants(["", ""])
    hub.publish([change("370202", "370602")])
    for _ in range(100):
        if heard:
            break
        await asyncio.sleep(0)
    assert [c.delegation.entrusted_court for c in heard] == ["370602"]
    hub.close()
    await asyncio.wait_for(task, 5)
    assert hub.watchers == 0 and not hub.wants(["370602"])


async def test_a_watcher_of_everything_wants_every_delegation() -> None:
    hub = Broadcaster()

    async def drain() -> None:
        async for _ in hub.watch(lambda c: True):
            pass

    task = asyncio.create_task(drain())
    for _ in range(100):
        if hub.watchers:
            break
        await asyncio.sleep(0)
    assert hub.wants(["370202"]) and hub.wants(["", ""])
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not hub.wants(["370202"]), "a watcher that left is forgotten"
