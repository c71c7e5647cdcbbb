"""``turnero-central``: run the receiver, register sedes, import appointments.

    turnero-central run [--host 127.0.0.1] [--port 8090] [--database-url URL] [--certfile F --keyfile F]
    turnero-central sede add CODE [--name NAME]      # prints the sede's token alone on its last line
    turnero-central sede token CODE                  # a new token (the old one stops working)
    turnero-central sede list
    turnero-central appointments import FILE --sede CODE   # JSON list (or {"appointments": [...]})
    turnero-central viewer add NAME                  # who may read the KPIs; prints the token once
    turnero-central viewer remove NAME
    turnero-central viewer list
    turnero-central rebuild-summaries [--sede CODE]   # recompute the day summaries from raw events
    turnero-central prune-events --older-than-days N  # delete old raw events; summaries stay
    turnero-central languages list [--state revisado|aprobado]   # language packages sedes proposed
    turnero-central languages approve ID [--by NAME]  # every sede receives it on its next pull

The database is ``--database-url``, else ``TURNERO_CENTRAL_DATABASE_URL``, else
``sqlite:///turnero-central.db`` in the current directory. Every command first creates or
upgrades its schema (:meth:`central.db.Database.create_schema`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from central.db import DEFAULT_URL, Database
from central.service import (CentralError, add_sede, add_viewer, import_appointments, list_sedes, list_viewers,
                             remove_viewer, rotate_token)


def _database(args) -> Database:
    url = getattr(args, "database_url", None) or os.environ.get("TURNERO_CENTRAL_DATABASE_URL") or DEFAULT_URL
    db = Database(url)
    db.create_schema()
    return db


def cmd_run(args):
    from central import create_app
    from turnero.web.server import GunicornApp

    db = _database(args)  # the schema is made once here, not by each worker
    url = db.url
    db.close()
    scheme = "https" if args.certfile else "http"
    print(f"turnero-central: serving on {scheme}://{args.host}:{args.port} ({db!r})", flush=True)
    tls = {"certfile": args.certfile, "keyfile": args.keyfile} if args.certfile else {}
    GunicornApp(lambda: create_app(url, create_schema=False), {**tls,
        "bind": f"{args.host}:{args.port}", "workers": args.workers, "worker_class": "gthread",
        "threads": args.threads, "timeout": 60, "graceful_timeout": 10, "keepalive": 30, "loglevel": "info",
        "accesslog": None, "errorlog": "-", "proc_name": "turnero-central", "control_socket_disable": True,
    }).run()


def cmd_sede_add(args):
    token = add_sede(_database(args), args.code, args.name)
    print(f"sede {args.code} registered; its token, shown only once (put it in the box's [sync] token):")
    print(token)


def cmd_sede_token(args):
    token = rotate_token(_database(args), args.code)
    print(f"new token for sede {args.code} (the previous one no longer works):")
    print(token)


def cmd_sede_list(args):
    for sede in list_sedes(_database(args)):
        print(f"{sede['code']}\t{sede['name']}\tacked_seq={sede['acked_seq']}\t"
              f"last={sede['last_received_at'] or '-'}\tepochs={sede['epochs']}")


def cmd_appointments_import(args):
    try:
        with open(args.file, encoding="utf-8") as fh:
            payload = json.load(fh)
    except json.JSONDecodeError as exc:
        raise CentralError("invalid_json", f"{args.file}: not valid JSON: {exc}", 400) from None
    items = payload.get("appointments") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise CentralError("invalid_json", f"{args.file}: expected a list of appointments", 400)
    from turnero.cli import progress  # the box's CLI bar: on stderr, only on a terminal

    with progress({"import": "Importando citas"}, unit="citas") as bar:
        count = import_appointments(_database(args), args.sede, items, progress=bar)
    print(f"{count} appointment(s) stored for sede {args.sede}")


def cmd_viewer_add(args):
    token = add_viewer(_database(args), args.name)
    print(f"viewer {args.name} registered; the KPI pages ask for this name and this token (shown only once):")
    print(token)


def cmd_viewer_remove(args):
    remove_viewer(_database(args), args.name)
    print(f"viewer {args.name} removed")


def cmd_viewer_list(args):
    for viewer in list_viewers(_database(args)):
        print(f"{viewer['name']}\t{viewer['created_at']}")


def cmd_rebuild_summaries(args):
    from central.kpis import rebuild_summaries

    for code, counted in rebuild_summaries(_database(args), args.sede).items():
        print(f"{code}\t{counted} event(s) summarised")


def cmd_prune_events(args):
    from central.kpis import prune_events

    for code, deleted in prune_events(_database(args), args.older_than_days).items():
        print(f"{code}\t{deleted} raw event(s) deleted")


def cmd_languages_list(args):
    from central.languages import list_packages

    for item in list_packages(_database(args), args.state):
        diff = item["diff"]
        change = ("unreadable" if diff["added"] is None else
                  f"+{diff['added']} ~{diff['changed']} -{diff['removed']} vs v{diff['against'] or 0}")
        state = f"aprobado v{item['version']} by {item['approved_by']}" if item["state"] == "aprobado" else item["state"]
        print(f"{item['id']}\t{item['language']}\t{item['kind']}\t{item['sede']}\t{item['proposed_at']}\t"
              f"{item['items']} item(s)\t{change}\t{state}")


def cmd_languages_approve(args):
    from central.languages import approve

    item = approve(_database(args), args.id, args.by)
    print(f"package {item['id']} approved: {item['language']} {item['kind']} version {item['version']}; "
          "every sede receives it on its next pull")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", default=argparse.SUPPRESS,
                        help="sqlite:///PATH or postgresql://... (default: $TURNERO_CENTRAL_DATABASE_URL or "
                             f"{DEFAULT_URL})")
    parser = argparse.ArgumentParser(prog="turnero-central", parents=[common],
                                     description="Reference central receiver for Turnero boxes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(parent, name, func, text):
        command = parent.add_parser(name, parents=[common], help=text, description=text)
        command.set_defaults(func=func)
        return command

    run = add(sub, "run", cmd_run, "serve the receiver")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8090)
    run.add_argument("--workers", type=int, default=1, help="processes (more help with PostgreSQL)")
    run.add_argument("--threads", type=int, default=16, help="threads per process")
    # Boxes speak only https to a central that is not on their own loopback.
    run.add_argument("--certfile", help="TLS certificate (PEM) to serve https directly")
    run.add_argument("--keyfile", help="TLS private key (PEM)")

    sede = sub.add_parser("sede", help="sedes and their tokens").add_subparsers(dest="action", required=True,
                                                                                 metavar="ACTION")
    sede_add = add(sede, "add", cmd_sede_add, "register a sede; prints its token once")
    sede_add.add_argument("code")
    sede_add.add_argument("--name")
    add(sede, "token", cmd_sede_token, "give a sede a new token").add_argument("code")
    add(sede, "list", cmd_sede_list, "list sedes and how far each has synced")

    appointments = sub.add_parser("appointments", help="appointments (citas) per sede").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    importer = add(appointments, "import", cmd_appointments_import, "store appointments from a JSON file")
    importer.add_argument("file")
    importer.add_argument("--sede", required=True)

    viewer = sub.add_parser("viewer", help="who may read the KPI pages and JSON").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add(viewer, "add", cmd_viewer_add, "register a viewer; prints their token once").add_argument("name")
    add(viewer, "remove", cmd_viewer_remove, "remove a viewer (their token stops working)").add_argument("name")
    add(viewer, "list", cmd_viewer_list, "list viewers")

    rebuild = add(sub, "rebuild-summaries", cmd_rebuild_summaries,
                  "recompute the per-day summaries from the raw events still held")
    rebuild.add_argument("--sede", help="only this sede")
    prune = add(sub, "prune-events", cmd_prune_events,
                "delete raw events older than N days (already summarised; the summaries stay)")
    prune.add_argument("--older-than-days", type=int, required=True)

    languages = sub.add_parser("languages", help="language packages proposed by sedes").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    listing = add(languages, "list", cmd_languages_list, "list proposed and approved packages, newest first")
    listing.add_argument("--state", choices=("revisado", "aprobado"))
    approving = add(languages, "approve", cmd_languages_approve, "approve a proposed package for every sede")
    approving.add_argument("id")
    approving.add_argument("--by", default=_os_user(), help="who approves (default: the system user)")
    return parser


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "central"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
        return 0
    except CentralError as exc:
        print(f"turnero-central: {exc.message} ({exc.code})", file=sys.stderr)
    except ValueError as exc:
        print(f"turnero-central: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"turnero-central: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a database that cannot be reached, most often
        print(f"turnero-central: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
