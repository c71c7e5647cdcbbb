"""The one renderer: draws a layout (see :mod:`printers.layout`) on a python-escpos printer.

The same calls draw on :class:`printers.preview.PreviewCanvas`, which makes the PNG preview of
the emulated printer, so what the preview shows is what the printer was told.
"""
from __future__ import annotations

from escpos.constants import CODEPAGE_CHANGE

from printers.codepage import fit, python_codec


def codepage_table(profile, codepage: str) -> int:
    """The printer's table number for ``codepage`` in its python-escpos profile (ValueError if the
    profile has no such table)."""
    table = profile.get_code_pages().get(codepage.upper())
    if table is None:
        raise ValueError(f"printer.codepage: the {profile.profile_data['name']!r} profile has no {codepage}")
    return int(table)


def render(blocks: list[dict], printer, codepage: str = "CP858") -> None:
    """Initialize the printer, force ``codepage`` and draw ``blocks`` in order.

    Text bypasses python-escpos's MagicEncode: that "magic" encoder switches tables by itself and
    remembers a table that ESC @ has since reset. Here the slip selects one table right after
    ESC @ and every line is encoded in it (``fit`` has already brought the text into it).
    """
    printer.hw("INIT")
    write = _codepage_writer(printer, codepage)
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
            write(fit(block["text"], codepage) + "\n")
        elif kind == "qr":
            printer.set(align="center", normal_textsize=True, bold=False, invert=False)
            printer.qr(block["data"], size=block.get("module", 6), native=True)
        elif kind == "logo":
            printer.set(align="center")
            printer.image(block["path"], center=False)
        elif kind == "feed":
            write("\n" * block.get("lines", 1))  # not printer.ln(): it writes through MagicEncode
        elif kind == "cut":
            printer.cut()
        else:
            raise ValueError(f"unknown layout block {kind!r}")


def _codepage_writer(printer, codepage: str):
    """Select ``codepage`` on the printer; return the function that writes text in it."""
    if not hasattr(printer, "_raw"):  # the PNG preview draws characters, not bytes
        return printer.text
    codec = python_codec(codepage)
    printer._raw(CODEPAGE_CHANGE + bytes([codepage_table(printer.profile, codepage)]))
    return lambda text: printer._raw(text.encode(codec))
