"""Turnero: the queue-management box of a legal-aid sede."""

__all__ = ["create_app"]


def __getattr__(name):
    # Lazy, so the CLI and the Gunicorn master do not import Flask and every device part.
    if name == "create_app":
        from turnero.web.app import create_app

        return create_app
    raise AttributeError(name)
