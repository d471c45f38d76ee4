"""The engine's pure reference: the specification the compiled engine is tested against.

Plain Python, never compiled, one copy of each rule and no inlining: the firmware
side (:mod:`.firmware` with :mod:`.queue`, :mod:`.adapter`, :mod:`.ledger`), the
port a workload talks to (:mod:`.port`), and zcrypt's dispatch (:mod:`.zcrypt` with
:mod:`.zcrypt_control` and :mod:`.zcrypt_parts`). tests/engine/test_reference_firmware.py
and tests/engine/test_reference_zcrypt.py drive random operation sequences through it
and through the engine and compare every observable.
"""
