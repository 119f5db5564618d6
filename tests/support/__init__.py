"""Helpers shared by the tests and the benchmark; their only home (test modules never import each other).

- `support.mocks`: the program under Pulumi mocks (config, the recording engine, secret wrappers)
- `support.lab`: the lab on this machine (can it run here, its CLI, its state, its stack config)
- `support.engine`: the real Pulumi engine (CLI and plugins)
"""
