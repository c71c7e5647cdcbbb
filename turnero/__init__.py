"""Turnero: the queue-management box of a legal-aid sede."""
from turnero.app import create_app

__all__ = ["create_app"]
