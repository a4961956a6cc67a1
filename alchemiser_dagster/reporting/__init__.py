"""Renderings for people: PNG charts and self-contained HTML pages (reports, backtests)."""
