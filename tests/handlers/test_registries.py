"""Automatic answers through a city's registries (issue 14): the Yantai node's registry desk
answers a delegation a Yantai registry can answer, with no officer, on the region's clock.
Every result kind, a registry outage then recovery, the fallback to officers, officers acting
first, a cancellation, partial answers and controls with their period."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlmodel import select

from jiaodong.app.node import Step
from jiaodong.app.node.registries import backoff
from jiaodong.app.registries import links_for, locale_of
from jiaodong.domain import registry_sim as sim
from jiaodong.domain.delegation import AssetKind
from jiaodong.domain.errors import IllegalTransition, NotAllowed
from jiaodong.domain.identifiers import resident_id_check_char
from jiaodong.domain.lifecycle import EventKind
from jiaodong.domain.registries import (
    Ack,
    Action,
    Outcome,
    PropertyRef,
    RegistryRequest,
    RegistryResult,
    Subject,
    result_from_wire,
)
from jiaodong.domain.registry_config import parse_registries
from jiaodong.store.tables import DataReadRow, RegistryTaskRow
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import RESIDENT_ID, draft
from tests.helpers.region import InProcessRegion

QD, YT = "370202", "370602"
NAME = "张三"


def link_yantai(
    region: InProcessRegion, asset: str = "real_estate", **sim_settings: object
) -> None:
    """Link the Yantai node to one simulated registry (answers in 1-3 minutes by default)."""
    lines = [
        "[defaults]",
        "attempts = 3",
        "first_retry_minutes = 1",
        "max_retry_minutes = 4",
        "poll_minutes = 10",
        "[[connector]]",
        'city = "yantai"',
        f'asset = "{asset}"',
        'adapter = "simulated"',
        *(f"{k} = {json.dumps(v)}" for k, v in sim_settings.items()),
    ]
    plan = parse_registries("\n".join(lines), "test.toml", frozenset(region.registry.cities))
    region.node("yantai").link_registries(links_for(plan, region.registry, "yantai", region.clock))


async def send(region: InProcessRegion, task: int, asset: int, **fields: object) -> str:
    fields.setdefault("plate", "")
    created, _ = await region.node("qingdao").create(
        QD, draft(task_type=task, asset_kind=asset, **fields)
    )
    await region.settle()
    return created.id


async def rounds(region: InProcessRegion, minutes: float = 0.0) -> None:
    """Let ``minutes`` pass, then let the Yantai desk work what is due, and carry the messages."""
    if minutes:
        region.clock.advance(timedelta(minutes=minutes))  # type: ignore[attr-defined]
    await region.node("yantai").registry_round()
    await region.settle()


async def content(region: InProcessRegion, delegation_id: str, sha256: str) -> bytes:
    """A document as the requesting court reads it from its own node."""
    return b"".join(await region.node("qingdao").read_document(QD, delegation_id, sha256))


def kinds(delegation: pb.Delegation) -> list[int]:
    return [e.kind for e in delegation.history]


def task_of(region: InProcessRegion, delegation_id: str) -> RegistryTaskRow:
    db = region.service("node-yantai").db
    return db.transaction(  # type: ignore[no-any-return]
        lambda s: s.exec(
            select(RegistryTaskRow).where(RegistryTaskRow.delegation_id == delegation_id)
        ).one()
    )


@pytest.fixture
def inquiry(region: InProcessRegion) -> InProcessRegion:
    link_yantai(region, nothing_found=0, refused=0)
    return region


async def test_an_inquiry_is_answered_without_any_officer(inquiry: InProcessRegion) -> None:
    region = inquiry
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)
    submitted = await region.coordinator.get(delegation_id)
    assert submitted.status == pb.STATUS_ACCEPTED
    assert kinds(submitted)[3:] == [
        pb.EVENT_KIND_ACKNOWLEDGED,
        pb.EVENT_KIND_ACCEPTED,
        pb.EVENT_KIND_PROGRESS_REPORTED,
    ]
    assert "烟台市不动产登记中心已接收查询请求，受理号 BDC" in submitted.history[-1].text

    await rounds(region, 3.5)  # the registry answers within 3 minutes

    done = await region.node("qingdao").get(QD, delegation_id)
    assert done.status == pb.STATUS_COMPLETED
    assert done.result == pb.COMPLETION_RESULT_DONE
    last = done.history[-1]
    assert last.kind == pb.EVENT_KIND_COMPLETED and last.actor_court == YT
    assert last.text.startswith("【网络查控】烟台市不动产登记中心答复：查到不动产")
    # The history is shown on boards: no personal data in its texts.
    for event in done.history:
        assert NAME not in event.text and RESIDENT_ID not in event.text
    letter, twin = last.documents
    assert (letter.media_type, twin.media_type) == ("text/plain", "application/json")
    # The requesting court holds both, checked against their SHA-256.
    states = {d.sha256: d.state for d in done.document_states}
    assert states[letter.sha256] == states[twin.sha256] == "verified"
    text = (await content(region, delegation_id, letter.sha256)).decode()
    assert text.splitlines()[0] == "烟台市芝罘区人民法院"
    assert "委托法院：青岛市市南区人民法院" in text and NAME in text and RESIDENT_ID in text
    data = json.loads(await content(region, delegation_id, twin.sha256))
    result = result_from_wire(data["results"][0])
    assert result.final and result.outcome is Outcome.FOUND and result.properties
    assert all(p.asset_kind is AssetKind.REAL_ESTATE for p in result.properties)
    assert data["request"]["case_number"] == "(2024)鲁0202执123号"
    task = task_of(region, delegation_id)
    assert (task.state, task.next_at) == ("answered", None)


async def test_the_read_of_personal_data_is_on_the_auditors_record(
    inquiry: InProcessRegion,
) -> None:
    delegation_id = await send(inquiry, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    db = inquiry.service("node-yantai").db
    reads = db.transaction(lambda s: list(s.exec(select(DataReadRow)).all()))
    assert [(r.reader, r.delegation_id, r.rpc) for r in reads] == [
        (f"court:{QD}", delegation_id, "registry/REAL_ESTATE/INQUIRE")
    ]
    task = task_of(inquiry, delegation_id)
    assert (task.requesting_court, task.case_number) == (QD, "(2024)鲁0202执123号")


async def test_nothing_found_is_an_explicit_answer(region: InProcessRegion) -> None:
    link_yantai(region, nothing_found=1, refused=0)
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)
    await rounds(region, 3.5)
    done = await region.coordinator.get(delegation_id)
    assert done.status == pb.STATUS_COMPLETED and done.result == pb.COMPLETION_RESULT_DONE
    assert done.history[-1].text.endswith("答复：未查询到被执行人名下不动产")


async def test_a_refusal_completes_it_as_not_possible_with_the_reason(
    region: InProcessRegion,
) -> None:
    link_yantai(region, refused=1)
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)
    await rounds(region, 3.5)
    done = await region.coordinator.get(delegation_id)
    assert done.result == pb.COMPLETION_RESULT_NOT_POSSIBLE
    assert done.history[-1].text.endswith("不予查询，理由详见结果文书")
    # The registry's reason is in the letter (it may name the debtor), not in the history.
    letter_doc = done.history[-1].documents[0]
    assert "不予办理，理由：" in (await content(region, delegation_id, letter_doc.sha256)).decode()


async def test_an_outage_is_retried_with_backoff_and_the_answer_follows_recovery(
    region: InProcessRegion,
) -> None:
    start = region.clock.now()
    outage = [
        [(start - timedelta(minutes=1)).isoformat(), (start + timedelta(minutes=2)).isoformat()]
    ]
    link_yantai(region, nothing_found=0, refused=0, outages=outage)
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)
    task = task_of(region, delegation_id)
    assert (task.state, task.attempts) == ("pending", 1)
    assert "连接中断" in task.last_error
    # Accepted all the same: the court took it up; the registry was out of reach.
    assert (await region.coordinator.get(delegation_id)).status == pb.STATUS_ACCEPTED

    await rounds(region, 0.5)  # not yet due: the first wait is one minute
    assert task_of(region, delegation_id).attempts == 1
    await rounds(region, 0.5)  # due, still down: the second wait is two minutes
    assert task_of(region, delegation_id).attempts == 2
    await rounds(region, 2)  # the link is back
    assert task_of(region, delegation_id).state == "submitted"
    await rounds(region, 3.5)
    assert (await region.coordinator.get(delegation_id)).status == pb.STATUS_COMPLETED


async def test_a_registry_down_for_good_hands_the_delegation_to_officers(
    region: InProcessRegion,
) -> None:
    start = region.clock.now()
    outage = [[start.isoformat(), (start + timedelta(days=1)).isoformat()]]
    link_yantai(region, outages=outage)
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    for minutes in (0, 1, 2):  # attempts = 3: after 1 then 2 minutes
        await rounds(region, minutes)
    task = task_of(region, delegation_id)
    assert (task.state, task.attempts, task.next_at) == ("manual", 3, None)
    for city in ("qingdao", "yantai"):
        court = QD if city == "qingdao" else YT
        seen = await region.node(city).get(court, delegation_id)
        assert seen.status == pb.STATUS_ACCEPTED
        assert "已转本院执行人员人工办理" in seen.history[-1].text
    # The officers carry on by hand.
    await rounds(region, 60)
    await region.node("yantai").act(
        YT, delegation_id, Step(EventKind.COMPLETED, text="已人工查询", result="DONE")
    )
    await region.settle()
    assert (await region.coordinator.get(delegation_id)).status == pb.STATUS_COMPLETED


async def test_an_officer_who_acts_first_supersedes_the_desk(inquiry: InProcessRegion) -> None:
    region = inquiry
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)  # submitted
    yantai = region.node("yantai")
    await yantai.act(YT, delegation_id, Step(EventKind.COMPLETED, text="已人工查询", result="DONE"))
    await region.settle()
    await rounds(region, 3.5)
    done = await region.coordinator.get(delegation_id)
    assert [e.kind for e in done.history].count(pb.EVENT_KIND_COMPLETED) == 1
    assert done.history[-1].text == "已人工查询"
    assert task_of(region, delegation_id).state == "superseded"


async def test_a_cancelled_delegation_drops_its_task(inquiry: InProcessRegion) -> None:
    region = inquiry
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await region.node("qingdao").request(QD, delegation_id, EventKind.CANCELLED, "c-1", "已履行")
    await region.settle()
    await rounds(region)
    assert (await region.coordinator.get(delegation_id)).status == pb.STATUS_CANCELLED
    task = task_of(region, delegation_id)
    assert task.state == "dropped" and task.next_at is None


async def test_a_bank_answering_in_parts_reports_progress_then_completes(
    region: InProcessRegion,
) -> None:
    link_yantai(region, "deposit", partial=1, nothing_found=0, refused=0, answer_minutes=[10, 10])
    # A debtor with more than one account at Yantai's banks (drawn from the id, as the desk does).
    locale = locale_of(region.registry, "yantai")
    profile = (
        parse_registries(
            '[[connector]]\ncity = "yantai"\nasset = "deposit"\n'
            'adapter = "simulated"\nnothing_found = 0',
            "t",
            frozenset(region.registry.cities),
        )
        .connectors[0]
        .sim
    )
    person = next(
        rid
        for rid in (f"11010119800101{n:03d}" for n in range(200))
        if len(sim.holdings(_request(rid), profile, locale)) > 1
    )
    rid = person + _check(person)
    delegation_id = await send(
        region,
        pb.TASK_TYPE_PROPERTY_INQUIRY,
        pb.ASSET_KIND_DEPOSIT,
        debtor=pb.Party(person=pb.Person(name=NAME, resident_id=rid)),
    )
    await rounds(region)
    await rounds(region, 5)  # the first part comes half-way
    partly = await region.coordinator.get(delegation_id)
    assert partly.status == pb.STATUS_ACCEPTED
    assert "部分答复（第1次）" in partly.history[-1].text
    assert len(partly.history[-1].documents) == 2
    await rounds(region, 5)  # the registry named no time for the rest: asked every 10 minutes
    assert (await region.coordinator.get(delegation_id)).status == pb.STATUS_ACCEPTED
    await rounds(region, 5)
    done = await region.coordinator.get(delegation_id)
    assert done.status == pb.STATUS_COMPLETED
    twin = done.history[-1].documents[1]
    data = json.loads(await content(region, delegation_id, twin.sha256))
    assert [r["seq"] for r in data["results"]] == [1, 2]


async def test_a_seizure_records_its_period_and_distraints_and_freezes_stay_with_officers(
    region: InProcessRegion,
) -> None:
    link_yantai(region, "real_estate", nothing_found=0, refused=0, control_minutes=[60, 60])
    seized = await send(region, pb.TASK_TYPE_SEIZURE, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)
    await rounds(region, 61)
    done = await region.coordinator.get(seized)
    assert done.status == pb.STATUS_COMPLETED and done.result == pb.COMPLETION_RESULT_DONE
    assert "答复：已查封不动产" in done.history[-1].text
    twin = done.history[-1].documents[1]
    data = json.loads(await content(region, seized, twin.sha256))
    control = result_from_wire(data["results"][0]).properties[0].control
    assert control is not None
    # Real estate stays seized for three years (to the day before the same date), counted in
    # Beijing time: 10:00 on 4 March 2025 there.
    assert (control.start, control.end) == (date(2025, 3, 4), date(2028, 3, 3))

    # A vehicle is seized on the street; a deposit freeze needs its amount: both for officers.
    for asset, plate in (("vehicle", "鲁F12345"), ("deposit", "")):
        link_yantai(region, asset)
        kind = pb.ASSET_KIND_VEHICLE if asset == "vehicle" else pb.ASSET_KIND_DEPOSIT
        left = await send(region, pb.TASK_TYPE_SEIZURE, kind, plate=plate)
        await rounds(region, 10)
        assert (await region.coordinator.get(left)).status == pb.STATUS_DELIVERED


def test_the_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(1, 4, n) for n in range(1, 5)] == [timedelta(minutes=m) for m in (1, 2, 4, 4)]


def _request(resident_id: str) -> RegistryRequest:
    from datetime import UTC, datetime

    return RegistryRequest(
        "r",
        Action.INQUIRE,
        AssetKind.DEPOSIT,
        Subject(True, NAME, resident_id + _check(resident_id)),
        PropertyRef(),
        "(2024)鲁0202执123号",
        QD,
        YT,
        datetime(2025, 3, 4, tzinfo=UTC),
    )


def _check(body: str) -> str:
    return resident_id_check_char(body)


async def test_a_reviewing_city_holds_the_result_until_a_clerk_releases_it(
    region: InProcessRegion,
) -> None:
    link_yantai(region, nothing_found=0, refused=0)
    yantai = region.node("yantai")
    assert yantai.links is not None
    yantai.link_registries(
        replace(yantai.links, plan=replace(yantai.links.plan, review=frozenset({"yantai"})))
    )
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)
    await rounds(region, 3.5)
    held = await region.coordinator.get(delegation_id)
    assert held.status == pb.STATUS_ACCEPTED, "held: nothing recorded yet"
    (view,) = await yantai.registry_requests(YT, delegation_id, letters=True)
    assert (view.state, view.results, view.reviewed_by) == ("held", 1, "")
    assert view.registry == "烟台市不动产登记中心" and view.registry_no.startswith("BDC")
    assert (
        view.letter.startswith("烟台市芝罘区人民法院\n协助查询不动产结果") and NAME in view.letter
    )
    # Only the entrusted court reads or releases it.
    with pytest.raises(NotAllowed):
        await region.node("qingdao").registry_requests(QD, delegation_id)

    released = await yantai.release_registry_result(YT, delegation_id, "clerk:370602", "已核对")
    await region.settle()
    assert released.status == pb.STATUS_COMPLETED
    done = await region.coordinator.get(delegation_id)
    assert done.status == pb.STATUS_COMPLETED
    assert done.history[-1].text.endswith("（经本院审核发布：已核对）")
    assert len(done.history[-1].documents) == 2
    (view,) = await yantai.registry_requests(YT, delegation_id)
    assert (view.state, view.reviewed_by) == ("answered", "clerk:370602")
    with pytest.raises(IllegalTransition, match="none is held for review"):
        await yantai.release_registry_result(YT, delegation_id, "clerk:370602")


async def test_an_answer_after_a_return_and_supplement_is_not_recorded_over_the_officers(
    inquiry: InProcessRegion,
) -> None:
    """The desk took the delegation up; an officer returned it, the requesting court supplied
    the materials, the officer took it up again: the registry's late answer is the officer's to
    use, not the desk's to record."""
    region = inquiry
    yantai = region.node("yantai")
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)  # acknowledged, accepted, submitted
    await yantai.act(
        YT,
        delegation_id,
        Step(EventKind.RETURNED, text="缺少执行依据", return_reason="MATERIALS_INCOMPLETE"),
    )
    await region.settle()
    await region.node("qingdao").request(
        QD, delegation_id, EventKind.SUPPLEMENTED, "s-1", "已补充执行依据"
    )
    await region.settle()
    await yantai.act(YT, delegation_id, Step(EventKind.ACCEPTED))
    await region.settle()
    await rounds(region, 3.5)
    after = await region.coordinator.get(delegation_id)
    assert after.status == pb.STATUS_ACCEPTED, "the officer's, not completed by the desk"
    assert task_of(region, delegation_id).state == "superseded"


