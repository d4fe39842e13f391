"""The handler tier: the node and coordinator handlers, socket-free and fast.

Each test gets a region of its own (tests/helpers/region.py): the coordinator and the Qingdao,
Yantai and Weifang nodes as ``Coordinator`` and ``CourtNode`` objects over SQLite files in the
test's temporary folder, on a manual clock, with no nats-server and no gRPC. Tests call the
handlers' facade (create, act, request, get, list, steer) and ``region.settle()`` carries the
outboxes through the transport's own delivery code until the region is quiet. Lifecycle flow,
idempotency, what happens before delivery and the refusal of requests belong here; what the
transport or gRPC itself does (status codes on the wire, TLS, JetStream redelivery, broker faults)
stays in tests/integration.
"""
