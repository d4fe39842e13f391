"""Fault-injection suite: real processes on loopback, live traffic, faults, invariants read from
every database. Run it with ``python -m tests.faults.run`` (``make faults``)."""