async def test_an_officers_waiting_acceptance_keeps_the_delegation_from_the_desk(
    inquiry: InProcessRegion,
) -> None:
    """An officer accepted the offer before its delivery was recorded: that step is applied with
    the delivery, and the desk opens no task."""
    region = inquiry
    region.forget_next(lambda m: str(getattr(m, "subject", "")).endswith(".receipt"))
    created, _ = await region.node("qingdao").create(
        QD,
        draft(
            task_type=pb.TASK_TYPE_PROPERTY_INQUIRY, asset_kind=pb.ASSET_KIND_REAL_ESTATE, plate=""
        ),
    )
    await region.settle()
    yantai = region.node("yantai")
    await yantai.act(YT, created.id, Step(EventKind.ACKNOWLEDGED))
    await yantai.act(YT, created.id, Step(EventKind.ACCEPTED))
    await region.redeliver(region.lost)
    await region.settle()
    await rounds(region, 5)
    seen = await region.coordinator.get(created.id)
    assert seen.status == pb.STATUS_ACCEPTED
    assert not any(e.text.startswith("【网络查控】") for e in seen.history)
    db = region.service("node-yantai").db
    assert db.transaction(lambda s: list(s.exec(select(RegistryTaskRow)).all())) == []


async def test_a_control_registered_after_a_cancellation_is_kept_for_release(
    region: InProcessRegion,
) -> None:
    link_yantai(region, "real_estate", nothing_found=0, refused=0, control_minutes=[60, 60])
    delegation_id = await send(region, pb.TASK_TYPE_SEIZURE, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)  # submitted to the registry
    await region.node("qingdao").request(QD, delegation_id, EventKind.CANCELLED, "c-1", "已履行")
    await region.settle()
    assert (await region.coordinator.get(delegation_id)).status == pb.STATUS_CANCELLED
    await rounds(region, 61)
    task = task_of(region, delegation_id)
    assert task.state == "orphaned" and "请核实并解除" in task.last_error
    assert len(json.loads(task.results)) == 1  # the registration, for the court to release


