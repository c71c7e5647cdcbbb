"""The ``turnero`` command. Every subcommand works on one data directory (SPEC.md, CLI)."""
from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

from config import ConfigError, load_settings, resolve_data_dir
from turnero import audit, backup
from turnero.accounts import STAFF_ROLES, Accounts
from turnero.engine import Engine
from turnero.errors import DomainError
from turnero.store import Store


class CommandError(Exception):
    """Printed as one line on stderr; exit status 1."""


class Progress:
    """A bar on stderr for long work (backup, restore, ``sync --once``, the central's imports).

    Made only when stderr is a terminal (:func:`progress`): what cron, a pipe or CI reads stays
    exactly as it was. Called as ``progress(done, total, stage)``; each stage gets its own bar,
    labelled from ``labels`` (Spanish, as the operator reads it); ``total`` None draws a bar with
    no end (SQLite's integrity check cannot say how far it is)."""

    def __init__(self, labels: dict, unit: str | None = None):
        self.labels = labels
        self.unit = unit  # counted items (events, appointments); None shows a percentage
        self._bar = None
        self._stage = object()

    def __call__(self, done: int, total: int | None, stage: str | None = None) -> None:
        from tqdm import tqdm  # only a terminal run needs it

        if stage != self._stage or self._bar is None:
            self.close()
            self._stage = stage
            label = self.labels.get(stage, stage or "")
            if total is None:
                fmt = "{desc}... {elapsed}"
            elif self.unit:
                fmt = "{desc}: {n_fmt}/{total_fmt} " + self.unit + " |{bar}| {elapsed}, faltan {remaining}"
            else:
                fmt = "{desc}: {percentage:3.0f}% |{bar}| {elapsed}, faltan {remaining}"
            self._bar = tqdm(total=total, desc=label, file=sys.stderr, bar_format=fmt, leave=True,
                             dynamic_ncols=True, mininterval=0.2)
        bar = self._bar
        if total is not None and total != bar.total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def progress(labels: dict, unit: str | None = None):
    """``with progress(...) as bar``: a :class:`Progress` when stderr is a terminal, else None (the
    engine then reports nothing). The bar's line is finished on leaving, before any message."""
    try:
        interactive = sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stderr
        interactive = False
    bar = Progress(labels, unit) if interactive else None
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


BACKUP_STAGES = {"copy": "Copiando la base de datos", "check": "Verificando la copia",
                 "compress": "Comprimiendo el archivo"}
RESTORE_STAGES = {"extract": "Extrayendo la copia de seguridad", "check": "Verificando la base de datos"}


def _open(args):
    data_dir = resolve_data_dir(args.data_dir)
    settings = load_settings(data_dir)
    store = Store.in_data_dir(data_dir)
    return data_dir, settings, store


def cmd_run(args):
    data_dir = resolve_data_dir(args.data_dir)
    load_settings(data_dir)  # fail here with one line, not inside the server's worker
    _serve(data_dir, args.host, args.port)


def _serve(data_dir: Path, host: str, port: int):
    from turnero.web.server import serve

    def factory():
        # Imported in the worker only: the Gunicorn master stays small (it just supervises).
        from turnero.web.app import create_app

        return create_app({"DATA_DIR": str(data_dir), "DEVICES": True})

    os.environ["TURNERO_DATA_DIR"] = str(data_dir)
    serve(factory, host, port, server=load_settings(data_dir).server, data_dir=data_dir)


def cmd_demo(args):
    import atexit

    from turnero.demo import HISTORY_STAGES, prepare_demo, start_demo_central

    data_dir = resolve_data_dir(args.data_dir)
    with progress(HISTORY_STAGES, unit="días") as bar:
        lines = prepare_demo(data_dir, args.host, args.port, progress=bar)
    print("\n".join(lines), flush=True)
    central = start_demo_central(data_dir)
    if central is not None:
        owner = os.getpid()
        # Gunicorn's forked workers inherit atexit handlers: only this process stops the central.
        atexit.register(lambda: os.getpid() == owner and central.poll() is None and central.terminate())
    _serve(data_dir, args.host, args.port)


