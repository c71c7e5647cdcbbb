"""The floor for bench_capacity: the least a durable ticket insert over HTTP can cost on this machine.

One Flask route, one SQLite connection per worker, the same durability as the box (WAL,
synchronous=FULL, one write transaction per request). Served by bench_capacity with Gunicorn's
gevent worker, as the box is:

    FLOOR_DB=/tmp/floor.db python -m gunicorn -k gevent -w 1 -b 127.0.0.1:8000 bench.floor_app:app
"""
from __future__ import annotations

import os
import sqlite3
import time

from flask import Flask, jsonify

app = Flask(__name__)
_conn: sqlite3.Connection | None = None


def connection() -> sqlite3.Connection:
    # Opened on the first request, so in the worker after Gunicorn forked it.
    global _conn
    if _conn is None:
        _conn = sqlite3.connect(os.environ["FLOOR_DB"], isolation_level=None, check_same_thread=False)
        _conn.execute("PRAGMA journal_mode=WAL")
        _conn.execute("PRAGMA synchronous=FULL")
        _conn.execute("CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY, issued_at REAL NOT NULL)")
    return _conn


@app.post("/insert")
def insert():
    conn = connection()
    # No greenlet switch can happen between these calls (no I/O in Python), so one shared
    # connection is safe under gevent.
    conn.execute("BEGIN IMMEDIATE")
    try:
        cursor = conn.execute("INSERT INTO tickets (issued_at) VALUES (?)", (time.time(),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return jsonify({"id": cursor.lastrowid}), 201
