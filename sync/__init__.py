"""The sync part of the box (see its issue). Wired by turnero.app.create_app via init_app."""


def init_app(app):
    """Register this part with the app (nothing yet)."""


def run_cli(args) -> int:
    """`turnero sync` (built by the sync issue)."""
    import sys

    print("turnero: sync is not built yet", file=sys.stderr)
    return 1
