"""The language portal's API server, installed as one package: ``langportal``.

The checkout keeps the design's folders at the top (``handlers/``, ``portaldb/``, ``sql/``,
``schemas/``, ``static/``); setup.cfg installs them as ``langportal.handlers``,
``langportal.portaldb``, ``langportal.sql``, ... so an installed wheel puts one name,
``langportal``, into site-packages and finds its SQL, schemas and page with importlib.resources.
"""
