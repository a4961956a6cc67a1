"""Demo data, not the functional core: a deterministic synthetic market (``scenario`` and
``factors``, ``universe`` profiles, ``synth`` bars) for the demo, the simulator and the tests."""
