"""Market data: validated daily bars (``bars``) and the per-session bar (``session_bars``).
Synthetic data lives in :mod:`alchemiser_dagster.demo`. Import from the submodules."""