def cmd_user_add(args):
    _, settings, store = _open(args)
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    else:
        password = getpass.getpass("Contraseña: ")
    services = [code.strip() for code in (args.services or "").split(",") if code.strip()]
    discreet = [code for code, service in settings.services.items() if service.discreet]
    for code in services:
        if code not in discreet:
            raise CommandError(f"{code!r} is not a discreet service of this sede "
                               f"(discreet: {', '.join(discreet) or '-'})")
    Accounts(store).add_user(args.name, args.role, password, audit=args.audit, services=services)
    print(f"user {args.name} added with role {args.role}")


def cmd_user_languages(args):
    _, settings, store = _open(args)
    languages = [code.strip() for code in args.languages.split(",") if code.strip()]
    Accounts(store).set_languages(args.name, languages, settings.sede["languages"], audit=args.audit)
    print(f"user {args.name} attends in: {', '.join(languages) or '-'}")


def cmd_device_add(args):
    _, settings, store = _open(args)
    services = [code.strip() for code in args.services.split(",") if code.strip()] if args.services else []
    for code in services:
        if code not in settings.services:
            raise CommandError(f"unknown service {code!r} (known: {', '.join(settings.services)})")
    token = Accounts(store).add_device(args.name, args.role, services, audit=args.audit)
    print(f"device {args.name} ({args.role}) registered; its token, shown only once:")
    print(token)


def cmd_device_revoke(args):
    _, _, store = _open(args)
    if not Accounts(store).revoke_device(args.name, audit=args.audit):
        raise CommandError(f"no active device named {args.name!r}")
    print(f"device {args.name} revoked")


def cmd_close_day(args):
    _, settings, store = _open(args)
    expired = Engine(store, settings).close_day(audit=args.audit)
    print(f"service day closed: {expired} ticket(s) expired")


def cmd_backup(args):
    data_dir, _, store = _open(args)
    with progress(BACKUP_STAGES) as bar:
        target = backup.write_backup(store, data_dir, Path(args.path), force=args.force, keep_days=args.keep_days,
                                     entry=args.audit, progress=bar)
    print(f"backup written to {target}")


def cmd_restore(args):
    """Put a backup archive back into the data directory (the server must be stopped)."""
    data_dir = resolve_data_dir(args.data_dir)
    with progress(RESTORE_STAGES) as bar:
        backup.restore(data_dir, Path(args.path), force=args.force, entry=args.audit, progress=bar)
    print(f"restored {args.path} into {data_dir}")


def _translations(args, must_exist: bool = True):
    """The data directory's translation studio, or None where there is no database (files only)."""
    from turnero import i18n
    from turnero.store import DB_FILE
    from turnero.translations import Translations

    data_dir = resolve_data_dir(args.data_dir)
    if not must_exist and not (data_dir / DB_FILE).exists():
        return None
    translations = Translations(Store.in_data_dir(data_dir))
    i18n.init(translations)
    return translations


def _target_language(language: str) -> str:
    from turnero.translations import target_languages

    if language not in target_languages():
        raise CommandError(f"unknown language {language!r} (translatable: {', '.join(target_languages())})")
    return language


def cmd_i18n_check(args):
    from turnero.i18n import LANGUAGE_NAMES, missing, shipped
    from turnero.translations import SURFACES, progress_without_store

    languages = args.languages.split(",") if args.languages else None
    if languages:
        unknown = [lang for lang in languages if lang not in LANGUAGE_NAMES]
        if unknown:
            raise CommandError(f"unknown language {unknown[0]!r} (known: {', '.join(LANGUAGE_NAMES)})")
    translations = _translations(args, must_exist=False)
    total = len(shipped("es"))
    gaps = missing(languages)
    for language, keys in gaps.items():
        print(f"{language} ({LANGUAGE_NAMES[language]}): {total - len(keys)}/{total} translated; "
              f"{len(keys)} shown in Spanish")
        counts = translations.progress(language) if translations else progress_without_store(language)
        for surface, _ in SURFACES:
            row = counts[surface]
            print(f"  {surface:<11} total {row['total']:>4}  revisado {row['revisado']:>4}  "
                  f"borrador {row['borrador']:>4}  missing {row['missing']:>4}")
        for key in keys if args.verbose else []:
            print(f"  {key}")
    return 1 if args.strict and any(gaps.values()) else 0


