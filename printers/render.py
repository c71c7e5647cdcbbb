"""The one renderer: draws a layout (see :mod:`printers.layout`) on a python-escpos printer.

The same calls draw on :class:`printers.preview.PreviewCanvas`, which makes the PNG preview of
the emulated printer, so what the preview shows is what the printer was told.
"""
from __future__ import annotations

from printers.codepage import fit


def render(blocks: list[dict], printer, codepage: str = "CP858") -> None:
    """Initialize the printer, force ``codepage`` and draw ``blocks`` in order."""
    printer.hw("INIT")
    # ESC @ resets the printer to its default table, so the forced code page comes after it.
    printer.charcode(codepage)
    for block in blocks:
        kind = block["kind"]
        if kind == "text" or kind == "rule":
            size = block.get("size", 1)
            if size > 1:
                printer.set(align=block.get("align", "center"), bold=block.get("bold", False),
                            invert=block.get("invert", False), custom_size=True, width=size, height=size)
            else:
                printer.set(align=block.get("align", "center"), bold=block.get("bold", False),
                            invert=block.get("invert", False), normal_textsize=True)
            printer.text(fit(block["text"], codepage) + "\n")
        elif kind == "qr":
            printer.set(align="center", normal_textsize=True, bold=False, invert=False)
            printer.qr(block["data"], size=block.get("module", 6), native=True)
        elif kind == "logo":
            printer.set(align="center")
            printer.image(block["path"], center=False)
        elif kind == "feed":
            printer.ln(block.get("lines", 1))
        elif kind == "cut":
            printer.cut()
        else:
            raise ValueError(f"unknown layout block {kind!r}")
