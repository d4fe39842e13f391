"""What security costs: a call through mutual TLS and the security gate against the same call in
plaintext through the same gate (identity fixed), a new TLS connection per call, the recorded read
of GetDelegation, and a document's trip (upload, bus, whole-file checks) from Qingdao to Yantai.

``python -m bench.security [--json]`` (part of ``make bench``). A coordinator and two nodes run in
this process on an embedded nats-server; numbers are medians (and p95) in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from jiaodong.api.node import CourtNodeServicer
from jiaodong.bootstrap import start_coordinator, start_node
from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.config import Settings
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.files.registry import load_registry
from jiaodong.logs import configure
from jiaodong.security import grpc_auth
from jiaodong.security.certs import init_pki
from jiaodong.security.grpc_auth import SecurityInterceptor, aio_channel
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc
from jiaodong.v1 import delegation_pb2 as pb

QD, YT = "370202", "370602"
OFFICER = Identity(Role.OFFICER, QD)


class PlainGate(SecurityInterceptor):
    """The same gate without TLS: the identity is fixed (bench only, to isolate TLS's cost)."""

    def __init__(self, identity: Identity, hosted: list[str]) -> None:
        super().__init__(hosted)
        self.identity = identity

    async def _admit(self, method: str, context: Any) -> Any:
        original = grpc_auth.identity_from_context
        grpc_auth.identity_from_context = lambda _ctx: self.identity  # type: ignore[assignment]
        try:
            return await super()._admit(method, context)
        finally:
            grpc_auth.identity_from_context = original


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3),
        "n": len(ordered),
    }


async def timed(n: int, call: Any) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t) * 1000)
    return out


def create_request(documents: list[pb.Document] | None = None) -> api.CreateDelegationRequest:
    return api.CreateDelegationRequest(
        request_id=os.urandom(8).hex(),
        case_number="(2024)鲁0202执123号",
        target=pb.Target(city="yantai", district="芝罘区"),
        task_type=pb.TASK_TYPE_SEIZURE,
        asset_kind=pb.ASSET_KIND_VEHICLE,
        # The resident-ID standard's published test vector (RULES.md), not a person; never logged.
        debtor=pb.Party(person=pb.Person(name="张三", resident_id="34052419800101001X")),
        place=pb.Place(address="芝罘区南大街1号", district="芝罘区"),
        requested_actions="扣押被执行人名下车辆",
        plate="鲁F12345",
        documents=documents or [],
    )


