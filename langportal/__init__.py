"""The language portal's API server, installed as one package: ``langportal``.

The checkout keeps the design's folders at the top (``handlers/``, ``portaldb/``, ``sql/``,
``schemas/``, ``static/``); ``langportal/`` holds a relative symbolic link to each, so
``langportal.handlers``, ``langportal.portaldb``, ... resolve in a plain checkout for Python, mypy
and every other tool, and setup.cfg installs the same folders as those subpackages: an installed
wheel puts one name, ``langportal``, into site-packages and finds its SQL, schemas and page with
importlib.resources.

``make_app`` is the API as a Tornado application around an asyncpg pool, for test-client suites:
``from langportal import make_app`` (or ``from server import make_app`` in a checkout).
"""

from .handlers import make_app

__all__ = ["make_app"]
