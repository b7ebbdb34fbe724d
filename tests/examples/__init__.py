"""Every example in README.md and docs/**/*.md runs as a test: `pytest tests/examples -v`.

The convention the documents follow:

- ```console blocks are transcripts. A line starting with `$ ` is a command (continued onto the
  next line while a line ends with ` \\`); the lines after it, up to the next `$ ` line or the
  block's end, are its expected output, compared exactly (trailing whitespace and final newlines
  aside) except that `...` matches any text, also across lines. Each command runs with bash from
  the checkout root and must exit 0.
- ```sh, ```bash and ```shell blocks run with `bash -e` from the checkout root, for their exit
  status only.
- Both run in document order (README.md, then docs/**/*.md by path) against one live server,
  started with --enable-reset and the demo data (3 groups, 3 activities, no sessions: the first
  session created gets id 1); `http://localhost:5000`, `localhost:5000` and `127.0.0.1:5000` in a
  command are replaced with its real address.
- ```python blocks are pytest files, each run on its own with `python -m pytest` from the checkout
  root (PYTHONPATH = the checkout), DATABASE_URL = a new database with the demo data, warnings as
  errors; at least one test must pass.
- A block whose opening fence follows `<!-- not run: REASON -->` (the previous non-blank line) is
  skipped, and the skip says where and why. A runnable block that cannot be parsed fails.
- Other languages (text, ini, json, none) are not examples.

``runner.py`` finds and runs the blocks, ``conftest.py`` has the server and the databases,
``test_docs_examples.py`` is one test per block, ``test_runner.py`` tests the runner itself on
``sample.md``.
"""
