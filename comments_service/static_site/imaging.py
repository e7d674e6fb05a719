"""Image files made from the site's images: recipes, encoding, and their cache.

The build (``images.py``, the Pelican plugin) plans which files a page
needs, as ``Derivative`` recipes; this module makes their bytes with Pillow
(resized copies in AVIF, WebP, JPEG or PNG, share images) and resvg (SVG
drawn as a raster), keeps them in a ``Cache`` under the hash of the recipe
and the source's bytes, and writes them into the output. It knows nothing
of Pelican, and never imports Flask.
"""

import functools
import hashlib
import io
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import PIL
import resvg_py
from PIL import Image, ImageCms, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError, features

logger = logging.getLogger(__name__)

# Bump when a recipe below changes: every derived file gets a new name.
RECIPE_VERSION = "1"
# Digits of the recipe hash in a file name: the web server's pattern for
# fingerprinted files, `\.[0-9a-f]{10}\.[A-Za-z0-9]+$`, depends on it.
NAME_HASH_LENGTH = 10

# Encoder settings: visually close to the original at a fraction of its bytes.
# AVIF at 45 is as faithful as WebP at 75 (PSNR) in about 85% of its bytes on
# the benchmark's photo (bench/pictures.py); JPEG at 80 needs 2.5 times them.
ENCODERS = {
    "avif": ("AVIF", {"quality": 45, "speed": 6}),
    "webp": ("WEBP", {"quality": 75, "method": 4}),
    "jpeg": ("JPEG", {"quality": 80, "optimize": True, "progressive": True}),
    # zlib's default level: `optimize` saves 5% in three times the time.
    "png": ("PNG", {}),
}
MIME_TYPES = {
    "avif": "image/avif",
    "webp": "image/webp",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
EXTENSIONS = {"avif": "avif", "webp": "webp", "jpeg": "jpg", "png": "png"}
# What browsers show and Pillow reads; anything else is left alone.
RASTER_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "AVIF"}

# The site card (posts without a cover): the theme's accent colour.
CARD_BACKGROUND = "#0f6b63"
CARD_TEXT = "#ffffff"


def modern_formats():
    """The formats offered before the original's, best first (AVIF only where Pillow has it)."""
    return tuple(name for name in ("avif", "webp") if features.check(name))


class ImageError(Exception):
    """An image of the site is broken: it cannot be read or converted."""


# --- what the build makes --------------------------------------------------------


@dataclass(frozen=True)
class Derivative:
    """One file made from a source image: the recipe, from what, where it goes.

    ``recipe`` is ``("resize", format)``, ``("og-raster",)``, ``("og-svg",)``
    or ``("og-card", site name, subtitle)``; ``source`` is the source file
    (None for the site card)."""

    recipe: tuple
    source: str | None
    key: str
    url: str
    width: int
    height: int


@functools.cache
def encoder_versions():
    """What else decides the bytes a recipe gives (a new encoder may encode differently)."""
    return f"{RECIPE_VERSION}/{PIL.__version__}/{resvg_py.__resvg_version__}/{ENCODERS!r}"


# Every post without a cover shares one site card: its recipe is hashed once.
@functools.lru_cache(maxsize=4096)
def derivative(recipe, source, source_digest, url_stem, ext, width, height):
    key = hashlib.sha256(
        repr((encoder_versions(), recipe, source_digest, width, height)).encode()
    ).hexdigest()
    url = f"{url_stem}.{key[:NAME_HASH_LENGTH]}.{ext}"
    return Derivative(recipe, source, key, url, width, height)


@dataclass
class SourceImage:
    """What planning needs to know of an image file, read once per build."""

    path: str
    url_path: str  # under the output root, as Pelican copies it (STATIC_SAVE_AS "{path}")
    digest: str
    # "svg", or the format of its resized copies: "jpeg" for a JPEG, "png"
    # for the rest (it keeps what a PNG, GIF, WebP or AVIF may have: transparency).
    format: str
    width: int
    height: int
    animated: bool = False


