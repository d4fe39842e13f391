"""Enum values as the command line spells them <-> the proto enums.

The command line spells enum values in lower case with hyphens ("materials-incomplete"); the
proto names carry a type prefix ("RETURN_REASON_MATERIALS_INCOMPLETE"). The prefix is split off
and put back by jiaodong.wire's helpers (``optional_enum``, ``enum_name``), the same ones the
services use, so there is one mapping between a proto name and its short name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, cast

from jiaodong.cli import lang
from jiaodong.domain import labels
from jiaodong.domain.errors import InvalidInput
from jiaodong.v1 import coordinator_service_pb2 as c_pb
from jiaodong.v1 import delegation_pb2 as d_pb
from jiaodong.wire import enum_name, optional_enum

if TYPE_CHECKING:
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

TASK_PREFIX = "TASK_TYPE"
ASSET_PREFIX = "ASSET_KIND"
REASON_PREFIX = "RETURN_REASON"
RESULT_PREFIX = "COMPLETION_RESULT"
STATUS_PREFIX = "STATUS"
KIND_PREFIX = "EVENT_KIND"
SIDE_PREFIX = "SIDE"
PRIORITY_PREFIX = "PRIORITY"
SLA_STATE_PREFIX = "SLA_STATE"
SLA_LEVEL_PREFIX = "SLA_LEVEL"
SLA_SUMMARY_PREFIX = "SLA_SUMMARY"
ORDER_PREFIX = "LIST_ORDER"
MEASURE_PREFIX = "MEASURE"
SUPPORT_PREFIX = "SUPPORT_KIND"
SUPPORT_STATE_PREFIX = "SUPPORT_STATE"

_V = TypeVar("_V", bound=int)


def enum_value(enum: _EnumTypeWrapper[_V], prefix: str, name: str) -> _V:
    """``"materials-incomplete"`` -> ``RETURN_REASON_MATERIALS_INCOMPLETE``; ValueError if unknown.

    Upper case and underscores are accepted too; the unspecified zero is never a choice.
    """
    short = name.strip().upper().replace("-", "_")
    if short == "UNSPECIFIED":
        raise ValueError(f"{name!r} is not a choice")
    try:
        return enum.Value(enum_name(prefix, short))
    except ValueError:
        raise ValueError(f"{name!r} is not a choice") from None


def enum_label(enum: _EnumTypeWrapper[_V], prefix: str, value: _V) -> str:
    """``STATUS_ACKNOWLEDGED`` -> ``"ACKNOWLEDGED"``; an unknown number (newer server) stays one."""
    try:
        return optional_enum(enum, prefix, value) or "UNSPECIFIED"
    except InvalidInput:
        return str(int(value))


def enum_cli_name(enum: _EnumTypeWrapper[_V], prefix: str, value: _V) -> str:
    """``RETURN_REASON_MATERIALS_INCOMPLETE`` -> ``"materials-incomplete"``."""
    return enum_label(enum, prefix, value).lower().replace("_", "-")


def enum_cli_names(enum: _EnumTypeWrapper[_V], prefix: str) -> list[str]:
    """Every choice of an enum as the command line spells it, without the unspecified zero."""
    return [
        enum_cli_name(enum, prefix, value)
        for value in enum.values()
        if optional_enum(enum, prefix, value)
    ]


@dataclass(frozen=True)
class EnumNames(Generic[_V]):
    """One proto enum's names on the command line: what an option takes, what is printed."""

    enum: _EnumTypeWrapper[_V]
    prefix: str

    def value(self, name: str) -> _V:
        """``"acknowledged"`` (or ``"ACKNOWLEDGED"``) -> ``STATUS_ACKNOWLEDGED``."""
        return enum_value(self.enum, self.prefix, name)

    def label(self, value: _V) -> str:
        """``STATUS_ROUTING_FAILED`` -> ``"ROUTING_FAILED"`` (the spelling printed for people)."""
        return enum_label(self.enum, self.prefix, value)

    def cli_name(self, value: _V) -> str:
        """``STATUS_ROUTING_FAILED`` -> ``"routing-failed"`` (the spelling options take)."""
        return enum_cli_name(self.enum, self.prefix, value)

    def choices(self, name: str) -> type[StrEnum]:
        """What typer offers for an option of this enum, in the proto's order."""
        members = [(c.upper().replace("-", "_"), c) for c in enum_cli_names(self.enum, self.prefix)]
        return cast("type[StrEnum]", StrEnum(name, members, module=__name__))


TASK = EnumNames(d_pb.TaskType, TASK_PREFIX)
ASSET = EnumNames(d_pb.AssetKind, ASSET_PREFIX)
REASON = EnumNames(d_pb.ReturnReason, REASON_PREFIX)
RESULT = EnumNames(d_pb.CompletionResult, RESULT_PREFIX)
STATUS = EnumNames(d_pb.Status, STATUS_PREFIX)
KIND = EnumNames(d_pb.EventKind, KIND_PREFIX)
SIDE = EnumNames(d_pb.Side, SIDE_PREFIX)
PRIORITY = EnumNames(d_pb.Priority, PRIORITY_PREFIX)
SLA_STATE = EnumNames(d_pb.SlaState, SLA_STATE_PREFIX)
SLA_LEVEL = EnumNames(c_pb.SlaLevel, SLA_LEVEL_PREFIX)
SLA_SUMMARY = EnumNames(c_pb.SlaSummary, SLA_SUMMARY_PREFIX)
ORDER = EnumNames(c_pb.ListOrder, ORDER_PREFIX)
# On-site assistance (异地执行协助): what the visiting officers do, the support asked of the local
# court, and where each support item stands in its plan.
MEASURE = EnumNames(d_pb.Measure, MEASURE_PREFIX)
SUPPORT = EnumNames(d_pb.SupportKind, SUPPORT_PREFIX)
SUPPORT_STATE = EnumNames(d_pb.SupportState, SUPPORT_STATE_PREFIX)

