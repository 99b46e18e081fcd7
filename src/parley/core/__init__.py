"""Shared building blocks. Knows no service; every service builds on it."""
