"""Benchmark: bytes of one ticket slip with a native QR code (target: <= 1 KB = 1024 bytes).

Renders real slips (every service of the demo sede, each language, with and without a
preferential class, 80 and 58 mm paper) with python-escpos's Dummy printer and prints the sizes.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from escpos.printer import Dummy  # noqa: E402

from config import load_settings  # noqa: E402
from printers.layout import build_layout  # noqa: E402
from printers.render import render  # noqa: E402
from turnero.engine import Engine  # noqa: E402
from turnero.slip import ticket_slip  # noqa: E402
from turnero.store import Store  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        (data_dir / "sede.toml").write_text((ROOT / "config" / "demo.sede.toml").read_text(encoding="utf-8"),
                                            encoding="utf-8")
        settings = load_settings(data_dir, {})
        store = Store.in_data_dir(data_dir)
        engine = Engine(store, settings)
        sizes = {}
        for service in settings.services:
            for language in settings.sede["languages"]:
                for priority in (None, "discapacidad"):
                    ticket, _ = engine.issue(service, priority=priority, language=language)
                    slip = ticket_slip(settings, ticket, engine.clock)
                    for width in (80, 58):
                        printer = Dummy()
                        render(build_layout(slip, width), printer, "CP858")
                        sizes[(service, language, priority, width)] = len(printer.output)
        store.close()
    values = sorted(sizes.values())
    worst = max(sizes, key=sizes.get)
    print(f"slips rendered: {len(values)} (native QR, CP858, demo sede, every service, language and paper width)")
    print(f"bytes: min {values[0]}, median {statistics.median(values):.0f}, max {values[-1]} "
          f"(worst: {worst}) — target <= 1024")


if __name__ == "__main__":
    main()
