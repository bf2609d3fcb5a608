"""Password rotation: the state machine (machine.py) and each engine's server side."""
