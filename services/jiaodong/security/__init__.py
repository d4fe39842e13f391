"""Identities, transport security and authorization wiring (the policy itself is pure: domain)."""
