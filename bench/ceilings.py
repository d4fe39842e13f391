"""The ceilings that ``bench.layout`` measures the running layout against, each a small process of
its own (so none shares an interpreter lock with the load generator):

* ``echo``: a bare grpc.aio server over the node's mutual-TLS certificate, whose
  ``CourtNodeService/CreateDelegation`` answers at once and does nothing else;
* ``minimal``: the same server whose ``CreateDelegation`` does the least a durable create needs:
  one SQLite insert committed (WAL, ``synchronous=FULL``) on a single database thread, then one
  JetStream publish with ``Nats-Msg-Id`` whose ack is awaited before answering;
* ``stage``: one hop of the minimal chain: consume from a durable pull consumer, commit one SQLite
  row, publish to the next hop (``mid``) or report the arrival on core NATS (``end``), then ack;
* ``origin``: the chain's first hop, offered open loop: at ``--rate`` per second for
  ``--seconds``, commit one row, then publish it (its commit stands for the create's answer).

They connect to the layout's own secured nats-server as the bench user (the auditor's certificate,
mapped to a user that may touch only the BENCHMIN and BENCHCHAIN streams; ``bench.layout`` adds it
to the broker's configuration). Run by ``bench.layout``; not meant to be started by hand:
``python -m bench.ceilings echo|minimal|stage|origin --pki DIR [--nats URL --db FILE ...]``.
A server prints ``READY <port>`` (a stage ``READY``) on stdout once it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sqlite3
import struct
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import nats
from nats.js.api import StorageType, StreamConfig

from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.security.certs import files_for
from jiaodong.security.grpc_auth import server_credentials
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as api_grpc
from jiaodong.v1 import delegation_pb2 as pb

# The bench user on the layout's broker: the auditor's certificate (no service uses it on the
# bus), its own inbox prefix, and two streams of its own.
BENCH_IDENTITY = Identity(Role.AUDITOR, REGION)
BENCH_INBOX = "_INBOX_bench"
MIN_STREAM = "BENCHMIN"
CHAIN_STREAM = "BENCHCHAIN"
CHAIN_SUBJECTS = {"mid": "bench.chain.a", "end": "bench.chain.b"}
DONE_SUBJECT = "bench.done"
# The node whose certificate the gRPC ceilings present (the layout's node under test).
SERVER_IDENTITY = Identity(Role.NODE, "node-qingdao")
# t0 of the origin (CLOCK_MONOTONIC, shared by every process of the machine) travels in front of
# the payload; the rest is about the size of a delegation's content.
T0 = struct.Struct("!d")
PAYLOAD = b"x" * 600


def bench_user_block(pki: Path) -> str:
    """The broker's user entry for the bench (inserted into the layout's secured configuration):
    it may create and use its two streams and their consumers, publish below ``bench.``, and
    subscribe only to its inbox and to ``bench.done``."""
    publish = [
        "bench.>",
        "$JS.API.INFO",
        f"$JS.API.STREAM.*.{MIN_STREAM}",
        f"$JS.API.STREAM.*.{CHAIN_STREAM}",
        f"$JS.API.CONSUMER.*.{CHAIN_STREAM}.>",
        f"$JS.API.CONSUMER.*.*.{CHAIN_STREAM}.>",
        f"$JS.ACK.{CHAIN_STREAM}.>",
    ]
    subscribe = [f"{BENCH_INBOX}.>", f"{DONE_SUBJECT}.>"]

    def listing(values: list[str]) -> str:
        return "[" + ", ".join(json.dumps(v) for v in values) + "]"

    return (
        "    {\n"
        f"      user: {json.dumps(BENCH_IDENTITY.uri)}\n"
        "      permissions: {\n"
        f"        publish: {{ allow: {listing(publish)} }}\n"
        f"        subscribe: {{ allow: {listing(subscribe)} }}\n"
        "      }\n"
        "    }\n"
    )


async def connect_bench(url: str, pki: Path, name: str) -> Any:
    """A NATS connection as the bench user (TLS with the auditor's certificate)."""
    import ssl

    tls = files_for(pki, BENCH_IDENTITY)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca))
    context.load_cert_chain(str(tls.cert), str(tls.key))
    return await nats.connect(
        url, name=name, tls=context, inbox_prefix=BENCH_INBOX, connect_timeout=5
    )


class Store:
    """One SQLite file, WAL and ``synchronous=FULL`` as the services run theirs, written on one
    thread (as the services do: every transaction of a service runs on its database thread)."""

    def __init__(self, path: Path) -> None:
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def _open(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS item (id TEXT PRIMARY KEY, payload BLOB NOT NULL, "
            "at REAL NOT NULL)"
        )

    def _insert(self, item_id: str, payload: bytes) -> None:
        assert self.conn is not None
        self.conn.execute("BEGIN")
        self.conn.execute(
            "INSERT INTO item (id, payload, at) VALUES (?, ?, ?)", (item_id, payload, time.time())
        )
        self.conn.execute("COMMIT")

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.thread, self._open)

    async def insert(self, item_id: str, payload: bytes) -> None:
        """Insert one row and commit (on disk when this returns)."""
        await asyncio.get_running_loop().run_in_executor(
            self.thread, self._insert, item_id, payload
        )


async def ensure_stream(js: Any, name: str, subjects: list[str]) -> None:
    config = StreamConfig(
        name=name, subjects=subjects, storage=StorageType.FILE, max_msgs=1_000_000
    )
    try:
        await js.add_stream(config)
    except Exception:  # noqa: BLE001 - it exists (another stage made it): use it as it is
        await js.stream_info(name)


def _until_signalled() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


