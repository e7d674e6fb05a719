"""Photo-like test images: what an author's camera or stock photo gives.

Smooth light, blurred shapes and grain at several scales, so that the
image compresses like a photograph (a 2400x1000 JPEG is about 350 KiB)
and keeps detail when it is scaled down, unlike flat synthetic art.
"""

import random

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


def save_photo(path, width=2400, height=1000, seed=1, quality=85):
    """Write ``photo_like(...)`` as a JPEG (what a camera or stock site gives)."""
    photo_like(width, height, seed).save(path, "JPEG", quality=quality)
    return path
