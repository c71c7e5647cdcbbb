"""A PNG picture of a slip, drawn by the same renderer as the printer (emulated printer, demo)."""
from __future__ import annotations

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
