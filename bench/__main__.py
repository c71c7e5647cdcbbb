"""Run every benchmark script in bench/, one after the other, each in its own process.

    .venv/bin/python -m bench [--quick] [--only NAME ...]

A failing script does not stop the others; each one's figures are printed as it runs, then a
summary. ``--quick`` passes ``--quick`` to scripts that have it and small sizes to the rest.
Nothing here asserts timing: the exit status is 1 only if a script crashed.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# small sizes for --quick, for scripts without a --quick flag of their own
QUICK_ARGS = {
    "bench_console": ["--actions", "60"],
    "bench_display": ["--calls", "20"],
    "bench_language_apply": ["--strings", "100"],
    "bench_reports": ["--tickets", "10000", "--runs", "3"],
    "bench_stats": ["--tickets", "10000", "--runs", "5"],
    "bench_sync_backlog": ["--events", "10000"],
    "bench_sync_fanin": ["--boxes", "4", "--events", "1000"],
    "bench_voice": ["--calls", "5"],
    "bench_voice_pack": ["--calls-after", "5"],
}


def scripts() -> list[Path]:
    return [path for path in sorted(HERE.glob("bench_*.py")) if '__name__ == "__main__"' in path.read_text()]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these (e.g. box stats)")
    args = parser.parse_args()
    results = []
    for path in scripts():
        name = path.stem
        if args.only and not {name, name.removeprefix("bench_")} & set(args.only):
            continue
        extra = []
        if args.quick:
            extra = ["--quick"] if '"--quick"' in path.read_text() else QUICK_ARGS.get(name, [])
        command = [sys.executable, str(path), *extra]
        print(f"\n=== {name} {' '.join(extra)}".rstrip(), flush=True)
        started = time.perf_counter()
        code = subprocess.run(command, cwd=HERE.parent).returncode
        results.append((name, code, time.perf_counter() - started))
    print("\n=== summary")
    for name, code, seconds in results:
        print(f"  {name:<22} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
