"""A city node's application: its courts' commands, what the bus brings, reconciliation, reads, and
the automatic answers of its city's registries (``registries``).

``CourtNode`` composes five concerns over one shared base (courts, core, party checks); each
concern is a module of its own. Its parked messages (dead letters) are handled as the coordinator
handles its own (jiaodong.app.parked), asked by the command centres through the coordinator."""

from __future__ import annotations

from jiaodong.app.node.commands import Commands, Step
from jiaodong.app.node.inbound import InboundHandlers
from jiaodong.app.node.queries import Queries
from jiaodong.app.node.reconcile import Reconciliation
from jiaodong.app.node.registries import RegistryDesk
from jiaodong.app.parked import ParkedRecord

__all__ = ["CourtNode", "Step"]


class CourtNode(Commands, InboundHandlers, Reconciliation, Queries, ParkedRecord, RegistryDesk):
    """The node of one city: hosts that city's courts."""