# -- the gRPC ceilings ------------------------------------------------------------------------


class Echo(api_grpc.CourtNodeServiceServicer):
    async def CreateDelegation(
        self, request: api.CreateDelegationRequest, context: Any
    ) -> api.CreateDelegationResponse:
        return api.CreateDelegationResponse(created=True)


class Minimal(api_grpc.CourtNodeServiceServicer):
    def __init__(self, store: Store, js: Any) -> None:
        self.store = store
        self.js = js

    async def CreateDelegation(
        self, request: api.CreateDelegationRequest, context: Any
    ) -> api.CreateDelegationResponse:
        delegation_id = uuid.uuid4().hex
        payload = request.SerializeToString()
        await self.store.insert(delegation_id, payload)
        await self.js.publish(
            "bench.min.created", payload, headers={"Nats-Msg-Id": delegation_id}, timeout=5
        )
        return api.CreateDelegationResponse(
            delegation=pb.Delegation(id=delegation_id, request_id=request.request_id),
            created=True,
        )


async def serve(args: argparse.Namespace) -> None:
    servicer: api_grpc.CourtNodeServiceServicer
    nc = None
    if args.role == "minimal":
        store = Store(Path(args.db))
        await store.open()
        nc = await connect_bench(args.nats, Path(args.pki), "bench-minimal")
        js = nc.jetstream()
        await ensure_stream(js, MIN_STREAM, ["bench.min.>"])
        servicer = Minimal(store, js)
    else:
        servicer = Echo()
    # The same server options and credentials as a node's (jiaodong.bootstrap.create_server),
    # without the security gate, health, reflection or anything behind the handler.
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)])
    api_grpc.add_CourtNodeServiceServicer_to_server(servicer, server)
    port = server.add_secure_port(
        "127.0.0.1:0", server_credentials(files_for(Path(args.pki), SERVER_IDENTITY))
    )
    await server.start()
    stop = _until_signalled()
    print(f"READY {port}", flush=True)
    await stop.wait()
    await server.stop(0.5)
    if nc is not None:
        await nc.close()


# -- the minimal chain ------------------------------------------------------------------------


async def stage(args: argparse.Namespace) -> None:
    """Consume, commit, then publish onwards (mid) or report the arrival (end), then ack."""
    store = Store(Path(args.db))
    await store.open()
    nc = await connect_bench(args.nats, Path(args.pki), f"bench-{args.hop}")
    js = nc.jetstream()
    await ensure_stream(js, CHAIN_STREAM, ["bench.chain.>"])
    sub = await js.pull_subscribe(CHAIN_SUBJECTS[args.hop], durable=args.hop, stream=CHAIN_STREAM)
    stop = _until_signalled()
    print("READY", flush=True)
    while not stop.is_set():
        try:
            msgs = await sub.fetch(batch=64, timeout=0.25)  # as the services' consumers
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        for msg in msgs:
            item_id = (msg.headers or {}).get("Nats-Msg-Id", "").removeprefix("b:")
            await store.insert(item_id, msg.data)
            if args.hop == "mid":
                await js.publish(
                    CHAIN_SUBJECTS["end"], msg.data, headers={"Nats-Msg-Id": f"b:{item_id}"}
                )
            else:
                arrived = time.monotonic()
                (t0,) = T0.unpack_from(msg.data)
                await nc.publish(
                    f"{DONE_SUBJECT}.{item_id.split('-')[0]}",
                    json.dumps([item_id, t0, arrived]).encode(),
                )
            await msg.ack()
    await nc.drain()


async def origin(args: argparse.Namespace) -> None:
    """Open loop: item i is due at start + i/rate; each commits one row, then publishes it."""
    store = Store(Path(args.db))
    await store.open()
    nc = await connect_bench(args.nats, Path(args.pki), "bench-origin")
    js = nc.jetstream()
    total = int(args.rate * args.seconds)
    errors = 0
    skipped = 0
    inflight: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        nonlocal errors
        item_id = f"{args.run}-{i}"
        try:
            await store.insert(item_id, PAYLOAD)
            data = T0.pack(time.monotonic()) + PAYLOAD
            await js.publish(CHAIN_SUBJECTS["mid"], data, headers={"Nats-Msg-Id": item_id})
        except Exception:  # noqa: BLE001 - counted: the report says how many failed
            errors += 1

    start = time.monotonic()
    for i in range(total):
        delay = start + i / args.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(inflight) >= args.max_inflight:
            skipped += 1
            continue
        task = asyncio.create_task(one(i))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    load_end = start + total / args.rate
    if inflight:
        await asyncio.wait(inflight, timeout=60)
    await nc.close()
    times = os.times()
    print(
        json.dumps(
            {
                "offered": total,
                "errors": errors,
                "skipped": skipped,
                "start": start,
                "load_end": load_end,
                "cpu_s": times.user + times.system,
            }
        ),
        flush=True,
    )


def main() -> None:
    # asyncio warns when this client closes a TLS connection to NATS ("returning true from
    # eof_received() has no effect when using ssl"): noise on the benchmark's output.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["echo", "minimal", "stage", "origin"])
    parser.add_argument("--pki", required=True)
    parser.add_argument("--nats", default="")
    parser.add_argument("--db", default="")
    parser.add_argument("--hop", choices=["mid", "end"], default="mid")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--run", default="r0")
    parser.add_argument("--max-inflight", type=int, default=1024)
    args = parser.parse_args()
    if args.role in ("echo", "minimal"):
        asyncio.run(serve(args))
    elif args.role == "stage":
        asyncio.run(stage(args))
    else:
        asyncio.run(origin(args))


if __name__ == "__main__":
    main()
