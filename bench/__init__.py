"""Benchmarks (not part of the installed package); run scripts from the repo root."""
