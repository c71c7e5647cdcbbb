"""The one domain error. It carries a stable snake_case code and the HTTP status it maps to.

The engine raises it; the web layer only translates it (JSON on the API, a message on a page).
"""


class DomainError(Exception):
    def __init__(self, code: str, message: str, status: int = 409, **details):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details


def not_found(what: str, ident) -> DomainError:
    return DomainError(f"unknown_{what}", f"No existe {what} {ident!r}.", 404)


def invalid(code: str, message: str, **details) -> DomainError:
    """422: a well-formed request whose content is not acceptable."""
    return DomainError(code, message, 422, **details)


def conflict(code: str, message: str, **details) -> DomainError:
    """409: the request does not fit the current state."""
    return DomainError(code, message, 409, **details)
