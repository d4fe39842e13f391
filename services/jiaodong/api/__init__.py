"""The gRPC edge: servicers, the wire mapping of errors, masking, paging and the SLA view."""
