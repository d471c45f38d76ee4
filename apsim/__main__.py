"""``python -m apsim``: the ``apsim`` command line."""

from apsim.cli import main

raise SystemExit(main())
