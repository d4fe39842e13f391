"""What the courts read of an automatic answer: the short texts of the history events (no
personal data: the history is shown on boards) and the result document (回执) that carries the
details, in Chinese, with the courts' names: plain text laid out for printing or conversion to
OFD, its structured twin attached beside it as JSON (``registries.result_to_wire``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jiaodong.domain.calendar import SHANGHAI
from jiaodong.domain.delegation import AssetKind
from jiaodong.domain.registries import (
    ASSET_ZH,
    ENCUMBRANCE_ZH,
    REGISTRY_ZH,
    Ack,
    Action,
    Outcome,
    RegistryRequest,
    RegistryResult,
    action_zh,
)

AUTO = "【网络查控】"


@dataclass(frozen=True)
class Names:
    """The names a document shows: the courts and the registry."""

    requesting_court: str
    entrusted_court: str
    registry: str  # e.g. 烟台市不动产登记中心


def registry_name(city_zh: str, asset: AssetKind) -> str:
    return f"{city_zh}{REGISTRY_ZH[asset]}"


def acknowledged_text(names: Names) -> str:
    return f"{AUTO}已自动签收，将经{names.registry}办理"


def accepted_text(request: RegistryRequest, names: Names) -> str:
    verb = action_zh(request.action, request.asset_kind)
    kind = ASSET_ZH[request.asset_kind]
    if request.action is Action.INQUIRE:
        return f"{AUTO}已受理，经点对点网络查控系统向{names.registry}查询{kind}"
    return f"{AUTO}已受理，经点对点网络查控系统在{names.registry}办理{kind}{verb}登记"


def submitted_text(request: RegistryRequest, ack: Ack, names: Names) -> str:
    verb = action_zh(request.action, request.asset_kind)
    return f"{AUTO}{names.registry}已接收{verb}请求，受理号 {ack.registry_no}"


def partial_text(result: RegistryResult, names: Names) -> str:
    count = len(result.properties)
    return f"{AUTO}{names.registry}部分答复（第{result.seq}次）：{count}项，详见结果文书"


def final_text(request: RegistryRequest, results: Sequence[RegistryResult], names: Names) -> str:
    last = results[-1]
    verb = action_zh(request.action, request.asset_kind)
    kind = ASSET_ZH[request.asset_kind]
    if last.outcome is Outcome.REFUSED:
        # The registry's reason is in the letter: it may name the debtor.
        return f"{AUTO}{names.registry}不予{verb}，理由详见结果文书"
    count = sum(len(r.properties) for r in results)
    if count == 0 and request.action is Action.INQUIRE:
        return f"{AUTO}{names.registry}答复：未查询到被执行人名下{kind}"
    if count == 0:
        return f"{AUTO}{names.registry}答复：未发现可供{verb}的{kind}"
    if request.action is Action.INQUIRE:
        return f"{AUTO}{names.registry}答复：查到{kind}{count}项，详见结果文书"
    return f"{AUTO}{names.registry}答复：已{verb}{kind}{count}项，期限详见结果文书"


def fallback_text(names: Names, attempts: int, reason: str = "") -> str:
    """``reason``: the platform's own words only (an adapter's error text stays in the node's
    record: it may say anything)."""
    cause = reason or f"连续{attempts}次未能连通"
    return f"{AUTO}{names.registry}{cause}，自动查控未完成，已转本院执行人员人工办理"


def document_name(request: RegistryRequest, seq: int) -> str:
    verb = action_zh(request.action, request.asset_kind)
    return f"{verb}结果-{ASSET_ZH[request.asset_kind]}-{request.request_id[-12:]}-{seq}"


def result_document(
    request: RegistryRequest,
    ack: Ack,
    results: Sequence[RegistryResult],
    names: Names,
    printed_at: datetime,
) -> str:
    """The result letter (协助执行回执) for the results given so far."""
    verb = action_zh(request.action, request.asset_kind)
    kind = ASSET_ZH[request.asset_kind]
    s = request.subject
    who = "姓名" if s.is_person else "名称"
    number = "公民身份号码" if s.is_person else "统一社会信用代码"
    lines = [
        names.entrusted_court,
        f"协助{verb}{kind}结果",
        "",
        f"委托法院：{names.requesting_court}",
        f"案号：{request.case_number}",
        f"被执行人{who}：{s.name}",
        f"{number}：{s.identifier}",
        f"协助执行单位：{names.registry}（受理号 {ack.registry_no}）",
        f"提交时间：{_t(request.submitted_at)}",
        "",
    ]
    count = 0
    for result in results:
        lines.append(f"第{result.seq}次答复（{_t(result.answered_at)}）：{_outcome(result, kind)}")
        for p in result.properties:
            count += 1
            lines.append(f"  {count}. {p.description}")
            lines.append(f"     标识：{p.identifier}")
            for key, value in p.details.items():
                lines.append(f"     {key}：{value}")
            for e in p.encumbrances:
                case = f" {e.case_number}" if e.case_number else ""
                since = f"（{e.since.isoformat()}起）" if e.since else ""
                lines.append(f"     权利负担：{ENCUMBRANCE_ZH[e.kind]} {e.holder}{case}{since}")
            if p.control is not None:
                c = p.control
                order = "首封" if c.order == 1 else f"轮候第{c.order - 1}位"
                lines.append(
                    f"     {verb}期限：{c.start.isoformat()} 至 {c.end.isoformat()}（{order}，"
                    f"编号 {c.registry_no}）"
                )
    final = results and results[-1].final
    lines += [
        "",
        "以上结果由点对点网络查控系统自动取得，未经人工改动。"
        if final
        else "答复尚未完毕，后续结果另行送达。",
        f"{names.entrusted_court}（电子签章）",
        f"生成时间：{_t(printed_at)}",
        "",
    ]
    return "\n".join(lines)


def _outcome(result: RegistryResult, kind: str) -> str:
    if result.outcome is Outcome.REFUSED:
        return f"不予办理，理由：{result.reason}"
    if result.outcome is Outcome.NOTHING_FOUND:
        return f"未发现被执行人名下{kind}"
    return f"{len(result.properties)}项"


def _t(at: datetime) -> str:
    """Beijing time, as the courts read it."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def unwatched_note(count: int) -> str:
    """After a step's text: controls the registry registered whose terms the platform cannot
    watch (past the law's longest term, or a malformed number)."""
    return (
        f"（登记机关答复的 {count} 项查封、冻结期限超出法定期限或编号不合规范，"
        "未纳入到期提醒，请承办人核实）"
    )
