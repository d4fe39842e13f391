"""Alembic migrations of the record's schema (run by ``jiaodong.store.migrate``)."""
