"""A gRPC method handler with its behaviour wrapped: what a server interceptor does to every call.

The four call shapes (unary or streamed request, unary or streamed response) each have their own
handler constructor; the security gate (jiaodong.security.grpc_auth) and the call metrics
(jiaodong.metrics) both rebuild the handler of a call around their own wrapper. This module
imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

# attribute of the handler, its constructor, request streamed, response streamed
_SHAPES = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler, False, False),
    ("stream_unary", grpc.stream_unary_rpc_method_handler, True, False),
    ("unary_stream", grpc.unary_stream_rpc_method_handler, False, True),
    ("stream_stream", grpc.stream_stream_rpc_method_handler, True, True),
)

# wrap(behaviour, request streamed, response streamed) -> the new behaviour
Wrap = Callable[[Callable[..., Any], bool, bool], Callable[..., Any]]


def rewrapped(
    handler: Any, wrap: Wrap, request_deserializer: Callable[[bytes], Any] | None = None
) -> Any:
    """``handler`` rebuilt with ``wrap`` around its behaviour (and ``request_deserializer``
    instead of its own, when given); None for a handler of no known shape."""
    for attribute, make, streamed_request, streamed_response in _SHAPES:
        inner = getattr(handler, attribute)
        if inner is not None:
            return make(
                wrap(inner, streamed_request, streamed_response),
                request_deserializer=request_deserializer or handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return None