def cmd_i18n_export(args):
    from turnero.translation_po import export_po

    data = export_po(_translations(args), _target_language(args.language))
    if args.output in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(args.output).write_bytes(data)
        print(f"{args.language} written to {args.output}", file=sys.stderr)


def cmd_i18n_import(args):
    from turnero.translation_po import import_po

    language = _target_language(args.language)
    report = import_po(_translations(args), language, Path(args.path).read_bytes(), args.audit["actor"],
                       audit=args.audit)
    print(f"{len(report['accepted'])} accepted as borrador, {len(report['unchanged'])} unchanged, "
          f"{report['skipped']} empty, {len(report['refused'])} refused")
    for item in report["refused"]:
        print(f"  refused {item['key']}: {item['message']} ({item['code']})")
    return 1 if report["refused"] else 0


def cmd_i18n_publish(args):
    from sync.languages import publish

    _, settings, store = _open(args)
    language = _target_language(args.language)
    try:
        sent = publish(Engine(store, settings), settings.sync, language, args.audit["actor"])
    finally:
        store.close()
    for item in sent:
        print(f"{language} {item['kind']}: {item['items']} item(s) proposed to the central as package {item['id']} "
              f"(sha256 {item['sha256']})")
    print("the central office approves it with 'turnero-central languages approve ID'; every sede then receives it")


