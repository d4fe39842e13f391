"""What flows while a scenario runs, measured by the harness itself once a second:

* **consumer lag**: ``num_pending`` of every durable consumer on the harness's broker (every
  stream it holds, so a stream added later is counted too), read through the JetStream API by a
  client of the harness's own (the harness's broker has no users: any client may ask);
* **outbox age**: per service, how long the oldest unpublished outbox row has waited, read from the
  service's SQLite file opened read-only (its time is the service's virtual clock, less any move
  of that clock since the row was written).

Nothing here asks the services: a service that is stalled cannot under-report its own lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nats
from nats.aio.client import Client

from tests.faults.harness import FaultLayout, real_age

SAMPLE_SECONDS = 1.0
ASK_TIMEOUT = 2.0


def oldest_unpublished(db: Path) -> datetime | None:
    """The creation time of the oldest unpublished outbox row, or None (read-only, no lock)."""
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
    try:
        row = conn.execute(
            "SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1"
        ).fetchone()
    except sqlite3.Error:
        return None  # not created yet, or busy past the timeout: no sample this second
    finally:
        conn.close()
    if row is None or row[0] is None:
        return None
    created = datetime.fromisoformat(str(row[0]))
    return created if created.tzinfo else created.replace(tzinfo=UTC)


@dataclass
class FlowMonitor:
    """Samples lag and outbox ages every second until stopped; keeps the maxima."""

    layout: FaultLayout
    max_lag: int = 0
    max_lag_where: str = ""
    max_outbox_age: float = 0.0
    max_outbox_where: str = ""
    last_lag: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    lag_samples: int = 0
    _nc: Client | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> FlowMonitor:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        """Bounded: nats-py can swallow a cancellation (its reconnect and close paths), and an
        unbounded wait for the cancelled sampler or for close() once left a CI run's
        standby-takeover row idle until pytest's timeout. What does not end in time is left."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)
            self._task = None
        if self._nc is not None:
            closing = asyncio.ensure_future(self._nc.close())
            await asyncio.wait({closing}, timeout=5)
            if closing.done() and not closing.cancelled():
                closing.exception()  # retrieved: a failed close is nothing to report here
            self._nc = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            with contextlib.suppress(Exception):
                await self.sample()
            await asyncio.sleep(max(0.05, SAMPLE_SECONDS - (time.monotonic() - started)))

    async def sample(self) -> None:
        self.samples += 1
        lag = await self.lag()
        if lag is not None:
            self.lag_samples += 1
            self.last_lag = lag
            for consumer, pending in lag.items():
                if pending > self.max_lag:
                    self.max_lag, self.max_lag_where = pending, consumer
        for service, age in (await asyncio.to_thread(self.outbox_ages)).items():
            if age > self.max_outbox_age:
                self.max_outbox_age, self.max_outbox_where = age, service

    async def lag(self) -> dict[str, int] | None:
        """``num_pending`` per durable consumer ("stream/consumer"), or None if the broker did
        not answer (stopped, or restarting)."""
        try:
            if self._nc is None or self._nc.is_closed:
                self._nc = await nats.connect(
                    servers=self.layout.nats_url.split(","),
                    connect_timeout=ASK_TIMEOUT,
                    # No reconnect loop of nats-py's own (it runs on in the background and
                    # can swallow a cancellation): a closed client is connected anew at the
                    # next sample.
                    allow_reconnect=False,
                )
            js = self._nc.jetstream(timeout=ASK_TIMEOUT)
            out: dict[str, int] = {}
            for stream in await js.streams_info():
                name = stream.config.name
                if not name or name == "JD_PROBE":
                    continue
                for info in await js.consumers_info(name):
                    out[f"{name}/{info.name}"] = info.num_pending or 0
            return out
        except (OSError, nats.errors.Error):  # TimeoutError is an OSError
            return None

    def outbox_ages(self) -> dict[str, float]:
        out = {}
        for service in self.layout.service_names():
            created = oldest_unpublished(self.layout.db_path(service))
            if created is not None:
                out[service] = max(0.0, real_age(self.layout, created))
        return out

    async def drained(self, timeout: float) -> dict[str, int]:
        """Wait (bounded) until every consumer's lag is zero; returns the last lag read (the
        consumers still behind, empty if drained). The broker must answer: no answer is not
        zero."""
        deadline = time.monotonic() + timeout
        while True:
            lag = await self.lag()
            behind = {k: v for k, v in (lag or {"no answer from the broker": -1}).items() if v}
            if not behind or time.monotonic() > deadline:
                return behind
            await asyncio.sleep(SAMPLE_SECONDS)
