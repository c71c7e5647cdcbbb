"""The ticket slip as a list of blocks (data), built from the slip content of turnero.slip.

A block is a dict with a ``kind`` (``logo``, ``text``, ``rule``, ``qr``, ``feed``, ``cut``) and
its options. :mod:`printers.render` is the one renderer that draws it, on a printer or a preview.
"""
from __future__ import annotations

import textwrap

COLUMNS = {80: 48, 58: 32}  # Font A characters per line
QR_MODULE = {80: 7, 58: 5}  # dots per QR module: about 3 cm wide on either paper
CODE_SIZE = {80: 4, 58: 3}  # character multiplier of the ticket code


def build_layout(slip: dict, width_mm: int = 80, cut: bool = True, logo: str = "") -> list[dict]:
    columns = COLUMNS[width_mm]
    labels = slip["labels"]
    blocks: list[dict] = []
    if logo:
        blocks.append({"kind": "logo", "path": logo})
    blocks += _text(slip["sede"], columns, bold=True)
    blocks.append({"kind": "feed", "lines": 1})
    blocks.append({"kind": "text", "text": slip["code"], "align": "center", "bold": True,
                   "size": CODE_SIZE[width_mm]})
    blocks += _text(slip["service_label"], columns // 2, bold=True, size=2)
    if slip["priority"]:
        blocks += _text(f"{labels['preferential']}: {slip['priority_label']}", columns, invert=True, bold=True)
    blocks.append({"kind": "rule", "text": "-" * columns})
    if slip["people_ahead"] is not None:
        blocks += _text(f"{labels['people_ahead']}: {slip['people_ahead']}", columns, align="left")
    if slip["eta_text"]:
        blocks += _text(slip["eta_text"], columns, align="left")
    blocks += _text(f"{labels['issued']}: {slip['date']} {slip['time']}", columns, align="left")
    blocks.append({"kind": "feed", "lines": 1})
    blocks.append({"kind": "qr", "data": slip["qr"], "module": QR_MODULE[width_mm]})
    blocks += _text(labels["scan"], columns)
    blocks.append({"kind": "rule", "text": "-" * columns})
    for line in slip["footer"]:
        blocks += _text(line, columns)
    if slip.get("complaints"):
        blocks += _text(slip["complaints"]["label"], columns)
        blocks += _text(slip["complaints"]["url"], columns)
    blocks.append({"kind": "cut"} if cut else {"kind": "feed", "lines": 4})
    return blocks


def _text(text: str, columns: int, align: str = "center", bold: bool = False, size: int = 1,
          invert: bool = False) -> list[dict]:
    lines = textwrap.wrap(text, columns) or [""]
    return [{"kind": "text", "text": line, "align": align, "bold": bold, "size": size, "invert": invert}
            for line in lines]
