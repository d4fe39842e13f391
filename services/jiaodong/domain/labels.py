"""The words people read, in simplified Chinese and in English: one table for every interface.

Keyed by the names the domain and the proto share without their prefix (``ACKNOWLEDGED`` for
``STATUS_ACKNOWLEDGED``); the CLI (``jiaodong.cli.names``) and the web board read the same table,
so a court clerk sees one word for one thing everywhere. Simplified characters only (督办, not
督辦). Court and city names are not here: they are data, in the registry (``courts/``).

Pure: no I/O, standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Lang(StrEnum):
    """The languages of the interfaces: simplified Chinese (the default) and English."""

    ZH = "zh"
    EN = "en"


DEFAULT_LANG = Lang.ZH

# name -> (simplified Chinese, English)
Table = Mapping[str, tuple[str, str]]

# Statuses in the lifecycle's order. The words: 已送达/已受理/已退回/办理中/已办结/已确认/
# 已撤回 for DELIVERED ... CANCELLED. Acknowledging (签收) is the receipt that registers the
# delegation with the entrusted court (已受理); accepting starts the handling (办理中).
STATUS: Table = {
    "CREATED": ("已发起", "created"),
    "ROUTED": ("已分派", "routed"),
    "DELIVERED": ("已送达", "delivered"),
    "ACKNOWLEDGED": ("已受理", "acknowledged"),
    "RETURNED": ("已退回", "returned"),
    "ACCEPTED": ("办理中", "accepted"),
    "COMPLETED": ("已办结", "completed"),
    "CONFIRMED": ("已确认", "confirmed"),
    "CANCELLED": ("已撤回", "cancelled"),
    "ROUTING_FAILED": ("分派失败", "routing failed"),
    # On-site assistance (异地执行协助); COMPLETED and CONFIRMED there mean one court and both
    # courts recorded the operation's outcome.
    "PROPOSED": ("已拟定方案", "plan proposed"),
    "AGREED": ("方案已确定", "plan agreed"),
    "REFUSED": ("已拒绝协助", "refused"),
}

# Task types as DESIGN.md names them.
TASK: Table = {
    "PROPERTY_INQUIRY": ("财产查控", "property inquiry"),
    "SEIZURE": ("查封/扣押/冻结", "seizure"),
    "ON_SITE_INSPECTION": ("现场勘验", "on-site inspection"),
    "HANDOVER": ("标的物交付", "handover"),
    "FORCED_EVICTION": ("强制腾迁", "forced eviction"),
    "SERVICE_OF_DOCUMENTS": ("文书送达", "service of documents"),
    "ON_SITE_ASSISTANCE": ("异地执行协助", "on-site assistance"),
}

# On-site assistance: what the visiting officers do, and the support asked of the local court.
MEASURE: Table = {
    "EVICTION": ("强制迁出", "eviction"),
    "INSPECTION": ("现场勘验", "inspection"),
    "VEHICLE_SEIZURE": ("扣押车辆", "vehicle seizure"),
    "HANDOVER": ("交付", "handover"),
    "DETENTION": ("司法拘留", "detention"),
    "SEARCH": ("搜查", "search"),
}

SUPPORT: Table = {
    "ASSISTING_OFFICERS": ("协助执行人员", "assisting officers"),
    "COURT_POLICE": ("司法警察", "court police"),
    "PUBLIC_POLICE": ("公安警务保障", "public police support"),
    "LOCKSMITH": ("开锁", "locksmith"),
    "MEDICAL": ("医疗保障", "medical support"),
    "DETENTION_CENTRE": ("拘留所", "detention centre"),
}

SUPPORT_STATE: Table = {
    "ASKED": ("待落实", "asked"),
    "CONFIRMED": ("已落实", "booked"),
    "DECLINED": ("无法提供", "declined"),
}

ASSET: Table = {
    "UNSPECIFIED": ("未指定", "unspecified"),
    "REAL_ESTATE": ("不动产", "real estate"),
    "VEHICLE": ("车辆", "vehicle"),
    "EQUITY": ("股权", "equity"),
    "DEPOSIT": ("存款", "deposit"),
    "OTHER": ("其他", "other"),
}

PRIORITY: Table = {
    "NORMAL": ("普通", "normal"),
    "URGENT": ("加急", "urgent"),
}

# What happened: one history event.
EVENT: Table = {
    "CREATED": ("发起委托", "created"),
    "ROUTED": ("分派", "routed"),
    "ROUTING_FAILED": ("分派失败", "routing failed"),
    "DELIVERED": ("送达", "delivered"),
    "ACKNOWLEDGED": ("签收", "acknowledged"),
    "ACCEPTED": ("开始办理", "accepted"),
    "RETURNED": ("退回", "returned"),
    "SUPPLEMENTED": ("补正", "supplemented"),
    "PROGRESS_REPORTED": ("报告进展", "progress reported"),
    "COMPLETED": ("办结", "completed"),
    "CONFIRMED": ("确认", "confirmed"),
    "CANCELLED": ("撤回", "cancelled"),
    "URGED": ("催办", "urged"),
    "ESCALATED": ("督办", "escalated"),
    "REROUTED": ("改派", "rerouted"),
    "SLA_WARNING": ("时限预警", "time limit warning"),
    "SLA_BREACHED": ("超期", "time limit breached"),
    "WITHDRAWN": ("视为撤回", "withdrawn"),
    "PLAN_PROPOSED": ("拟定协助方案", "plan proposed"),
    "SUPPORT_CONFIRMED": ("落实保障", "support booked"),
    "PLAN_ACCEPTED": ("确认方案", "plan accepted"),
    "MOVE_ASKED": ("申请改期", "move asked"),
    "REFUSED": ("拒绝协助", "refused"),
    "OUTCOME_RECORDED": ("记录执行结果", "outcome recorded"),
}

SIDE: Table = {
    "REQUESTING": ("委托法院", "requesting"),
    "ENTRUSTED": ("受托法院", "entrusted"),
    "COORDINATOR": ("协调中心", "coordinator"),
}

RETURN_REASON: Table = {
    "NOT_OUR_JURISDICTION": ("非本院管辖", "not our jurisdiction"),
    "MATERIALS_INCOMPLETE": ("材料不全", "materials incomplete"),
    "REQUEST_UNCLEAR": ("委托事项不明确", "request unclear"),
    "OTHER": ("其他", "other"),
}

RESULT: Table = {
    "DONE": ("已完成", "done"),
    "PARTLY_DONE": ("部分完成", "partly done"),
    "NOT_POSSIBLE": ("无法执行", "not possible"),
}

SLA_STATE: Table = {
    "RUNNING": ("计时中", "running"),
    "PAUSED": ("已暂停", "paused"),
    "MET": ("按期完成", "met"),
    "BREACHED": ("已超期", "breached"),
    "CANCELLED": ("已取消", "cancelled"),
}

# How far a delegation's most advanced running clock has got (the board's warning levels).
SLA_LEVEL: Table = {
    "UNDER_HALF": ("未过半", "under half"),
    "HALF": ("已过半", "50%"),
    "THREE_QUARTERS": ("已用75%", "75%"),
    "BREACHED": ("已超期", "breached"),
}

# Where a delegation's clocks stand, taken together (a filter of the operators' list).
SLA_SUMMARY: Table = {
    "RUNNING": ("计时中", "running"),
    "BREACHED": ("已超期", "breached"),
    "PAUSED": ("已暂停", "paused"),
    "NONE": ("不计时", "no clock"),
}

# An operator's action on a parked message (dead letter), and what came of it.
PARKED_ACTION: Table = {
    "retry": ("重试", "retry"),
    "discard": ("丢弃", "discard"),
    "applied": ("已应用", "applied"),
    "failed": ("失败", "failed"),
    "discarded": ("已丢弃", "discarded"),
}

# The time limits of one delegation (courts/sla.toml goal names).
SLA_GOAL: Table = {
    "acknowledge": ("签收", "acknowledge"),
    "start": ("开始办理", "start"),
    "progress": ("报告进展", "progress"),
    "complete": ("办结", "complete"),
    "inaction": ("无进展催办", "inaction"),
    "supplement": ("补正", "supplement"),
    "plan": ("拟定协助方案", "plan"),
}

# What the platform does when a time limit runs out (courts/sla.toml on_breach).
BREACH_ACTION: Table = {
    "none": ("无", "none"),
    "urge": ("催办", "urge"),
    "escalate": ("督办", "escalate"),
    "withdraw": ("视为撤回", "withdraw"),
}

# The state of a requester's or an operator's request (PendingRequest.state).
REQUEST_STATE: Table = {
    "pending": ("待处理", "pending"),
    "applied": ("已执行", "applied"),
    "refused": ("已拒绝", "refused"),
}

# Who is acting, by role (the certificate's role).
ROLE: Table = {
    "officer": ("执行员", "officer"),
    "clerk": ("书记员", "clerk"),
    "operator": ("执行指挥中心", "command centre"),
    "auditor": ("审计员", "auditor"),
    "node": ("法院节点", "court node"),
    "coordinator": ("协调中心", "coordinator"),
}

REGION_NAME = ("胶东区域", "Jiaodong region")

TABLES: Mapping[str, Table] = {
    "status": STATUS,
    "task": TASK,
    "asset": ASSET,
    "priority": PRIORITY,
    "event": EVENT,
    "side": SIDE,
    "return_reason": RETURN_REASON,
    "result": RESULT,
    "sla_state": SLA_STATE,
    "sla_goal": SLA_GOAL,
    "breach_action": BREACH_ACTION,
    "request_state": REQUEST_STATE,
    "sla_level": SLA_LEVEL,
    "sla_summary": SLA_SUMMARY,
    "parked_action": PARKED_ACTION,
    "role": ROLE,
}


def label(table: Table, name: str, lang: Lang = DEFAULT_LANG) -> str:
    """The word for ``name`` in ``lang``; an unknown name (a newer server's) is shown as it is."""
    words = table.get(name)
    if words is None:
        return name
    return words[0] if lang is Lang.ZH else words[1]


def pick(lang: Lang, zh: str, en: str) -> str:
    """One of two spellings of the same text."""
    return zh if lang is Lang.ZH else en
