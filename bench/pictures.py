"""Pictures for benchmarks and tests: photo-like images, and what a browser loads.

``photo_like`` draws smooth light, blurred shapes and grain at several scales,
so that the image compresses like a photograph (a 2400x1000 JPEG is about 350
KiB) and keeps detail when it is scaled down, unlike flat synthetic art.
``chosen_url`` says which file of a ``srcset`` a phone loads.
"""

import random
import re

from PIL import Image, ImageDraw, ImageFilter


def photo_like(width=2400, height=1000, seed=1):
    """An RGB image of ``width`` x ``height`` that encodes like a photograph."""
    rnd = random.Random(seed)
    gradient = Image.linear_gradient("L")
    red = gradient.resize((width, height)).point(lambda v: 60 + v * 0.6)
    green = gradient.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    green = green.point(lambda v: 90 + v * 0.4)
    blue = Image.radial_gradient("L").resize((width, height)).point(lambda v: 200 - v * 0.5)
    image = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(image)
    for _ in range(80):
        x, y, size = rnd.randrange(width), rnd.randrange(height), rnd.randrange(20, 320)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        draw.ellipse((x, y, x + size, y + size * 0.7), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(3))
    # Grain at three scales: texture survives downscaling, as in a photograph.
    for scale, amount in ((8, 0.10), (3, 0.08), (1, 0.07)):
        small = (max(1, width // scale), max(1, height // scale))
        noise = Image.effect_noise(small, 40).resize((width, height), Image.Resampling.BICUBIC)
        image = Image.blend(image, Image.merge("RGB", (noise, noise.rotate(180), noise)), amount)
    return image


def save_photo(path, width=2400, height=1000, seed=1, quality=89):
    """Write ``photo_like(...)`` as a JPEG (what a camera or stock site gives)."""
    photo_like(width, height, seed).save(path, "JPEG", quality=quality)
    return path


# --- what a browser loads from a srcset ------------------------------------------

REM = 16  # CSS px of 1rem


def css_length(value, viewport):
    """CSS px of a ``sizes`` length: ``10rem``, ``100vw``, ``calc(100vw - 2rem)``."""
    value = value.strip()
    calc = re.fullmatch(r"calc\((.+) - (.+)\)", value)
    if calc:
        return css_length(calc.group(1), viewport) - css_length(calc.group(2), viewport)
    number, unit = re.fullmatch(r"([0-9.]+)(rem|vw|px)", value).groups()
    return float(number) * {"rem": REM, "vw": viewport / 100, "px": 1}[unit]


def slot_width(sizes, viewport):
    """The width ``sizes`` gives an image at ``viewport`` CSS px (``min-width`` conditions)."""
    for part in sizes.split(","):
        condition = re.match(r"\s*\(min-width:\s*([0-9.]+rem)\)\s*(.+)", part)
        if not condition:
            return css_length(part, viewport)
        if viewport >= css_length(condition.group(1), viewport):
            return css_length(condition.group(2), viewport)
    raise ValueError(f"no length for this viewport in sizes={sizes!r}")


def candidates(srcset):
    """``[(url, width), ...]`` of a srcset with ``w`` descriptors."""
    pairs = []
    for item in srcset.split(","):
        url, width = item.split()
        pairs.append((url, int(width.rstrip("w"))))
    return pairs


def chosen_url(srcset, sizes, viewport=412, density=2):
    """The candidate a browser loads: the narrowest at least as wide as the slot
    times the screen's density, or the widest (what Chromium does, cache aside).

    412 CSS px is the phone Lighthouse emulates; its density is 1.75, 2 is a
    little more demanding."""
    need = slot_width(sizes, viewport) * density
    pairs = sorted(candidates(srcset), key=lambda pair: pair[1])
    return next((url for url, width in pairs if width >= need), pairs[-1][0])
