"""The printers part of the box (see its issue). Wired by turnero.app.create_app via init_app."""


def init_app(app):
    """Register this part with the app (nothing yet)."""
