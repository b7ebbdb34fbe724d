"""The entry point in a checkout: ``python server.py [flags]`` runs the portal's API server.

The program itself is the ``langportal`` package (installed by ``pip install -e .``); this file
only starts it as the installed ``langportal`` command does, saying it runs from this checkout so
that the embedded database keeps its data in ``./data`` here rather than in the per-user folder.

Test-client suites import the application from here: ``from server import make_app`` (the same
function as ``from langportal import make_app``).
"""

import sys
from pathlib import Path

from langportal import make_app
from langportal.program import main

__all__ = ["make_app"]

if __name__ == "__main__":
    sys.exit(main(prog="server.py", checkout=Path(__file__).resolve().parent))
