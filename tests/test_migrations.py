"""Schema migrations over a database made by an earlier version: nothing stored is lost."""
from __future__ import annotations

import sqlite3

import pytest

from turnero import store as store_module
from turnero.accounts import Accounts
from turnero.errors import DomainError
from turnero.store import Store

BEFORE_TRANSLATORS = 11  # the last migration before users were made anew


def test_remaking_users_keeps_accounts_and_signed_in_sessions(tmp_path, monkeypatch):
    path = tmp_path / "box.db"
    with monkeypatch.context() as old_version:
        old_version.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:BEFORE_TRANSLATORS])
        store = Store(path)
        accounts = Accounts(store, 12)
        accounts.add_user("ana", "staff", "una-clave-larga-123")
        accounts.add_user("sofia", "supervisor", "otra-clave-larga-456")
        accounts.set_services("ana", ["VIC"])
        signed_in = accounts.login("ana", "una-clave-larga-123")["token"]
        store.close()

    store = Store(path)
    accounts = Accounts(store, 12)
    assert accounts.authenticate(signed_in, store.clock())["name"] == "ana"  # nobody is signed out
    users = {user["username"]: user for user in accounts.users()}
    assert users["ana"]["role"] == "staff" and users["sofia"]["role"] == "supervisor"
    assert users["ana"]["services"] == ["VIC"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT languages FROM users WHERE username = 'ana'").fetchone() == ("[]",)
        # the role check is the new one: a translator may be stored, an unknown role may not
        conn.execute("UPDATE users SET role = 'traductor' WHERE username = 'sofia'")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE users SET role = 'jefe' WHERE username = 'sofia'")
    with pytest.raises(DomainError):  # the username is still unique
        accounts.add_user("ana", "staff", "una-clave-larga-123")
    store.close()
