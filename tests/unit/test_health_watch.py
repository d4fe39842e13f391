"""HealthWatch without sockets: what it sets, and that it says why once per change."""

from __future__ import annotations

from typing import Any

import pytest

from jiaodong import health as health_module
from jiaodong.health import NOT_SERVING, SERVING, HealthWatch

SERVICE = "jiaodong.v1.CoordinatorService"


class Servicer:
    """What the grpc_health servicer was told, by service name."""

    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        self.calls = 0

    async def set(self, name: str, status: int) -> None:
        self.status[name] = status
        self.calls += 1


class Said:
    """Stands in for the module's logger: what was logged, event and fields."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})

    warning = error = info


@pytest.fixture(autouse=True)
def said(monkeypatch: pytest.MonkeyPatch) -> Said:
    recorder = Said()
    monkeypatch.setattr(health_module, "log", recorder)
    return recorder


class Deps:
    def __init__(self) -> None:
        self.database_up = True
        self.link: str | None = None
        self.active = True

    async def database(self) -> bool:
        if not self.database_up:
            raise ConnectionError("refused")
        return True


def watch(deps: Deps, servicer: Servicer) -> HealthWatch:
    return HealthWatch(
        "coordinator",
        servicer,
        deps.database,
        lambda: (lambda: deps.link) if deps.active else None,
        services=("",),
        acting=(SERVICE,),
        active=lambda: deps.active,
    )


async def test_serving_only_while_the_database_and_the_link_are_fine(said: Said) -> None:
    deps, servicer = Deps(), Servicer()
    health = watch(deps, servicer)
    await health.refresh()
    assert servicer.status == {"": SERVING, SERVICE: SERVING}
    assert health.readiness() == (True, "")

    deps.link = "NATS link down (reconnecting)"
    said.lines.clear()
    for _ in range(3):
        await health.refresh()
    assert servicer.status == {"": NOT_SERVING, SERVICE: NOT_SERVING}
    assert health.readiness() == (False, "NATS link down (reconnecting)")
    # Said once, not at every look; and the statuses are set once per change.
    assert [e["event"] for e in said.lines] == ["health_not_serving"]
    assert servicer.calls == 4

    deps.link, deps.database_up = None, False
    await health.refresh()
    assert health.readiness() == (False, "database: ConnectionError")

    deps.database_up = True
    said.lines.clear()
    await health.refresh()
    assert servicer.status == {"": SERVING, SERVICE: SERVING}
    assert [(e["event"], e["was"]) for e in said.lines] == [
        ("health_serving", "database: ConnectionError")
    ]


async def test_a_standby_is_healthy_without_a_link_but_does_not_serve_the_service() -> None:
    deps, servicer = Deps(), Servicer()
    deps.active, deps.link = False, "NATS link down (reconnecting)"  # not asked on a standby
    health = watch(deps, servicer)
    await health.refresh()
    assert servicer.status == {"": SERVING, SERVICE: NOT_SERVING}


async def test_not_serving_while_starting() -> None:
    deps, servicer = Deps(), Servicer()
    health = watch(deps, servicer)
    health.starting = True
    await health.refresh()
    assert servicer.status == {"": NOT_SERVING, SERVICE: NOT_SERVING}
    health.starting = False
    await health.refresh()
    assert servicer.status == {"": SERVING, SERVICE: SERVING}


async def test_stepping_down_and_stopping_ask_nothing() -> None:
    """A coordinator stepping down says so at once from the last look, without asking the
    database (it may be closing); once the service stops, no look is taken at all."""
    deps, servicer = Deps(), Servicer()
    w = watch(deps, servicer)
    await w.refresh()
    assert servicer.status[SERVICE] == SERVING
    asked: list[bool] = []

    async def closing_database() -> bool:
        asked.append(True)
        raise RuntimeError("cannot schedule new futures after shutdown")

    w.database = closing_database
    deps.active = False
    await w.apply()
    assert servicer.status[SERVICE] == NOT_SERVING
    assert servicer.status[""] == SERVING  # the last look said the process is healthy
    w.closed = True
    await w.refresh()
    assert asked == []
    assert w.ready and w.reason == ""