async def run(calls: int, doc_mib: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pki = root / "pki"
        init_pki(pki, load_registry(None))
        nats = EmbeddedNats(root / "nats").start()
        settings = Settings(
            data_dir=root / "data", nats_url=nats.url, tls_dir=pki, rate_limit=1e6, rate_burst=1e6
        )
        coordinator = await start_coordinator(settings)
        qingdao = await start_node(settings, "qingdao")
        yantai = await start_node(settings, "yantai")
        plain = grpc.aio.server(interceptors=[PlainGate(OFFICER, sorted(qingdao.service.courts))])
        ngrpc.add_CourtNodeServiceServicer_to_server(CourtNodeServicer(qingdao.service), plain)
        plain_port = plain.add_insecure_port("127.0.0.1:0")
        await plain.start()
        channels: list[grpc.aio.Channel] = []
        try:
            secure = aio_channel(qingdao.address, settings.tls_for(OFFICER))
            insecure = grpc.aio.insecure_channel(f"127.0.0.1:{plain_port}")
            channels += [secure, insecure]
            node, node_plain = (
                ngrpc.CourtNodeServiceStub(secure),
                ngrpc.CourtNodeServiceStub(insecure),
            )
            d = (await node.CreateDelegation(create_request())).delegation.id
            get = api.GetDelegationRequest(id=d)
            listing = api.ListDelegationsRequest(page_size=1)
            for stub in (node, node_plain):  # warm both
                await timed(20, lambda s=stub: s.GetDelegation(get))
            results: dict[str, Any] = {
                "get_mtls": summary(await timed(calls, lambda: node.GetDelegation(get))),
                "get_plaintext_same_gate": summary(
                    await timed(calls, lambda: node_plain.GetDelegation(get))
                ),
                "list_page_of_1_mtls": summary(
                    await timed(calls, lambda: node.ListDelegations(listing))
                ),
            }
            operator = cgrpc.CoordinatorServiceStub(
                aio_channel(coordinator.address, settings.tls_for(Identity(Role.OPERATOR, REGION)))
            )
            courts = capi.ListCourtsRequest(city="qingdao")
            await timed(20, lambda: operator.ListCourts(courts))
            results["list_courts_mtls_no_db"] = summary(
                await timed(calls, lambda: operator.ListCourts(courts))
            )

            async def fresh_connection() -> None:
                channel = aio_channel(
                    coordinator.address, settings.tls_for(Identity(Role.OPERATOR, REGION))
                )
                try:
                    await cgrpc.CoordinatorServiceStub(channel).ListCourts(courts)
                finally:
                    await channel.close()

            results["new_tls_connection_and_call"] = summary(
                await timed(max(calls // 5, 20), fresh_connection)
            )
            results["document_trip"] = await document_trip(node, yantai, settings, doc_mib)
        finally:
            for channel in channels:
                await channel.close()
            await plain.stop(0)
            for svc in (yantai, qingdao, coordinator):
                await svc.stop(0)
            nats.stop()
    g, p = results["get_mtls"]["median_ms"], results["get_plaintext_same_gate"]["median_ms"]
    results["get_mtls_over_plaintext"] = round(g / p, 2)
    return results


async def document_trip(
    node: ngrpc.CourtNodeServiceStub, yantai: Any, settings: Settings, mib: int
) -> dict[str, float]:
    """Upload at Qingdao, attach, and wait until Yantai holds it verified; three rounds."""
    ya = ngrpc.CourtNodeServiceStub(
        aio_channel(yantai.address, settings.tls_for(Identity(Role.OFFICER, YT)))
    )
    seconds = []
    for _ in range(3):
        data = os.urandom(mib * 1024 * 1024)
        sha = hashlib.sha256(data).hexdigest()
        t = time.perf_counter()
        await node.UploadDocument(
            iter(
                [
                    api.UploadDocumentRequest(data=data[i : i + (4 << 20) - 1024])
                    for i in range(0, len(data), (4 << 20) - 1024)
                ]
            )
        )
        doc = pb.Document(
            name="卷宗.pdf", media_type="application/pdf", size_bytes=len(data), sha256=sha
        )
        d = (await node.CreateDelegation(create_request([doc]))).delegation.id
        while True:
            try:
                got = (await ya.GetDelegation(api.GetDelegationRequest(id=d))).delegation
                if any(s.sha256 == sha and s.state == "verified" for s in got.document_states):
                    break
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.02)
        seconds.append(time.perf_counter() - t)
    median = statistics.median(seconds)
    return {"mib": mib, "median_s": round(median, 2), "mib_per_s": round(mib / median, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--doc-mib", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure("warning", json=True)
    results = asyncio.run(run(args.calls, args.doc_mib))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("security costs (ms; median / p95):")
    for key, value in results.items():
        if isinstance(value, dict) and "median_ms" in value:
            print(
                f"  {key:32} {value['median_ms']:8.3f} / {value['p95_ms']:8.3f}  (n={value['n']})"
            )
    print(f"  GetDelegation mTLS / plaintext (same gate): {results['get_mtls_over_plaintext']}x")
    trip = results["document_trip"]
    print(
        f"  document trip Qingdao -> Yantai, {trip['mib']} MiB: median {trip['median_s']} s "
        f"({trip['mib_per_s']} MiB/s, upload + bus + two whole-file checks)"
    )


if __name__ == "__main__":
    main()
