"""Long work off the event loop: a month's report, a what-if forecast, a flush to disk.

Under gevent (``turnero run``) one greenlet computing for a second holds every other request for
that second. ``offload`` runs such a call on a native thread of gevent's pool instead: SQLite
releases the interpreter while it reads, and a computation in Python is interrupted every few
milliseconds, so the event loop keeps answering. (gevent's patched locks work across threads.)
Elsewhere (tests, the CLI) the call simply runs here.
"""
from __future__ import annotations


def offload(call, *args, **kwargs):
    from turnero.web.realtime import async_mode

    if async_mode() != "gevent":
        return call(*args, **kwargs)
    import gevent

    return gevent.get_hub().threadpool.apply(call, args, kwargs)