def read_source(path, url_path):
    """Size, format and digest of an image file; None when it is not an image
    the build converts (it is then left as it is). ``ImageError`` when it is one
    but broken (truncated, corrupt, absurdly large)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(data).hexdigest()
    if path.lower().endswith(".svg"):
        size = svg_size(data)
        if size is None:
            return None
        return SourceImage(path, url_path, digest, "svg", *size)
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        return None
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: {exc}") from exc
    with image:
        if image.format not in RASTER_FORMATS:
            return None
        fmt = "jpeg" if image.format == "JPEG" else "png"
        width, height = image.size
        try:
            orientation = image.getexif().get(0x0112, 1)
            animated = getattr(image, "is_animated", False)
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"{path}: {exc}") from exc
    if orientation in (5, 6, 7, 8):  # stored sideways: shown turned
        width, height = height, width
    return SourceImage(path, url_path, digest, fmt, width, height, animated)


def svg_size(data):
    """(width, height) of an SVG from its ``width``/``height`` or ``viewBox``."""
    try:
        _event, root = next(ElementTree.iterparse(io.BytesIO(data), events=("start",)))
    except (ElementTree.ParseError, StopIteration):
        return None

    def number(value):
        match = re.fullmatch(r"\s*([0-9.]+)\s*(px)?\s*", value or "")
        return float(match.group(1)) if match else None

    width, height = number(root.get("width")), number(root.get("height"))
    if not (width and height):
        box = (root.get("viewBox") or "").replace(",", " ").split()
        if len(box) != 4:
            return None
        try:
            width, height = float(box[2]), float(box[3])
        except ValueError:
            return None
    if width <= 0 or height <= 0:
        return None
    return round(width), round(height)


# --- making the files ---------------------------------------------------------


def open_as_srgb(path):
    """The image upright, in sRGB, as RGB or RGBA (what every encoder takes)."""
    with Image.open(path) as image:
        image.load()
        image = ImageOps.exif_transpose(image)
        profile = image.info.get("icc_profile")
        if profile and image.mode in ("RGB", "RGBA", "CMYK"):
            # Colours as the camera meant them; the copies then need no profile.
            srgb = ImageCms.createProfile("sRGB")
            mode = "RGBA" if image.mode == "RGBA" else "RGB"
            image = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), srgb, outputMode=mode
            )
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")


def encode(image, fmt):
    if fmt == "jpeg" and image.mode == "RGBA":
        image = flatten(image, (255, 255, 255))
    name, options = ENCODERS[fmt]
    buffer = io.BytesIO()
    image.save(buffer, name, **options)
    return buffer.getvalue()


def flatten(image, colour):
    background = Image.new("RGB", image.size, colour)
    background.paste(image, mask=image.getchannel("A"))
    return background


def crop_to(image, width, height):
    return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)


def render(item):
    """The bytes of one derivative (the expensive step the cache spares)."""
    kind = item.recipe[0]
    if kind == "resize":
        image = open_as_srgb(item.source)
        image = image.resize((item.width, item.height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        return encode(image, item.recipe[1])
    if kind == "og-raster":
        image = open_as_srgb(item.source)
        if image.mode == "RGBA":
            image = flatten(image, (255, 255, 255))
        return encode(crop_to(image, item.width, item.height), "jpeg")
    if kind == "og-svg":
        return encode(svg_card(item.source, item.width, item.height), "png")
    if kind == "og-card":
        return encode(site_card(item.recipe[1], item.recipe[2], item.width, item.height), "png")
    raise ValueError(f"unknown recipe {item.recipe!r}")


def svg_card(path, width, height):
    """The SVG drawn as large as fits, on its own background colour.

    Covers are illustrations on a flat background, with things up to their
    edges: padding with the corner's colour keeps all of it, where cropping
    to 1.91:1 would cut it."""
    drawn = Image.open(io.BytesIO(resvg_py.svg_to_bytes(svg_path=str(path), width=width)))
    drawn = drawn.convert("RGBA")
    if drawn.height > height:
        drawn = drawn.resize(
            (max(1, round(drawn.width * height / drawn.height)), height), Image.Resampling.LANCZOS
        )
    corner = drawn.getpixel((0, 0))
    background = (255, 255, 255) if corner[3] < 255 else corner[:3]
    card = Image.new("RGB", (width, height), background)
    card.paste(drawn, ((width - drawn.width) // 2, (height - drawn.height) // 2), drawn)
    return card


def site_card(name, subtitle, width, height):
    """The share image of posts without a cover: the site's name and subtitle.

    Drawn with Pillow's own scalable font, so it needs no font on the machine."""
    card = Image.new("RGB", (width, height), CARD_BACKGROUND)
    draw = ImageDraw.Draw(card)
    margin = width // 12
    blocks = []  # (font, line height, lines) of the name, then of the subtitle
    for text, size in ((name, 96), (subtitle, 44)):
        font = ImageFont.load_default(size=size)
        blocks.append((font, round(size * 1.3), wrap(text, font, width - 2 * margin)))
    y = (height - sum(step * len(lines) for _font, step, lines in blocks)) // 2
    for font, step, lines in blocks:
        for line in lines:
            draw.text((margin, y), line, font=font, fill=CARD_TEXT)
            y += step
    return card


def wrap(text, font, width):
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else lines


class Cache:
    """Derived files by key, in a folder outside the output; on a miss, also
    in ``seeds``, other builds' caches, which it reads and never writes."""

    def __init__(self, folder, seeds=()):
        self.folder = Path(folder)
        self.seeds = [Path(seed) for seed in seeds]

    def path(self, item, folder=None):
        name = f"{item.key}.{item.url.rpartition('.')[2]}"
        return Path(folder or self.folder) / item.key[:2] / name

    def get(self, item):
        for folder in (self.folder, *self.seeds):
            try:
                data = self.path(item, folder).read_bytes()
            except OSError:
                continue  # not there, or its release pruned meanwhile
            if folder != self.folder:
                self.put(item, data)
            return data
        return None

    def put(self, item, data):
        """Keep ``data``; a cache that cannot be written only costs speed."""
        target = self.path(item)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: another build reading the same key
            # (a release's background rebuild) sees all of it or nothing.
            with tempfile.NamedTemporaryFile(
                "wb", dir=target.parent, prefix=".tmp-", delete=False
            ) as f:
                f.write(data)
            os.replace(f.name, target)
        except OSError as exc:
            logger.warning("Image cache %s not written: %s", self.folder, exc)


def write_derivatives(items, output_path, cache):
    """Write each derivative into the output, from the cache or made now."""
    for item in items:
        target = Path(output_path, item.url)
        if target.is_file():
            continue  # its name is its content: already there
        data = cache.get(item)
        if data is None:
            try:
                data = render(item)
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                # A truncated or corrupt file: the build fails (the live site
                # stays as it was) and says which file.
                raise ImageError(f"{item.source}: cannot make {item.url}: {exc}") from exc
            cache.put(item, data)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=target.parent, delete=False) as f:
            f.write(data)
        os.chmod(f.name, 0o644)
        os.replace(f.name, target)
