"""Names vulture reports that are used in ways it cannot see (each with the reason).

Passed to vulture after the package by tests/unit/test_dead_code.py. Empty: every
finding at confidence 80 or more was dead and has been deleted.
"""
