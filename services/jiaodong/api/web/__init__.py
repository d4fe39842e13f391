"""The command centre's web board (HTTP adapter on the coordinator's application core)."""
