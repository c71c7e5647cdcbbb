"""``turnero sync``: ``--status`` prints where the sync is; ``--once`` runs one round and exits
non-zero with one line on failure. ``--once`` also lifts a stop (SPEC.md)."""
from __future__ import annotations

import sys

from config import load_settings, resolve_data_dir
from sync.agent import SyncAgent, purge
from sync.client import Rejected, SyncError
from turnero.sync_state import SyncState, settings_fingerprint, status
from turnero.engine import Engine
from turnero.store import Store


def run(args) -> int:
    data_dir = resolve_data_dir(args.data_dir)
    settings = load_settings(data_dir)
    store = Store.in_data_dir(data_dir)
    engine = Engine(store, settings)
    try:
        if args.once:
            return _once(engine, settings, getattr(args, "progress", None))
        _print_status(status(engine, settings.sync))
        return 0
    finally:
        store.close()


def _once(engine, settings, progress=None) -> int:
    sync = settings.sync
    if not sync["central_url"]:
        print("turnero: sync is disabled: set [sync] central_url (and token) in sede.toml", file=sys.stderr)
        return 1
    state = SyncState(engine.store)
    state.lift_stop()
    fingerprint = settings_fingerprint(settings.sede["code"], sync)
    agent = None
    try:
        agent = SyncAgent(engine, sync)
        try:
            pushed = agent.push_all(progress=progress)
        finally:
            _finish(progress)  # the bar's line ends before any message below
        pulled = agent.pull()
        shared = agent.pull_languages()
        state.record_success(engine.clock())
    except Rejected as exc:
        state.record_stop(str(exc), fingerprint, engine.clock())
        print(f"turnero: sync stopped: {exc}", file=sys.stderr)
        return 1
    except SyncError as exc:
        state.record_retry(str(exc), engine.clock())
        print(f"turnero: sync failed (will be retried): {exc}", file=sys.stderr)
        return 1
    finally:
        if agent is not None:
            agent.close()
        purge(engine, sync)
    backlog = status(engine, sync)["backlog"]
    skipped = f", {pulled['skipped']} skipped" if pulled["skipped"] else ""
    print(f"sync ok: {pushed} event(s) acknowledged, {pulled['stored']} appointment(s) received{skipped}, "
          f"backlog {backlog}")
    if shared["applied"] or shared.get("error"):
        print(f"language packages: {shared['applied']} applied" + (f"; {shared['error']}" if shared.get("error") else ""))
    return 0


def _finish(progress) -> None:
    close = getattr(progress, "close", None)
    if close is not None:
        close()


def _print_status(info: dict):
    age = info["oldest_unsynced_age_seconds"]
    print(f"state: {info['state']}")
    print(f"backlog: {info['backlog']} event(s) (acknowledged up to seq {info['acked_seq']} of {info['last_seq']})")
    print(f"last success: {info['last_success'] or 'never'}")
    print(f"last error: {info['last_error'] or 'none'}"
          + (f" (at {info['last_error_at']})" if info["last_error"] and info["last_error_at"] else ""))
    print(f"oldest unsynced event: {_age(age) if age is not None else 'none'}")


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s old"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min old"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h old"
    return f"{seconds / 86400:.1f} days old"
