"""The box's side of shared languages (SPEC, "Languages"; issue #13), over the one central client.

- :func:`publish`: propose this sede's reviewed catalog of a language, and its reviewed recorded
  voice pack if there is one, to ``POST {central}/api/v1/sedes/{sede}/languages``.
- :func:`pull`: fetch ``GET {central}/api/v1/languages?since=<cursor>``, download each approved
  package, verify its sha256 and apply it live (:mod:`turnero.language_share`). It runs within
  the appointment pull (:meth:`sync.agent.SyncAgent.pull`), so it is paced by ``interval_seconds``
  and follows the agent's settings; its failures are its own (kept with the cursor in the box's
  ``kv`` and shown in /healthz's sync section as ``language_packages_*``) and never hold back the events.

A package whose bytes do not match its sha256 is discarded and the cursor stays where it was:
the next pull tries again. A package that matches but is not valid (an archive with a path out
of its folder) is refused for good: retrying cannot fix it, the error stays visible and the
cursor moves past it. A box that cannot reach the central keeps what it has.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
import time

from sync import DISABLED_MESSAGE
from sync.backoff import Backoff
from sync.client import CentralClient, Retryable, SyncError
from turnero.errors import DomainError
from turnero.language_share import (MAX_PACKAGE_BYTES, LanguageSyncState, PackageError, apply_catalog, apply_voice,
                                    build_catalog, build_voice)
from turnero.translations import Translations, target_languages

log = logging.getLogger(__name__)
MAX_PAGES = 20
PUBLISH_TRIES = 3


def pull(engine, client: CentralClient) -> dict:
    """Apply every package approved after the stored cursor. Returns {"applied", "refused"} and,
    after a failure, "error" (also recorded for /healthz); never raises a sync error."""
    state = LanguageSyncState(engine.store)
    cursor, applied, refused, problems = state.cursor(), 0, 0, []
    try:
        for _ in range(MAX_PAGES):
            packages, new_cursor = client.languages(cursor)
            for item in packages:
                problem = _fetch_and_apply(engine, client, item)
                if problem is None:
                    applied += 1
                else:
                    refused += 1
                    problems.append(problem)
            state.set_cursor(new_cursor)
            if not packages or new_cursor == cursor:
                break
            cursor = new_cursor
    except (SyncError, OSError, sqlite3.Error) as exc:  # a fault (disk full, database busy) mid-apply too:
        problems.append(f"language packages: {exc}")  # the cursor stays before it, the next pull tries again
    if problems:
        state.record_error("; ".join(problems), engine.clock())
        log.warning("language packages: %s", "; ".join(problems))
        return {"applied": applied, "refused": refused, "error": problems[-1]}
    state.clear_error()
    return {"applied": applied, "refused": refused}


def _fetch_and_apply(engine, client: CentralClient, item: dict) -> str | None:
    """Download, verify and apply one package; returns why it was refused for good (None: applied).
    A mismatched sha256 raises Retryable: the package is discarded and fetched again next time."""
    label = f"{item['language']} {item['kind']} v{item['version']}"
    data = client.download(item["url"], MAX_PACKAGE_BYTES)
    if hashlib.sha256(data).hexdigest() != item["sha256"].lower():
        raise Retryable(f"{label}: the download does not match its sha256; discarded, will retry")
    try:
        if item["kind"] == "catalog":
            result = apply_catalog(engine.store, item["language"], data, item["version"])
        else:
            result = apply_voice(engine.store, engine.settings.voice["pack_dir"], item["language"], data,
                                 item["version"])
    except PackageError as exc:
        return f"{label} refused: {exc.message}"
    except DomainError as exc:  # no [voice] pack_dir, a language this box does not have
        log.info("language package %s not applied here: %s", label, exc.message)
        return None
    log.info("language package %s applied: %s", label, result)
    return None


def publish(engine, sync_settings: dict, language: str, by: str) -> list[dict]:
    """Propose ``language``'s reviewed catalog (and reviewed voice pack, if any) to the central.
    Returns one {"kind", "id", "items", "sha256"} per package sent. Errors (DomainError):
    sync_disabled, nothing_to_publish (409), invalid_language (422), central_refused (502)."""
    if language not in target_languages():
        raise DomainError("invalid_language", f"No se traduce a {language!r}.", 422)
    if not sync_settings.get("central_url"):
        raise DomainError("sync_disabled", DISABLED_MESSAGE, 409)
    sede = engine.settings.sede["code"]
    packages = [built for built in (build_catalog(Translations(engine.store), language, sede),
                                    build_voice(engine.settings.voice["pack_dir"], language)) if built]
    if not packages:
        raise DomainError("nothing_to_publish", "No hay textos ni grabaciones revisados de este idioma "
                          "para proponer a la central.", 409)
    client = CentralClient(sync_settings["central_url"], sede, sync_settings["token"], sync_settings["timeout_seconds"])
    try:
        sent = []
        for data, metadata in packages:
            metadata = {**metadata, "sede": sede, "published_by": by}
            answer = _with_retries(lambda: client.propose(metadata, data), sync_settings)
            sent.append({"kind": metadata["kind"], "id": answer.get("id"), "items": metadata["items"],
                         "sha256": answer.get("sha256")})
        return sent
    except SyncError as exc:
        raise DomainError("central_refused", f"La central no recibió la propuesta: {exc}", 502) from None
    finally:
        client.close()


def _with_retries(call, sync_settings: dict):
    """A person waits for the answer: a few tries with the agent's backoff, then the error."""
    backoff = Backoff(sync_settings.get("backoff_base_seconds", 2.0), cap_seconds=10.0)
    for attempt in range(PUBLISH_TRIES):
        try:
            return call()
        except Retryable as exc:
            if attempt == PUBLISH_TRIES - 1:
                raise
            time.sleep(backoff.next_delay(exc.retry_after))
