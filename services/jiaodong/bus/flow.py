"""How far behind a service's bus is: the backlog of the consumers it watches and the age of its
oldest unpublished outbox row, as last measured by the transport (``Transport.watch_flow``).

Reconciliation reads it to slow down when the region is behind (``app.node.reconcile.paced``);
the metrics work exports it. Plain data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The region is behind when this many messages wait for a consumer: nodes then space their
# reconciliation out (app.node.reconcile.paced) and the coordinator defers its asks for re-sends
# (app.coordinator.reconcile), so repair traffic does not feed the backlog it waits behind.
LAG_HIGH = 200


@dataclass
class Flow:
    """The last measurement. ``lag``: messages waiting to be delivered (JetStream's
    ``num_pending``) per watched consumer, by durable name; ``outbox_age``: seconds the oldest
    unpublished row of this service's outbox has waited (0 when none waits); ``measured_at``:
    the event loop's time of the measurement (0: never measured)."""

    lag: dict[str, int] = field(default_factory=dict)
    outbox_age: float = 0.0
    measured_at: float = 0.0

    def lag_of(self, *durables: str) -> int:
        """The backlog of these consumers together (0 for one not measured)."""
        return sum(self.lag.get(d, 0) for d in durables)

    def fresh(self, now: float, within: float) -> bool:
        """Measured within the last ``within`` seconds (a stale reading says nothing)."""
        return self.measured_at > 0 and now - self.measured_at <= within