def cmd_sync(args):
    from sync import run_cli

    # The sync part reports a backlog's push through this; it never draws anything itself.
    with progress({"push": "Enviando eventos a la central"}, unit="eventos") if args.once else nullcontext() as bar:
        args.progress = bar
        return run_cli(args)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def cmd_audit(args):
    _, settings, store = _open(args)
    if args.audit_action == "verify":
        intact, count, detail = audit.verify(store)
        if not intact:
            raise CommandError(f"audit trail broken after {count} intact row(s): {detail}")
        print(f"audit trail intact: {count} row(s)")
        if args.against_central:
            from sync import central_anchors
            from sync.client import SyncError

            try:
                anchors = central_anchors(settings)
            except SyncError as exc:
                raise CommandError(f"could not ask the central side: {exc}") from None
            agrees, detail = audit.against_central(store, store.epoch(), anchors)
            if not agrees:
                raise CommandError(f"audit trail does not match the central side: {detail}")
            print(f"central side: {detail}")
        return 0
    for row in reversed(audit.entries(store, args.limit)):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["at"]))
        print(f"{row['id']:>6} {when} {row['actor']} ({row['role']}) {row['action']} {row['target'] or ''}".rstrip())
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS,
                        help="data directory (default: $TURNERO_DATA_DIR or ./turnero-data)")
    parser = argparse.ArgumentParser(prog="turnero", parents=[common],
                                     description="Turnero: the queue-management box of a legal-aid sede.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text, parent=sub):
        command = parent.add_parser(name, parents=[common], help=help_text, description=help_text)
        command.set_defaults(func=func)
        return command

    for name, func, text in (("run", cmd_run, "serve the sede"),
                             ("demo", cmd_demo, "create (if absent) and serve a ready sample sede")):
        command = add(name, func, text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=8080)

    user = sub.add_parser("user", help="staff users").add_subparsers(dest="action", required=True, metavar="ACTION")
    user_add = add("add", cmd_user_add, "add a staff user", user)
    user_add.add_argument("name")
    user_add.add_argument("--role", required=True, choices=STAFF_ROLES)
    user_add.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    user_add.add_argument("--services", metavar="VIC,...",
                          help="discreet services whose personal data this staff member may see")
    user_languages = add("languages", cmd_user_languages, "set the languages a user attends in", user)
    user_languages.add_argument("name")
    user_languages.add_argument("languages", metavar="qu,ay", help="language codes of the sede ('' for none)")

    device = sub.add_parser("device", help="kiosks and displays").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    device_add = add("add", cmd_device_add, "register a device; prints its token once", device)
    device_add.add_argument("name")
    device_add.add_argument("--role", required=True, choices=("kiosk", "display"))
    device_add.add_argument("--services", help="comma-separated service codes a display shows (default: all)")
    device_revoke = add("revoke", cmd_device_revoke, "revoke a device's token", device)
    device_revoke.add_argument("name")

    backup_cmd = add("backup", cmd_backup, "write a consistent backup (database and settings) to PATH (.tar.gz)")
    backup_cmd.add_argument("path")
    backup_cmd.add_argument("--force", action="store_true", help="overwrite PATH")
    backup_cmd.add_argument("--keep-days", type=int, default=None, metavar="N",
                            help="first delete turnero-*.tar.gz archives in PATH's folder older than N days")
    restore = add("restore", cmd_restore, "restore a backup archive into the data directory (server stopped)")
    restore.add_argument("path")
    restore.add_argument("--force", action="store_true", help="replace the current database (kept beside it)")
    add("close-day", cmd_close_day, "expire the tickets still waiting or called today")

    audit_cmd = add("audit", cmd_audit, "verify or list the hash-chained audit trail")
    audit_cmd.add_argument("audit_action", choices=("verify", "list"))
    audit_cmd.add_argument("--limit", type=int, default=50)
    audit_cmd.add_argument("--against-central", action="store_true",
                           help="verify: also compare with the anchor the central side holds (needs [sync])")

    i18n = add("i18n-check", cmd_i18n_check, "list UI strings each language lacks (they show in Spanish)")
    i18n.add_argument("--languages", help="comma-separated, e.g. qu,ay (default: all but es)")
    i18n.add_argument("--verbose", "-v", action="store_true", help="list the missing keys")
    i18n.add_argument("--strict", action="store_true", help="exit 1 when anything is missing")
    i18n_export = add("i18n-export", cmd_i18n_export, "write a language's strings as a gettext PO file")
    i18n_export.add_argument("language")
    i18n_export.add_argument("--output", "-o", help="file to write (default: standard output)")
    i18n_import = add("i18n-import", cmd_i18n_import, "import a translated PO file (entries arrive as borrador)")
    i18n_import.add_argument("language")
    i18n_import.add_argument("path")

    i18n_publish = add("i18n-publish", cmd_i18n_publish,
                       "propose a language's reviewed strings (and reviewed voice pack) to the central")
    i18n_publish.add_argument("language")

    sync = add("sync", cmd_sync, "push events to the central system and pull appointments")
    sync.add_argument("--once", action="store_true", help="one round, then exit (non-zero on failure)")
    sync.add_argument("--status", action="store_true", help="print backlog, last success and last error")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "data_dir"):
        args.data_dir = None
    action = " ".join(str(part) for part in ("cli", args.command, getattr(args, "action", None)) if part)
    # What the command does, for the audit row of its write (commands that write hand it on).
    args.audit = audit.describe(f"cli:{_os_user()}", "admin", action, target=getattr(args, "name", None))
    try:
        result = args.func(args)
        return result if isinstance(result, int) else 0
    except (ConfigError, CommandError, backup.BackupError) as exc:
        print(f"turnero: {exc}", file=sys.stderr)
    except DomainError as exc:
        print(f"turnero: {exc.message} ({exc.code})", file=sys.stderr)
    except sqlite3.Error as exc:
        print(f"turnero: database error: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"turnero: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
