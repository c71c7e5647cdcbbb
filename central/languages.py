"""Language packages at the central (SPEC, "Languages"; issue #13): a sede proposes a reviewed
catalog or voice pack (state ``revisado``), the central office approves it (``aprobado``, a new
version per language and kind), and every sede pulls what was approved after its cursor.

The package format and its checks are :mod:`turnero.language_share`, the same code the boxes
use, so the central refuses what a box would refuse (an archive with a path out of its folder,
a catalog that is not JSON). The bytes are stored base64 in ``language_blobs`` (see the schema
step in :mod:`central.db`); the sha256 is computed here on receipt and is what boxes verify.
"""
from __future__ import annotations

import base64
import hashlib
import json

from central.service import CentralError, bearer_hash, now_text
from turnero.language_share import KINDS, LANGUAGE, MAX_PACKAGE_BYTES, PackageError, read_catalog, voice_items

PAGE = 100
PROPOSED, APPROVED = "revisado", "aprobado"


def authenticate_any_sede(db, authorization: str | None) -> str:
    """The sede whose token this is (approved packages are for every sede). Errors: missing_token,
    invalid_token (401)."""
    row = db.one("SELECT code FROM sedes WHERE token_hash = ?", (bearer_hash(authorization),))
    if row is None:
        raise CentralError("invalid_token", "The token is not a sede's token.", 401)
    return row[0]


def _items(language: str, kind: str, data: bytes) -> dict:
    """key -> text (catalog) or clip key -> file name (voice); PackageError as 422."""
    try:
        return read_catalog(data, language) if kind == "catalog" else voice_items(data, language)
    except PackageError as exc:
        raise CentralError("invalid_package", exc.message, 422) from None


def propose(db, code: str, metadata_text, data: bytes | None) -> dict:
    """Keep a sede's proposal (its token checked by the caller, before the body is read). Errors:
    bad_request (400: no metadata or package), invalid_language, invalid_kind, invalid_package
    (422), too_large (413)."""
    try:
        metadata = json.loads(metadata_text) if isinstance(metadata_text, str) else None
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or data is None:
        raise CentralError("bad_request", "Send a multipart form with 'metadata' (JSON) and 'package' (file).", 400)
    language, kind = metadata.get("language"), metadata.get("kind")
    if not isinstance(language, str) or not LANGUAGE.fullmatch(language) or language == "es":
        raise CentralError("invalid_language", "language must be a 2-3 letter code other than 'es'.", 422)
    if kind not in KINDS:
        raise CentralError("invalid_kind", f"kind must be one of {', '.join(KINDS)}.", 422)
    if len(data) > MAX_PACKAGE_BYTES:
        raise CentralError("too_large", "The package is too large.", 413)
    items = _items(language, kind, data)
    sede_version = metadata.get("version")
    clean = {"reviewed_by": [name for name in metadata.get("reviewed_by") or [] if isinstance(name, str)][:20],
             "version": str(sede_version)[:64] if sede_version is not None else None}
    digest = hashlib.sha256(data).hexdigest()
    with db.transaction() as tx:
        ident = _next(tx, "package")
        tx.execute("INSERT INTO language_packages (id, sede, language, kind, state, sede_version, sha256, size, items, "
                   "metadata, proposed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (ident, code, language, kind, PROPOSED, clean["version"], digest, len(data), len(items),
                    json.dumps(clean, ensure_ascii=False), now_text()))
        tx.execute("INSERT INTO language_blobs (id, data) VALUES (?, ?)", (ident, base64.b64encode(data).decode()))
    return {"id": ident, "state": PROPOSED, "sha256": digest, "items": len(items)}


def _next(tx, name: str) -> int:
    tx.execute("UPDATE language_counters SET value = value + 1 WHERE name = ?", (name,))
    return tx.one("SELECT value FROM language_counters WHERE name = ?", (name,))[0]


COLUMNS = ("id", "sede", "language", "kind", "state", "sede_version", "sha256", "size", "items", "metadata",
           "proposed_at", "version", "approved_seq", "approved_at", "approved_by")


def _row(row) -> dict:
    item = dict(zip(COLUMNS, row))
    item["metadata"] = json.loads(item["metadata"] or "{}")
    return item


def list_packages(db, state: str | None = None) -> list[dict]:
    """Every package, newest first, each with ``diff`` against the approved version it would replace."""
    where, params = ("WHERE state = ?", (state,)) if state else ("", ())
    rows = [_row(row) for row in db.all(f"SELECT {', '.join(COLUMNS)} FROM language_packages {where} "
                                        "ORDER BY id DESC", params)]
    parsed: dict = {}  # package id -> its items: a base shared by several rows is read once
    for item in rows:
        item["diff"] = diff(db, item, parsed)
    return rows


