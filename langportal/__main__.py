"""``python -m langportal``: the same program as the ``langportal`` command and ``python server.py``."""

import sys

from langportal.program import main

sys.exit(main(prog="python -m langportal"))
