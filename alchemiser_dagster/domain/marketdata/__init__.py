"""Market data: validated daily bars (``bars``), the symbol universe (``universe``) and the
deterministic synthetic market (``synth``). Import from the submodules."""
