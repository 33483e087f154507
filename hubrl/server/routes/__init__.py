"""The local Hub's routes, one module per resource, each handler beside its route; each module exposes ``routes``.

:mod:`~hubrl.server.routes.users` (whoami), :mod:`~hubrl.server.routes.repos` (create, delete, settings,
branches), :mod:`~hubrl.server.routes.models` (model info, listing), :mod:`~hubrl.server.routes.files` (trees,
paths-info, downloads), :mod:`~hubrl.server.routes.commits` (preupload, commits, history),
:mod:`~hubrl.server.routes.cards` (``validate-yaml``), :mod:`~hubrl.server.routes.datasets` (the benchmark
datasets: info, files, leaderboard), :mod:`~hubrl.server.routes.pages` (the pages).
:func:`hubrl.server.app.create_app` assembles them.

Every handler is a coroutine: it asks :class:`~hubrl.server.access.Caller` first, reads the body (if any) with
:mod:`hubrl.server.web`, and runs disk work (storage, hashing, reading cards) in Starlette's thread pool.
"""
