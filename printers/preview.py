"""A PNG picture of a slip, drawn by the same renderer as the printer (emulated printer, demo)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
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


# --- previews made in a process of their own --------------------------------------------------
# Drawing a slip takes tens of milliseconds of CPU: on a 2-core box that is time taken from the
# requests, so the emulated printer leaves each slip's layout beside its bytes and this separate,
# low-priority process turns the layouts into PNG files.

LAYOUT_SUFFIX = ".layout.json"


class PreviewMaker:
    """Starts ``python -m printers.preview <spool>`` when slips are waiting to be drawn (one at a
    time; it draws every waiting layout, then exits)."""

    def __init__(self, spool: Path, width_mm: int, codepage: str):
        self.spool = Path(spool)
        self.command = [sys.executable, "-m", "printers.preview", str(self.spool), str(width_mm), codepage]
        self.process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def poke(self) -> None:
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                return  # the running one looks again before it exits
            root = str(Path(__file__).resolve().parent.parent)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            self.process = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self, timeout: float = 30) -> None:
        """Until the running maker is done (tests, and a clean stop)."""
        with self._lock:
            process = self.process
        if process is not None:
            process.wait(timeout)


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


def main(argv: list[str]) -> int:
    os.nice(15)  # behind every request and every call of the box
    spool, width_mm, codepage = Path(argv[0]), int(argv[1]), argv[2]
    # Look again once idle: a slip spooled while this process was finishing is not left undrawn.
    while draw_waiting(spool, width_mm, codepage):
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
