"""What people read for the platform's values: simplified Chinese (the default for court staff and
command centres) and English, keyed by the domain's own enum values.

One table for every screen (the web board, the terminal board, the CLI's tables), so a status is
called the same everywhere. Court and city names are data (courts/), not here.
"""

from __future__ import annotations

from collections.abc import Mapping

from jiaodong.domain.delegation import AssetKind, Priority, TaskType
from jiaodong.domain.lifecycle import CompletionResult, EventKind, ReturnReason, Side, Status
from jiaodong.domain.sla import ClockState
from jiaodong.domain.sla_policy import Goal

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

# (zh, en)
STATUS: Mapping[str, tuple[str, str]] = {
    Status.CREATED: ("已创建", "created"),
    Status.ROUTED: ("已分派", "routed"),
    Status.DELIVERED: ("已送达", "delivered"),
    Status.ACKNOWLEDGED: ("已签收", "acknowledged"),
    Status.RETURNED: ("已退回", "returned"),
    Status.ACCEPTED: ("办理中", "in progress"),
    Status.COMPLETED: ("已办结", "completed"),
    Status.CONFIRMED: ("已确认", "confirmed"),
    Status.CANCELLED: ("已撤回", "cancelled"),
    Status.ROUTING_FAILED: ("分派失败", "routing failed"),
}

EVENT: Mapping[str, tuple[str, str]] = {
    EventKind.CREATED: ("发起委托", "created"),
    EventKind.ROUTED: ("分派", "routed"),
    EventKind.ROUTING_FAILED: ("分派失败", "routing failed"),
    EventKind.DELIVERED: ("送达", "delivered"),
    EventKind.ACKNOWLEDGED: ("签收", "acknowledged"),
    EventKind.ACCEPTED: ("受理", "accepted"),
    EventKind.RETURNED: ("退回", "returned"),
    EventKind.SUPPLEMENTED: ("补正", "supplemented"),
    EventKind.PROGRESS_REPORTED: ("报告进展", "progress reported"),
    EventKind.COMPLETED: ("办结", "completed"),
    EventKind.CONFIRMED: ("确认", "confirmed"),
    EventKind.CANCELLED: ("撤回", "cancelled"),
    EventKind.URGED: ("催办", "urged"),
    EventKind.ESCALATED: ("督办", "escalated"),
    EventKind.REROUTED: ("改派", "rerouted"),
    EventKind.SLA_WARNING: ("时限预警", "SLA warning"),
    EventKind.SLA_BREACHED: ("超期", "SLA breached"),
    EventKind.WITHDRAWN: ("撤销（补正超期）", "withdrawn"),
}

TASK: Mapping[str, tuple[str, str]] = {
    TaskType.PROPERTY_INQUIRY: ("查控", "property inquiry"),
    TaskType.SEIZURE: ("查封/扣押/冻结", "seizure / freeze"),
    TaskType.ON_SITE_INSPECTION: ("现场勘验", "on-site inspection"),
    TaskType.HANDOVER: ("标的物交付", "handover"),
    TaskType.FORCED_EVICTION: ("强制腾迁", "forced eviction"),
    TaskType.SERVICE_OF_DOCUMENTS: ("送达", "service of documents"),
}

ASSET: Mapping[str, tuple[str, str]] = {
    AssetKind.UNSPECIFIED: ("—", "—"),
    AssetKind.REAL_ESTATE: ("不动产", "real estate"),
    AssetKind.VEHICLE: ("车辆", "vehicle"),
    AssetKind.EQUITY: ("股权", "equity"),
    AssetKind.DEPOSIT: ("存款", "deposit"),
    AssetKind.OTHER: ("其他", "other"),
}

PRIORITY: Mapping[str, tuple[str, str]] = {
    Priority.NORMAL: ("普通", "normal"),
    Priority.URGENT: ("加急", "urgent"),
}

SIDE: Mapping[str, tuple[str, str]] = {
    Side.REQUESTING: ("委托法院", "requesting court"),
    Side.ENTRUSTED: ("受托法院", "entrusted court"),
    Side.COORDINATOR: ("指挥中心", "command centre"),
}

REASON: Mapping[str, tuple[str, str]] = {
    ReturnReason.NOT_OUR_JURISDICTION: ("不属本院管辖", "not our jurisdiction"),
    ReturnReason.MATERIALS_INCOMPLETE: ("材料不全", "materials incomplete"),
    ReturnReason.REQUEST_UNCLEAR: ("委托事项不明确", "request unclear"),
    ReturnReason.OTHER: ("其他", "other"),
}

RESULT: Mapping[str, tuple[str, str]] = {
    CompletionResult.DONE: ("已完成", "done"),
    CompletionResult.PARTLY_DONE: ("部分完成", "partly done"),
    CompletionResult.NOT_POSSIBLE: ("无法执行", "not possible"),
}

GOAL: Mapping[str, tuple[str, str]] = {
    Goal.ACKNOWLEDGE: ("签收时限", "acknowledge"),
    Goal.START: ("受理时限", "start"),
    Goal.PROGRESS: ("进展报告时限", "progress report"),
    Goal.COMPLETE: ("办结时限", "complete"),
    Goal.INACTION: ("无进展提醒", "inaction"),
    Goal.SUPPLEMENT: ("补正时限", "supplement"),
}

CLOCK_STATE: Mapping[str, tuple[str, str]] = {
    ClockState.RUNNING: ("计时中", "running"),
    ClockState.PAUSED: ("暂停", "paused"),
    ClockState.MET: ("已按期", "met"),
    ClockState.BREACHED: ("已超期", "breached"),
    ClockState.CANCELLED: ("已终止", "cancelled"),
}


def word(table: Mapping[str, tuple[str, str]], value: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """``value``'s name in ``lang``; an unknown value (a newer peer's) is shown as it is."""
    names = table.get(value)
    if names is None:
        return value
    return names[1] if lang == "en" else names[0]