# Made at run time from the proto enums, so a value added there is offered here too. Type
# checkers see StrEnum: the members exist only at run time, and every one is a str.
if TYPE_CHECKING:
    TaskChoice: TypeAlias = StrEnum
    AssetChoice: TypeAlias = StrEnum
    ReasonChoice: TypeAlias = StrEnum
    ResultChoice: TypeAlias = StrEnum
    StatusChoice: TypeAlias = StrEnum
    SlaLevelChoice: TypeAlias = StrEnum
    SlaSummaryChoice: TypeAlias = StrEnum
    OrderChoice: TypeAlias = StrEnum
    MeasureChoice: TypeAlias = StrEnum
    SupportChoice: TypeAlias = StrEnum
else:
    TaskChoice = TASK.choices("TaskChoice")
    AssetChoice = ASSET.choices("AssetChoice")
    ReasonChoice = REASON.choices("ReasonChoice")
    ResultChoice = RESULT.choices("ResultChoice")
    StatusChoice = STATUS.choices("StatusChoice")
    SlaLevelChoice = SLA_LEVEL.choices("SlaLevelChoice")
    SlaSummaryChoice = SLA_SUMMARY.choices("SlaSummaryChoice")
    OrderChoice = ORDER.choices("OrderChoice")
    MeasureChoice = MEASURE.choices("MeasureChoice")
    SupportChoice = SUPPORT.choices("SupportChoice")

# Option value -> proto enum value.
task_type, asset_kind, return_reason = TASK.value, ASSET.value, REASON.value
completion_result, status_value = RESULT.value, STATUS.value
measure_value, support_value, support_state_value = (
    MEASURE.value,
    SUPPORT.value,
    SUPPORT_STATE.value,
)
# Proto enum value -> text: labels as the proto spells them (ROUTING_FAILED), names as options
# take them (routing-failed).
status_label, kind_label = STATUS.label, KIND.label
status_name, reason_name, result_name = STATUS.cli_name, REASON.cli_name, RESULT.cli_name
task_name, asset_name, side_name = TASK.cli_name, ASSET.cli_name, SIDE.cli_name


def priority_name(value: d_pb.Priority.ValueType) -> str:
    """Unset priority is treated as normal (see the proto)."""
    return PRIORITY.cli_name(value or d_pb.PRIORITY_NORMAL)


# --- what people read: the shared table of words (jiaodong.domain.labels), in the CLI's language --


def _word(table: labels.Table, names: EnumNames[Any], value: Any) -> str:
    return labels.label(table, names.label(value), lang.current())


def status_text(value: d_pb.Status.ValueType) -> str:
    """``STATUS_ACKNOWLEDGED`` -> ``已受理`` (``acknowledged`` in English)."""
    return _word(labels.STATUS, STATUS, value)


def task_text(value: d_pb.TaskType.ValueType) -> str:
    return _word(labels.TASK, TASK, value)


def asset_text(value: d_pb.AssetKind.ValueType) -> str:
    return _word(labels.ASSET, ASSET, value)


def priority_text(value: d_pb.Priority.ValueType) -> str:
    return _word(labels.PRIORITY, PRIORITY, value or d_pb.PRIORITY_NORMAL)


def event_text(value: d_pb.EventKind.ValueType) -> str:
    return _word(labels.EVENT, KIND, value)


def side_text(value: d_pb.Side.ValueType) -> str:
    return _word(labels.SIDE, SIDE, value)


def reason_text(value: d_pb.ReturnReason.ValueType) -> str:
    return _word(labels.RETURN_REASON, REASON, value)


def result_text(value: d_pb.CompletionResult.ValueType) -> str:
    return _word(labels.RESULT, RESULT, value)


def measure_text(value: d_pb.Measure.ValueType) -> str:
    """``MEASURE_EVICTION`` -> ``强制迁出`` (``eviction``)."""
    return _word(labels.MEASURE, MEASURE, value)


def support_text(value: d_pb.SupportKind.ValueType) -> str:
    """``SUPPORT_KIND_PUBLIC_POLICE`` -> ``公安警务保障`` (``public police support``)."""
    return _word(labels.SUPPORT, SUPPORT, value)


def support_state_text(value: d_pb.SupportState.ValueType) -> str:
    """``SUPPORT_STATE_CONFIRMED`` -> ``已落实`` (``booked``)."""
    return _word(labels.SUPPORT_STATE, SUPPORT_STATE, value)


def sla_state_text(value: d_pb.SlaState.ValueType) -> str:
    return _word(labels.SLA_STATE, SLA_STATE, value)


def goal_text(goal: str) -> str:
    """A time limit's name (``acknowledge`` -> ``签收``)."""
    return labels.label(labels.SLA_GOAL, goal, lang.current())


def breach_action_text(action: str) -> str:
    return labels.label(labels.BREACH_ACTION, action, lang.current())


def request_state_text(state: str) -> str:
    return labels.label(labels.REQUEST_STATE, state, lang.current())


def sla_level_text(value: c_pb.SlaLevel.ValueType) -> str:
    """``SLA_LEVEL_THREE_QUARTERS`` -> ``已用75%`` (``75%``)."""
    return _word(labels.SLA_LEVEL, SLA_LEVEL, value)


def parked_action_text(word: str) -> str:
    """``retry``, ``discard``, ``applied``, ``failed``, ``discarded`` in the CLI's language."""
    return labels.label(labels.PARKED_ACTION, word, lang.current())