def get(db, ident) -> dict:
    row = db.one(f"SELECT {', '.join(COLUMNS)} FROM language_packages WHERE id = ?", (_ident(ident),))
    if row is None:
        raise CentralError("unknown_package", f"No language package {ident!r}.", 404)
    return _row(row)


def _ident(ident) -> int:
    try:
        value = int(ident)
    except (TypeError, ValueError):
        raise CentralError("unknown_package", f"No language package {ident!r}.", 404) from None
    if not 0 < value < 2 ** 63:
        raise CentralError("unknown_package", f"No language package {ident!r}.", 404)
    return value


def blob(db, ident) -> bytes:
    row = db.one("SELECT data FROM language_blobs WHERE id = ?", (_ident(ident),))
    if row is None:
        raise CentralError("unknown_package", f"No language package {ident!r}.", 404)
    return base64.b64decode(row[0])


def current(db, language: str, kind: str, before_version: int | None = None) -> dict | None:
    """The approved package of (language, kind) with the highest version (below ``before_version``)."""
    limit = "AND version < ?" if before_version else ""
    params = (language, kind, APPROVED, before_version) if before_version else (language, kind, APPROVED)
    row = db.one(f"SELECT {', '.join(COLUMNS)} FROM language_packages WHERE language = ? AND kind = ? AND state = ? "
                 f"{limit} ORDER BY version DESC LIMIT 1", params)
    return _row(row) if row else None


def diff(db, item: dict, parsed: dict | None = None) -> dict:
    """What ``item`` changes against the approved version before it: counts of added, changed and
    removed strings (catalog) or clips (voice); ``against`` is that version (None: the first).
    ``parsed`` (package id -> items) keeps what was read for the next call."""
    parsed = {} if parsed is None else parsed

    def items(package: dict) -> dict:
        if package["id"] not in parsed:
            parsed[package["id"]] = _items(package["language"], package["kind"], blob(db, package["id"]))
        return parsed[package["id"]]

    base = current(db, item["language"], item["kind"], item["version"])
    try:
        new = items(item)
        old = items(base) if base else {}
    except CentralError:  # a blob altered after receipt: shown as is, never a failing page
        return {"against": base["version"] if base else None, "added": None, "changed": None, "removed": None}
    return {"against": base["version"] if base else None, "added": len(new.keys() - old.keys()),
            "changed": sum(1 for key in new.keys() & old.keys() if new[key] != old[key]),
            "removed": len(old.keys() - new.keys())}


def approve(db, ident, by: str) -> dict:
    """Approve a proposal: state aprobado, the next version of its (language, kind), the next place in
    the order boxes pull. Errors: unknown_package (404), already_approved (409)."""
    ident = _ident(ident)
    with db.transaction() as tx:
        approval = _next(tx, "approval")  # first: its row lock serializes two approvals on PostgreSQL
        row = tx.one("SELECT language, kind, state FROM language_packages WHERE id = ?", (ident,))
        if row is None:
            raise CentralError("unknown_package", f"No language package {ident!r}.", 404)
        if row[2] == APPROVED:
            raise CentralError("already_approved", f"Language package {ident} is already approved.", 409)
        version = (tx.one("SELECT MAX(version) FROM language_packages WHERE language = ? AND kind = ?",
                          (row[0], row[1]))[0] or 0) + 1
        tx.execute("UPDATE language_packages SET state = ?, version = ?, approved_seq = ?, approved_at = ?, "
                   "approved_by = ? WHERE id = ?", (APPROVED, version, approval, now_text(), by, ident))
    return get(db, ident)


def approved_since(db, since: str | None, url_for) -> dict:
    """``{"packages": [{"language", "kind", "version", "sha256", "url"}], "cursor"}``: approvals
    after the cursor, in approval order (at most :data:`PAGE`). ``url_for(id)`` makes the download URL."""
    if since in (None, ""):
        after = 0
    elif since.isascii() and since.isdigit() and len(since) <= 18:
        after = int(since)
    else:
        raise CentralError("invalid_cursor", "The cursor is not one this server gave.", 400)
    rows = db.all("SELECT id, language, kind, version, sha256, approved_seq FROM language_packages "
                  "WHERE state = ? AND approved_seq > ? ORDER BY approved_seq LIMIT ?", (APPROVED, after, PAGE))
    packages = [{"language": r[1], "kind": r[2], "version": r[3], "sha256": r[4], "url": url_for(r[0])}
                for r in rows]
    return {"packages": packages, "cursor": str(rows[-1][5] if rows else after)}


def approved_blob(db, ident) -> bytes:
    """An approved package's bytes (a proposal is not handed to other sedes before approval)."""
    if get(db, ident)["state"] != APPROVED:
        raise CentralError("unknown_package", f"No approved language package {ident!r}.", 404)
    return blob(db, ident)
