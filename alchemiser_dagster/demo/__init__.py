"""Demo data, not the functional core: a deterministic synthetic market (``factors``,
``universe`` profiles, ``synth`` bars) for the demo, the simulator and the tests."""
