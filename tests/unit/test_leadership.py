"""The lease loop with a fake lease and duty: one replica acts at a time, a standby takes over
when the lease frees, an active replica that cannot confirm its lease stops acting at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from jiaodong.app.leadership import Leadership, Replica
from jiaodong.domain.errors import NotActive


class SharedLock:
    """One lease all fake replicas contend for."""

    def __init__(self) -> None:
        self.holder: FakeLease | None = None


class FakeLease:
    def __init__(self, lock: SharedLock, address: str) -> None:
        self.lock = lock
        self.address = address
        self.connected = True  # False: the lease session is gone (the server dropped it)

    async def try_acquire(self) -> bool:
        if self.lock.holder is None and self.connected:
            self.lock.holder = self
        return self.lock.holder is self

    async def alive(self) -> bool:
        return self.connected and self.lock.holder is self

    async def holder(self) -> str:
        return self.lock.holder.address if self.lock.holder else ""

    async def release(self) -> None:
        if self.lock.holder is self:
            self.lock.holder = None

    def lose(self) -> None:
        """The session died: the server frees the lock."""
        self.connected = False
        if self.lock.holder is self:
            self.lock.holder = None


class FakeDuty:
    def __init__(self, acting: set[str], name: str, fail_starts: int = 0) -> None:
        self.acting = acting
        self.name = name
        self.fail_starts = fail_starts
        self.starts = 0

    async def start(self) -> None:
        if self.fail_starts:
            self.fail_starts -= 1
            raise OSError("broker unreachable")
        assert not self.acting, f"{self.name} starts while {self.acting} act"
        self.starts += 1
        self.acting.add(self.name)

    async def stop(self) -> None:
        self.acting.discard(self.name)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def replica(
    lock: SharedLock, acting: set[str], name: str, **duty: int
) -> tuple[Leadership, FakeLease, FakeDuty]:
    lease, work = FakeLease(lock, name), FakeDuty(acting, name, **duty)
    return Leadership(lease, work, Replica(name), poll=0.01, check=0.01), lease, work


async def test_first_replica_acts_the_second_waits_then_takes_over() -> None:
    lock, acting = SharedLock(), set[str]()
    a, lease_a, _ = replica(lock, acting, "a:1")
    b, _, duty_b = replica(lock, acting, "b:2")
    assert await a.try_first() is True
    assert await b.try_first() is False
    with pytest.raises(NotActive) as refused:
        b.replica.require_active()
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        await until(lambda: b.replica.holder == "a:1")
        assert "a:1" in str(refused.value) or refused.value.active == ""
        assert acting == {"a:1"}
        lease_a.lose()  # the active one's session is gone (killed, or cut off)
        await until(lambda: acting == {"b:2"})
        assert a.replica.active is False and b.replica.active is True
        assert duty_b.starts == 1
        b.replica.require_active()
        with pytest.raises(NotActive) as again:
            a.replica.require_active()
        assert again.value.active in ("", "b:2")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert acting == set() and lock.holder is None  # stopping lets the lease go


async def test_a_replica_that_cannot_start_its_duty_lets_another_act() -> None:
    lock, acting = SharedLock(), set[str]()
    a, _, _ = replica(lock, acting, "a:1", fail_starts=100)
    b, _, _ = replica(lock, acting, "b:2")
    with pytest.raises(OSError):
        await a.try_first()
    assert lock.holder is None  # released on the failed start
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    try:
        await until(lambda: acting == {"b:2"})
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_health_follows_the_role() -> None:
    lock, acting = SharedLock(), set[str]()
    seen: list[bool] = []

    async def note(active: bool) -> None:
        seen.append(active)

    lease = FakeLease(lock, "a:1")
    leadership = Leadership(
        lease, FakeDuty(acting, "a:1"), Replica("a:1"), poll=0.01, check=0.01, on_change=note
    )
    task = asyncio.create_task(leadership.run())
    try:
        await until(lambda: seen == [True])
        lease.lose()
        await until(lambda: seen[:2] == [True, False])
        lease.connected = True  # back: it may take the lease again
        await until(lambda: seen[:3] == [True, False, True])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
