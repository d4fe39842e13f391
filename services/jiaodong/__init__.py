"""Jiaodong cross-court delegation platform."""

__version__ = "0.1.0"
