"""HTTP to the central receiver (SPEC.md, "Sync protocol"): push a batch, pull appointments.

Every failure becomes one of two exceptions, which is all the agent needs to decide:
:class:`Retryable` (connection errors, timeouts, 5xx, 408, 429: back off and try again) or
:class:`Rejected` (any other 4xx, a refused URL: stop and keep every event).

Retries are the agent's, not urllib3's: a ``Retry`` inside the adapter would sleep inside a call
that must return quickly to report state, and could not persist its backoff across a restart.
The token travels only in the ``Authorization`` header and never appears in a message.
"""
from __future__ import annotations

import ipaddress
import json
import re
import time
from urllib.parse import quote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from sync.backoff import parse_retry_after

RETRYABLE_STATUS = {408, 429}
USER_AGENT = "turnero-sync/1"


class SyncError(Exception):
    """A failed exchange; ``str()`` is one line fit for /healthz and the CLI (no token)."""


class Retryable(SyncError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(SyncError):
    """The central side refused the request for a reason a retry will not fix."""


def check_central_url(url: str) -> str:
    """Return the URL without a trailing slash, or raise Rejected: only https, or http to loopback."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Rejected(f"sync.central_url is not an http(s) URL: {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise Rejected(f"sync.central_url must use https (plain http is allowed only to loopback): {url!r}")
    if parts.username or parts.password:
        raise Rejected("sync.central_url must not carry credentials; use sync.token")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CentralClient:
    def __init__(self, central_url: str, sede: str, token: str, timeout: float = 10):
        self.base = check_central_url(central_url)
        self.sede = sede
        self._token = token
        self.timeout = timeout
        self.session = requests.Session()
        # Our own backoff decides when to retry (see the module docstring).
        self.session.mount("http://", HTTPAdapter(max_retries=0, pool_maxsize=2))
        self.session.mount("https://", HTTPAdapter(max_retries=0, pool_maxsize=2))
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    def __repr__(self):
        return f"CentralClient({self.base!r}, sede={self.sede!r})"

    def close(self):
        self.session.close()

    def _url(self, what: str) -> str:
        return f"{self.base}/api/v1/sedes/{quote(self.sede, safe='')}/{what}"

    def push(self, events: list[dict], epoch: str | None = None, audit_head: dict | None = None,
             about: dict | None = None) -> int:
        """POST a contiguous batch of this database's ``epoch``, with its audit chain head; returns
        the central side's ``acked_seq`` for that epoch. ``about`` (``{"services", "timezone"}``)
        is added to the body as is: an additive extension the central uses for its figures."""
        payload = {"sede": self.sede, "events": events}
        if epoch is not None:
            payload = {"sede": self.sede, "epoch": epoch, "events": events, "audit_head": audit_head}
        payload.update(about or {})
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = self._request("POST", self._url("events"), data=body,
                                 headers={"Content-Type": "application/json"})
        acked = _json(response).get("acked_seq")
        if not isinstance(acked, int) or isinstance(acked, bool) or acked < 0:
            raise Retryable(f"central answered without a valid acked_seq (HTTP {response.status_code})")
        return acked

    def anchors(self) -> list[dict]:
        """GET what the central side holds of this sede, per epoch: ``[{"epoch", "acked_seq",
        "audit_head": {"row", "hash"} | None, "last_received_at"}]`` (``turnero audit verify
        --against-central``)."""
        epochs = _json(self._request("GET", self._url("anchor"))).get("epochs")
        if not isinstance(epochs, list) or not all(_is_anchor(item) for item in epochs):
            raise Retryable("central answered its anchor without a valid list of epochs")
        return epochs

    def pull(self, since: str | None) -> tuple[list[dict], str | None]:
        """GET appointments changed since the cursor; returns (appointments, new cursor)."""
        params = {"since": since} if since else None
        body = _json(self._request("GET", self._url("appointments"), params=params))
        appointments = body.get("appointments")
        if not isinstance(appointments, list):
            raise Retryable("central answered appointments without a list")
        cursor = body.get("cursor")
        return appointments, (str(cursor) if cursor is not None else since)

    # ------------------------------------------------------------------ languages (issue #13)

    def languages(self, since: str | None) -> tuple[list[dict], str | None]:
        """GET the language packages approved since the cursor; returns (packages, new cursor)."""
        params = {"since": since} if since else None
        body = _json(self._request("GET", f"{self.base}/api/v1/languages", params=params))
        packages = body.get("packages")
        if not isinstance(packages, list) or not all(_is_package(item) for item in packages):
            raise Retryable("central answered languages without a valid list of packages")
        cursor = body.get("cursor")
        return packages, (str(cursor) if cursor is not None else since)

    def download(self, url: str, max_bytes: int) -> bytes:
        """GET a package from this central (a URL elsewhere is refused: the token goes nowhere else)."""
        target = urljoin(self.base + "/", url)
        if not target.startswith(self.base + "/"):
            raise Rejected(f"central named a package outside itself: {url[:200]!r}")
        response = self._request("GET", target, stream=True)
        try:
            data = response.raw.read(max_bytes + 1, decode_content=True)
        except (requests.RequestException, OSError) as exc:
            raise Retryable(f"package download failed: {_reason(exc)}") from None
        finally:
            response.close()
        if len(data) > max_bytes:
            raise Retryable(f"central sent a package over {max_bytes} bytes")
        return data

    def propose(self, metadata: dict, data: bytes) -> dict:
        """POST a reviewed package (multipart ``metadata`` JSON and ``package`` file) to propose it."""
        name = f"{metadata['language']}-{metadata['kind']}.{'json' if metadata['kind'] == 'catalog' else 'zip'}"
        files = {"metadata": (None, json.dumps(metadata, ensure_ascii=False), "application/json"),
                 "package": (name, data, "application/octet-stream")}
        return _json(self._request("POST", self._url("languages"), files=files))

    def _request(self, method: str, url: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"Bearer {self._token}"
        try:
            # No redirects: the https-only rule and the token are for the configured URL alone.
            response = self.session.request(method, url, headers=headers, timeout=self.timeout,
                                            allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise Retryable(f"central did not answer within {self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise Retryable(f"cannot reach central: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise Retryable(f"request to central failed: {type(exc).__name__}") from None
        status = response.status_code
        if status < 300:
            return response
        detail = _error_detail(response)
        if status >= 500 or status in RETRYABLE_STATUS:
            raise Retryable(f"central answered HTTP {status}{detail}",
                            parse_retry_after(response.headers.get("Retry-After"), time.time()))
        raise Rejected(f"central refused the request: HTTP {status}{detail}")


def _json(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise Retryable(f"central answered HTTP {response.status_code} with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise Retryable("central answered JSON that is not an object")
    return body


def _is_package(item) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("language"), str) and item.get("kind") in ("catalog", "voice")
            and isinstance(item.get("version"), int) and not isinstance(item.get("version"), bool)
            and isinstance(item.get("sha256"), str) and isinstance(item.get("url"), str))


def _is_anchor(item) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("epoch"), str):
        return False
    acked, head = item.get("acked_seq"), item.get("audit_head")
    if not isinstance(acked, int) or isinstance(acked, bool):
        return False
    return head is None or (isinstance(head, dict) and isinstance(head.get("row"), int)
                            and not isinstance(head.get("row"), bool) and isinstance(head.get("hash"), str))


def _error_detail(response) -> str:
    try:
        error = response.json().get("error") or {}
        code, message = error.get("code"), error.get("message")
    except (ValueError, AttributeError):
        return ""
    if not code:
        return ""
    return f" {code}: {message}"[:300] if message else f" {code}"


def _reason(exc: Exception) -> str:
    """A few words on why (urllib3's message names the URL, never the headers)."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return errno.group(1).strip()
    if "RemoteDisconnected" in text or "Connection aborted" in text or "ConnectionResetError" in text:
        return "the connection was closed before an answer"
    return text[:200]
