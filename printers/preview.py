"""A PNG picture of a slip, drawn by the same renderer as the printer (emulated printer, demo)."""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DOTS = {80: 576, 58: 384}
FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", "DejaVuSansMono.ttf")
LINE = 30  # dots of a normal text line (Font A is 24 dots high, plus spacing)


def _font(size: int, bold: bool):
    names = [name.replace("Mono.ttf", "Mono-Bold.ttf") for name in FONT_FILES] if bold else []
    for name in names + list(FONT_FILES):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


class PreviewCanvas:
    """The subset of python-escpos's printer API that :func:`printers.render.render` calls."""

    def __init__(self, width_mm: int = 80):
        self.width = DOTS[width_mm]
        self.image = Image.new("L", (self.width, 4000), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.y = 10
        self.style = {"align": "left", "bold": False, "invert": False, "size": 1}

    # --- the printer API --------------------------------------------------------------------
    def hw(self, _command):
        pass

    def set(self, align=None, bold=None, invert=None, custom_size=None, width=None, height=None,
            normal_textsize=None, **_ignored):
        if align is not None:
            self.style["align"] = align
        if bold is not None:
            self.style["bold"] = bold
        if invert is not None:
            self.style["invert"] = invert
        if normal_textsize:
            self.style["size"] = 1
        elif custom_size and width:
            self.style["size"] = width

    def text(self, txt: str):
        for line in txt.split("\n")[:-1] if txt.endswith("\n") else txt.split("\n"):
            self._line(line)

    def qr(self, content, size=6, native=True, **_ignored):
        import qrcode

        code = qrcode.QRCode(border=1, box_size=size, error_correction=qrcode.constants.ERROR_CORRECT_L)
        code.add_data(content)
        picture = code.make_image().get_image().convert("L")
        self._paste(picture)

    def image(self, path, **_ignored):
        picture = Image.open(path).convert("L")
        if picture.width > self.width:
            picture = picture.resize((self.width, int(picture.height * self.width / picture.width)))
        self._paste(picture)

    def cut(self, *_args, **_kwargs):
        self.y += LINE
        self.draw.line((0, self.y, self.width, self.y), fill=128, width=1)
        self.y += 4

    # --- output -----------------------------------------------------------------------------
    def png(self, path) -> None:
        self.image.crop((0, 0, self.width, min(self.y + 10, self.image.height))).save(path, "PNG")

    def _line(self, line: str):
        size = self.style["size"]
        font = _font(20 * size, self.style["bold"])
        box = self.draw.textbbox((0, 0), line, font=font)
        text_width = box[2] - box[0]
        x = {"left": 0, "center": (self.width - text_width) // 2,
             "right": self.width - text_width}[self.style["align"]]
        height = LINE * size
        if self.style["invert"]:
            self.draw.rectangle((0, self.y, self.width, self.y + height), fill=0)
        self.draw.text((max(x, 0), self.y), line, font=font, fill=255 if self.style["invert"] else 0)
        self.y += height

    def _paste(self, picture):
        x = {"left": 0, "center": (self.width - picture.width) // 2,
             "right": self.width - picture.width}[self.style["align"]]
        self.image.paste(picture, (max(x, 0), self.y))
        self.y += picture.height + 4


# --- previews drawn apart from the slips ----------------------------------------------------
# Drawing a slip takes tens of milliseconds of CPU: on a 2-core box that is time taken from the
# requests and the calls. So the emulated printer leaves each slip's layout beside its bytes, and a
# thread of the lowest CPU priority (Linux gives each thread its own nice value) turns the layouts
# into PNG files. It lives in the process that prints (the device process of ``turnero run``),
# which has the drawing library loaded already: a process of its own cost ~18 MB while it drew.

LAYOUT_SUFFIX = ".layout.json"


class PreviewMaker:
    """Draws every waiting layout when poked, on one low-priority thread started with the first."""

    def __init__(self, spool: Path, width_mm: int, codepage: str):
        self.spool, self.width_mm, self.codepage = Path(spool), width_mm, codepage
        self._changed = threading.Condition()
        self._asked = self._done = 0  # pokes received / pokes whose layouts are drawn
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        with self._changed:
            self._asked += 1
            self._changed.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="turnero-slip-previews", daemon=True)
                self._thread.start()

    def wait(self, timeout: float = 30) -> bool:
        """Until every layout poked so far is drawn (tests)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._done == self._asked, timeout)

    def _run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (OSError, AttributeError):
            pass  # drawn at the process's priority
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._done != self._asked)
                asked = self._asked
            try:
                draw_waiting(self.spool, self.width_mm, self.codepage)
            except Exception as error:  # noqa: BLE001 - a preview never stops the printer
                print(f"slip previews: {error}", file=sys.stderr)
            with self._changed:
                self._done = asked
                self._changed.notify_all()


def draw_waiting(spool: Path, width_mm: int, codepage: str) -> int:
    """Draw every layout in ``spool`` into its PNG and remove the layout; returns how many."""
    from printers.render import render

    drawn = 0
    for layout in sorted(Path(spool).glob(f"*{LAYOUT_SUFFIX}")):
        target = layout.with_name(layout.name[:-len(LAYOUT_SUFFIX)] + ".png")
        try:
            blocks = json.loads(layout.read_text(encoding="utf-8"))
            canvas = PreviewCanvas(width_mm)
            render(blocks, canvas, codepage)
            partial = target.with_suffix(".png.part")
            canvas.png(partial)
            os.replace(partial, target)
        except (OSError, ValueError) as error:
            print(f"{layout.name}: {error}", file=sys.stderr)
        layout.unlink(missing_ok=True)
        drawn += 1
    return drawn