class Broken:
    """An adapter that answers outside the contract, or never."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    async def submit(self, request: RegistryRequest) -> Ack:
        if self.mode == "hang":
            await asyncio.sleep(3600)
        return Ack(request.request_id, "", None)  # no registry number: outside the contract

    async def results(self, request: RegistryRequest, ack: Ack) -> list[RegistryResult]:
        return []


@pytest.mark.parametrize("mode", ["bad", "hang"])
async def test_an_adapter_outside_the_contract_or_silent_counts_as_failing(
    inquiry: InProcessRegion, mode: str
) -> None:
    region = inquiry
    yantai = region.node("yantai")
    assert yantai.links is not None
    plan = replace(yantai.links.plan, retry=replace(yantai.links.plan.retry, call_seconds=0.2))
    connectors = {AssetKind.REAL_ESTATE: Broken(mode)}
    yantai.link_registries(replace(yantai.links, plan=plan, connectors=connectors))
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)
    task = task_of(region, delegation_id)
    assert (task.state, task.attempts) == ("pending", 1)
    expected = "registry's number" if mode == "bad" else "秒内无响应"
    assert expected in task.last_error


async def test_a_registry_no_longer_linked_after_a_restart_hands_over_to_officers(
    inquiry: InProcessRegion,
) -> None:
    region = inquiry
    delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
    await rounds(region)  # accepted and submitted
    yantai = region.node("yantai")
    assert yantai.links is not None
    yantai.link_registries(replace(yantai.links, connectors={}))  # restarted with it off
    await rounds(region, 3.5)
    task = task_of(region, delegation_id)
    assert task.state == "manual"
    seen = await region.coordinator.get(delegation_id)
    assert seen.history[-1].text.endswith(
        "本市未再连通该登记机关，自动查控未完成，已转本院执行人员人工办理"
    )


async def test_the_desk_goes_on_after_its_database_failed(inquiry: InProcessRegion) -> None:
    """The desk's own loop: a database error (here its first read) is logged and tried again at
    the next tick; the delegation delivered meanwhile is still answered."""
    region = inquiry
    yantai = region.node("yantai")
    real_read = yantai.db.read
    failures = []

    async def flaky(work: object, **kwargs: object) -> object:
        if not failures:
            failures.append(1)
            raise OSError("database gone")
        return await real_read(work, **kwargs)  # type: ignore[arg-type]

    yantai.db.read = flaky  # type: ignore[method-assign]
    desk = asyncio.create_task(yantai.run_registry_desk(0.01))
    try:
        delegation_id = await send(region, pb.TASK_TYPE_PROPERTY_INQUIRY, pb.ASSET_KIND_REAL_ESTATE)
        deadline = asyncio.get_running_loop().time() + 20
        while (await region.coordinator.get(delegation_id)).status != pb.STATUS_ACCEPTED:
            assert asyncio.get_running_loop().time() < deadline, "the desk stopped"
            await asyncio.sleep(0.02)
            await region.settle()
        assert failures == [1] and not desk.done()
    finally:
        desk.cancel()
