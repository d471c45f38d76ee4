"""The engine's pure reference: the specification the compiled engine is tested against.

Plain Python, never compiled, one copy of each rule and no inlining: the firmware
side (:mod:`.firmware` with :mod:`.queue`, :mod:`.adapter`, :mod:`.ledger`), the
port a workload talks to (:mod:`.port`). tests/engine/test_reference_firmware.py
drives random operation sequences through it and through the engine and compares
every observable.
"""
