"""The engine: apsim's only compiled code, and everything it needs below the model.

SimPy environment and calendar (``core``, ``calendar``, ``simpy_internals``), AP
queues and adapters with their plan/settle steps (``queue``, ``adapter``,
``arbitration``), the request ledger (``request``), configurations (``config``), the
NQAP/DQAP firmware rules and instruction executor (``firmware``, ``instructions``,
``codes``), workloads and the ports they submit through (``workload``, ``port``),
and the recorder's rows (``rows``, ``recorder``, ``seq``). Every module here with a
``.pxd`` beside it is compiled with Cython when a C compiler is at hand
(:mod:`apsim._engine`); without one the same source runs as Python.
"""
