"""Benchmarks of the box, the kiosk printer path, the display, voice, consoles, stats and sync.

Each ``bench_*.py`` is a standalone script that prints its figures; ``python -m bench`` runs them all.
"""
