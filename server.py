"""The entry point in a checkout: ``python server.py [flags]`` runs the portal's API server.

The program itself is the ``langportal`` package (installed by ``pip install -e .``); this file
only starts it, exactly as the installed ``langportal`` command does.
"""

import sys

from langportal.program import main

if __name__ == "__main__":
    sys.exit(main())
