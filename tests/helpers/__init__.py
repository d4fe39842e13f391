"""Helpers shared by the test tiers (handlers, integration, fuzz, e2e, faults).

- ``factory``: valid requests and drafts (fictitious people, correct check characters).
- ``region``: the socket-free region (node and coordinator handlers over SQLite, the outbox
  carried by the test) and the one module that reaches past the handlers' facade.
- ``network``: the live region (real nats-server, real gRPC over mutual TLS) and gRPC helpers.
- ``postgres``: where the test PostgreSQL server is, and whether it answers.

A tier imports these, never another tier's conftest or modules.
"""
