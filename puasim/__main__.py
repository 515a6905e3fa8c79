"""``python -m puasim``: the ``puasim`` command line (:mod:`puasim.cli`)."""

import sys

from puasim.cli import main

sys.exit(main())
