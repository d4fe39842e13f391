"""The coordinator's application: operators' commands, what the bus brings (routing, relaying,
delivery, reconciliation), reads, and the time limits at work.

``Coordinator`` composes the concerns over one shared base (registry, core, SLA engine, relaying);
each concern is a module of its own."""

from __future__ import annotations

from jiaodong.app.coordinator.base import Guard
from jiaodong.app.coordinator.board import (
    AgingBucket,
    Board,
    BoardQueries,
    CityFigures,
    NodeHealth,
    PairFigures,
    QueueItem,
    QueuePage,
)
from jiaodong.app.coordinator.deadlines import Deadlines, Move
from jiaodong.app.coordinator.operators import Note, OperatorRecord
from jiaodong.app.coordinator.queries import Queries
from jiaodong.app.coordinator.report import Reports
from jiaodong.app.parked import Parked, ParkedAction

__all__ = [
    "AgingBucket",
    "Board",
    "CityFigures",
    "Coordinator",
    "Guard",
    "Move",
    "NodeHealth",
    "Note",
    "PairFigures",
    "Parked",
    "ParkedAction",
    "QueueItem",
    "QueuePage",
]


class Coordinator(OperatorRecord, Queries, BoardQueries, Deadlines, Reports):
    """Region-wide routing and record."""
