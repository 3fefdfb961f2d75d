"""`python -m sendgate` runs the command line."""

from sendgate.cli import main

raise SystemExit(main())
