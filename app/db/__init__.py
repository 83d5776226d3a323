"""Persistence: tables, engine and sessions, repositories (every query lives here)."""
