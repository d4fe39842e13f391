"""A TCP proxy that can freeze a link the way a broken network does: half-open.

``freeze()`` stops reading and forwarding on every connection open at that moment, in both
directions, and closes nothing: the client's writes fill the socket buffers and then wait, no
answer comes back, and no reset tells anyone (a NAT or firewall that dropped the flow, a broker
host that hangs). Connections made afterwards are forwarded normally, as a network that has
recovered routes a new flow while the old one stays dead; ``thaw()`` resumes the frozen ones.

It runs on whatever asyncio loop opens it: a test's own, or the fault harness's proxy thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client's side and the broker's side."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.flowing.set()

    def freeze(self) -> None:
        self.flowing.clear()
        for writer in (self.client, self.upstream):
            with contextlib.suppress(Exception):
                writer.transport.pause_reading()

    def thaw(self) -> None:
        for writer in (self.client, self.upstream):
            with contextlib.suppress(Exception):
                writer.transport.resume_reading()
        self.flowing.set()

    def abort(self) -> None:
        self.client.transport.abort()
        self.upstream.transport.abort()
        self.flowing.set()  # a pipe held by the freeze wakes up and ends on the closed socket


class FreezableProxy:
    """Forwards 127.0.0.1:``listen_port`` (0: a free one) to 127.0.0.1:``target_port``."""

    def __init__(self, target_port: int, listen_port: int = 0) -> None:
        self.target_port = target_port
        self.listen_port = listen_port
        self.server: asyncio.Server | None = None
        self.links: set[_Link] = set()
        self.pipes: set[asyncio.Task[object]] = set()
        self.accepted = 0

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.listen_port}"

    @property
    def frozen(self) -> int:
        """How many open connections are frozen now."""
        return sum(1 for link in self.links if not link.flowing.is_set())

    async def open(self) -> None:
        self.server = await asyncio.start_server(
            self._accept, LOOPBACK, self.listen_port, reuse_address=True
        )
        self.listen_port = self.server.sockets[0].getsockname()[1]

    def freeze(self) -> int:
        """Freeze every open connection; returns how many."""
        for link in self.links:
            link.freeze()
        return len(self.links)

    def thaw(self) -> None:
        for link in self.links:
            link.thaw()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for link in list(self.links):
            link.abort()
        self.links.clear()
        if self.pipes:
            await asyncio.wait(self.pipes, timeout=5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        link = _Link(writer, up_writer)
        self.links.add(link)
        pipes = {
            asyncio.create_task(self._pipe(link, reader, up_writer)),
            asyncio.create_task(self._pipe(link, up_reader, writer)),
        }
        self.pipes |= pipes
        try:
            await asyncio.wait(pipes)
        finally:
            self.links.discard(link)
            self.pipes -= pipes

    @staticmethod
    async def _pipe(
        link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                await link.flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await link.flowing.wait()  # frozen while reading: hold what was read
                writer.write(data)
                await writer.drain()
        except (OSError, RuntimeError):
            pass
        finally:
            link.abort()
