"""The `jiaodong` command: one module per command group.

gRPC core writes its own log lines to stderr (``E1201 ... add_port.cc:83] Failed to add port``,
handshake failures) next to the CLI's one-line errors; the CLI says what went wrong itself, so
that log is off unless GRPC_VERBOSITY is set. It is read when grpc is first imported: here,
before any command module imports it.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")
