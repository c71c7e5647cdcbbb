"""Staff users, devices and their credentials.

Passwords are hashed with Argon2id (memory-hard). Login and device tokens are random and only
their SHA-256 is stored, so a copied database does not hand out working tokens.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from turnero.audit import record as record_audit
from turnero.errors import DomainError, conflict, invalid
from turnero.i18n import LANGUAGE_NAMES

STAFF_ROLES = ("staff", "supervisor", "admin", "traductor")
DEVICE_ROLES = ("kiosk", "display")
# Which roles satisfy a required role: a supervisor may do what staff do, an admin what both do.
# A translator is granted nothing but its own role (the translation studio, which admins use
# too): no console, no queue, no personal data.
ROLE_GRANTS = {
    "staff": {"staff", "supervisor", "admin"},
    "supervisor": {"supervisor", "admin"},
    "admin": {"admin"},
    "traductor": {"traductor", "admin"},
    "kiosk": {"kiosk"},
    "display": {"display"},
}
_hasher = PasswordHasher()
_dummy_hash = _hasher.hash("not-a-password")


class Principal(dict):
    """Who is asking: {"kind": "user"|"device", "name", "role", "services"} (a user also "languages")."""

    @property
    def role(self) -> str:
        return self["role"]

    @property
    def name(self) -> str:
        return self["name"]

    def has(self, *roles: str) -> bool:
        return any(self.role in ROLE_GRANTS[role] for role in roles)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, store, session_hours: int = 12):
        self.store = store
        self.session_hours = session_hours

    def add_user(self, username: str, role: str, password: str, audit: dict | None = None,
                 services: list | None = None) -> None:
        """Errors: invalid_username, invalid_role, weak_password (422), user_exists (409).
        ``services``: the discreet services whose personal data this user may see."""
        if not re.fullmatch(r"[a-zA-Z0-9._-]{2,40}", username or ""):
            raise invalid("invalid_username", "El usuario debe tener de 2 a 40 letras, dígitos, '.', '_' o '-'.")
        if role not in STAFF_ROLES:
            raise invalid("invalid_role", f"Rol desconocido: {role!r}. Use {', '.join(STAFF_ROLES)}.")
        if len(password or "") < 8:
            raise invalid("weak_password", "La contraseña debe tener al menos 8 caracteres.")
        password_hash = _hasher.hash(password)
        try:
            with self.store.write(audit=audit) as tx:
                tx.execute("INSERT INTO users (username, role, password_hash, created_at, services) "
                           "VALUES (?, ?, ?, ?, ?)", (username, role, password_hash, tx.now,
                                                      json.dumps(sorted(set(services or [])))))
        except sqlite3.IntegrityError:
            raise conflict("user_exists", f"El usuario {username!r} ya existe.") from None

    def set_password(self, username: str, password: str, audit: dict | None = None) -> None:
        if len(password or "") < 8:
            raise invalid("weak_password", "La contraseña debe tener al menos 8 caracteres.")
        with self.store.write(audit=audit) as tx:
            changed = tx.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                                 (_hasher.hash(password), username)).rowcount
            if not changed:
                raise DomainError("unknown_user", f"No existe el usuario {username!r}.", 404)
            tx.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)", (username,))

    def login(self, username: str, password: str, client: str | None = None) -> dict:
        """A new session token; success and failure are both audited. Errors: invalid_credentials (401)."""
        row = self.store.read_one("SELECT * FROM users WHERE username = ? AND active = 1", (username,))
        try:
            # Verify against a dummy hash for unknown users so timing does not reveal who exists.
            _hasher.verify(row["password_hash"] if row else _dummy_hash, password)
        except (VerificationError, InvalidHashError):
            row = None
        if row is None:
            record_audit(self.store, {"actor": str(username)[:40], "role": "unknown", "action": "login_failed",
                                      "client": client})
            raise DomainError("invalid_credentials", "Usuario o contraseña incorrectos.", 401)
        token = secrets.token_urlsafe(32)
        entry = {"actor": row["username"], "role": row["role"], "action": "login", "client": client}
        with self.store.write(audit=entry) as tx:
            expires = tx.now + self.session_hours * 3600
            tx.execute("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                       (token_hash(token), row["id"], tx.now, expires))
            tx.execute("DELETE FROM sessions WHERE expires_at < ?", (tx.now,))
        return {"token": token, "expires_at": expires, "user": {"username": row["username"], "role": row["role"]}}

    def logout(self, token: str, audit: dict | None = None) -> None:
        with self.store.write(audit=audit) as tx:
            tx.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))

    def add_device(self, name: str, role: str, services: list | None = None,
                   audit: dict | None = None) -> str:
        """Register a device and return its token (shown once). Re-adding a name replaces its token."""
        _check_device(name, role)
        token = secrets.token_urlsafe(32)
        with self.store.write(audit=audit) as tx:
            _save_device(tx, name, role, json.dumps(services or []), token)
        return token

    PAIRING_MINUTES = 10

    def create_pairing_code(self, name: str, role: str, services: list | None, created_by: str,
                            audit: dict | None = None) -> str:
        """A one-time 8-digit code that pairs a device named ``name`` (valid 10 minutes)."""
        _check_device(name, role)
        code = f"{secrets.randbelow(10**8):08d}"
        with self.store.write(audit=audit) as tx:
            tx.execute("DELETE FROM pairing_codes WHERE expires_at < ? OR used_at IS NOT NULL", (tx.now,))
            tx.execute("INSERT INTO pairing_codes (code_hash, name, role, services, created_by, expires_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)", (token_hash(code), name, role, json.dumps(services or []),
                                                     created_by, tx.now + self.PAIRING_MINUTES * 60))
        return code

    def redeem_pairing_code(self, code: str, audit: dict | None = None) -> tuple[str, str]:
        """Exchange a pairing code for a new device token: (token, role). Errors: invalid_code (422)."""
        digest = token_hash((code or "").strip().replace(" ", ""))
        with self.store.write(audit=audit) as tx:
            row = tx.one("SELECT * FROM pairing_codes WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
                         (digest, tx.now))
            if row is None:
                raise invalid("invalid_code", "Código de vinculación incorrecto o vencido.")
            tx.execute("UPDATE pairing_codes SET used_at = ? WHERE code_hash = ?", (tx.now, digest))
            token = secrets.token_urlsafe(32)
            _save_device(tx, row["name"], row["role"], row["services"], token)
        return token, row["role"]

    def set_active(self, username: str, active: bool, audit: dict | None = None) -> None:
        """Deactivate (or reactivate) a user; deactivation ends their sessions."""
        with self.store.write(audit=audit) as tx:
            changed = tx.execute("UPDATE users SET active = ? WHERE username = ?", (int(active), username)).rowcount
            if not changed:
                raise DomainError("unknown_user", f"No existe el usuario {username!r}.", 404)
            if not active:
                tx.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)",
                           (username,))

    def revoke_device(self, name: str, audit: dict | None = None) -> bool:
        with self.store.write(audit=audit) as tx:
            return tx.execute("UPDATE devices SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                              (tx.now, name)).rowcount > 0

    def devices(self) -> list[dict]:
        return [{"name": row["name"], "role": row["role"], "services": json.loads(row["services"]),
                 "revoked": row["revoked_at"] is not None}
                for row in self.store.read("SELECT * FROM devices ORDER BY name")]

    def set_services(self, username: str, services: list, audit: dict | None = None) -> None:
        """Assign the discreet services a user attends. Errors: unknown_user (404)."""
        self._set_user_list("services", username, services, audit)

    def set_languages(self, username: str, languages: list, offered, audit: dict | None = None) -> None:
        """The languages a user attends in without an interpreter (Ley 29735), of those the sede
        offers (``offered``). Errors: invalid_language (422), unknown_user (404)."""
        if not isinstance(languages, list):
            raise invalid("invalid_language", "Indique una lista de idiomas.")
        # (a code that is not text, e.g. a JSON list or object, is refused too: not looked up)
        unknown = [code for code in languages
                   if not isinstance(code, str) or code not in LANGUAGE_NAMES or code not in offered]
        if unknown:
            raise invalid("invalid_language", f"Idioma no disponible en esta sede: {unknown[0]!r}.")
        self._set_user_list("languages", username, languages, audit)

    def _set_user_list(self, column: str, username: str, values: list, audit: dict | None) -> None:
        """Store a user's list column (services, languages) sorted and without repeats."""
        with self.store.write(audit=audit) as tx:
            changed = tx.execute(f"UPDATE users SET {column} = ? WHERE username = ?",
                                 (json.dumps(sorted(set(values))), username)).rowcount
            if not changed:
                raise DomainError("unknown_user", f"No existe el usuario {username!r}.", 404)

    def languages(self, username: str) -> list:
        row = self.store.read_one("SELECT languages FROM users WHERE username = ?", (username,))
        if row is None:
            raise DomainError("unknown_user", f"No existe el usuario {username!r}.", 404)
        return json.loads(row["languages"])

    def users(self) -> list[dict]:
        return [{"username": row["username"], "role": row["role"], "active": bool(row["active"]),
                 "services": json.loads(row["services"]), "languages": json.loads(row["languages"])}
                for row in self.store.read("SELECT * FROM users ORDER BY username")]

    def authenticate(self, token: str | None, now: float) -> Principal | None:
        """The principal behind a bearer token (session or device), or None."""
        if not token:
            return None
        digest = token_hash(token)
        row = self.store.read_one(
            "SELECT u.username, u.role, u.services, u.languages FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = ? AND s.expires_at > ? AND u.active = 1", (digest, now))
        if row is not None:
            return Principal(kind="user", name=row["username"], role=row["role"],
                             services=json.loads(row["services"]), languages=json.loads(row["languages"]))
        row = self.store.read_one("SELECT * FROM devices WHERE token_hash = ? AND revoked_at IS NULL", (digest,))
        if row is not None:
            return Principal(kind="device", name=row["name"], role=row["role"], services=json.loads(row["services"]))
        return None


def _check_device(name: str, role: str):
    if not re.fullmatch(r"[a-zA-Z0-9._-]{2,40}", name or ""):
        raise invalid("invalid_name", "El nombre del equipo debe tener de 2 a 40 letras, dígitos, '.', '_' o '-'.")
    if role not in DEVICE_ROLES:
        raise invalid("invalid_role", f"Rol desconocido: {role!r}. Use {', '.join(DEVICE_ROLES)}.")


def _save_device(tx, name: str, role: str, services_json: str, token: str):
    """Insert the device, or give an existing name a new token (the old one stops working)."""
    tx.execute("INSERT INTO devices (name, role, services, token_hash, created_at) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT(name) DO UPDATE SET role = excluded.role, services = excluded.services, "
               "token_hash = excluded.token_hash, revoked_at = NULL",
               (name, role, services_json, token_hash(token), tx.now))
