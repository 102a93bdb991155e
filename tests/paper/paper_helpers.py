"""Make a clean page render look like a cheap print-and-scan (for round-trip tests).

A seeded ``numpy`` generator drives every step, so a failing case can be replayed:

1. toner and paper: black becomes dark grey, white becomes light grey, unevenly
   (a smooth gradient across the page, as from a scanner lamp);
2. dot gain: a small blur (Gaussian, radius 0.6–1.0 px at 150 dpi);
3. skew: a 2–3° rotation either way, about the page centre, filled with paper;
4. sensor noise: Gaussian, σ ≈ 10 grey levels, then clipping to 0..255;
5. optionally JPEG at quality 60, the default of many office scanners.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def degrade(
    image: Image.Image,
    rng: np.random.Generator,
    *,
    min_degrees: float = 2.0,
    max_degrees: float = 3.0,
    blur: tuple[float, float] = (0.6, 1.0),
    noise: float = 10.0,
    jpeg: bool = False,
) -> Image.Image:
    """A degraded greyscale copy of ``image``."""
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    height, width = gray.shape
    # Paper between 225 and 245, toner between 20 and 50, lamp gradient ±4%.
    paper = rng.uniform(225, 245)
    toner = rng.uniform(20, 50)
    ramp = 1.0 + 0.04 * np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :] * rng.choice(
        [-1.0, 1.0]
    )
    pixels = (toner + (paper - toner) * gray) * ramp
    page = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")
    page = page.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(*blur))))
    angle = float(rng.uniform(min_degrees, max_degrees) * rng.choice([-1.0, 1.0]))
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False,
                       fillcolor=int(paper))
    noisy = np.asarray(page, dtype=np.float32) + rng.normal(0.0, noise, (height, width))
    page = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), mode="L")
    if jpeg:
        buffer = io.BytesIO()
        page.save(buffer, format="JPEG", quality=60)
        page = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    return page


def stain(image: Image.Image, box: tuple[int, int, int, int], fraction: float,
          rng: np.random.Generator, shade: tuple[int, int] = (40, 110),
          keep_clear: tuple[tuple[int, int, int, int], ...] = ()) -> Image.Image:
    """Cover about ``fraction`` of ``box`` (x0, y0, x1, y1) with blots: random overlapping
    discs of one grey drawn from ``shade`` (dark 40–110 as a smudge of toner or ink;
    light 130–180 as spilled coffee). Dark modules under a blot stay dark. Boxes in
    ``keep_clear`` (page coordinates, e.g. finder patterns) stay unstained."""
    x0, y0, x1, y1 = box
    pixels = np.asarray(image.convert("L"), dtype=np.uint8).copy()
    region = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    yy, xx = np.mgrid[0 : y1 - y0, 0 : x1 - x0]
    radius_max = max(3, int(0.12 * min(x1 - x0, y1 - y0)))
    clear = np.zeros_like(region)
    for cx0, cy0, cx1, cy1 in keep_clear:
        clear[max(0, cy0 - y0) : max(0, cy1 - y0), max(0, cx0 - x0) : max(0, cx1 - x0)] = True
    target = fraction * (region.size - clear.sum())
    while region.sum() < target:
        cy, cx = rng.integers(0, y1 - y0), rng.integers(0, x1 - x0)
        radius = rng.integers(2, radius_max)
        region |= ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2) & ~clear
    grey = rng.integers(*shade)
    window = pixels[y0:y1, x0:x1]
    window[region] = np.minimum(window[region], grey)
    return Image.fromarray(pixels, mode="L")


def qr_image(data: bytes, module_px: int = 5, margin_px: int = 40) -> Image.Image:
    """A clean greyscale image of a QR code holding ``data`` (for scanning tests)."""
    from paper.qr import QUIET_ZONE_MODULES, make_qr

    matrix = make_qr(data)
    modules = np.array(matrix.rows, dtype=bool)
    pad = QUIET_ZONE_MODULES
    modules = np.pad(modules, pad, constant_values=False)
    pixels = np.where(modules, 0, 255).astype(np.uint8).repeat(module_px, 0).repeat(module_px, 1)
    pixels = np.pad(pixels, margin_px, constant_values=255)
    return Image.fromarray(pixels, mode="L")


def render_pages(pdf: bytes, dpi: int = 150) -> list[Image.Image]:
    """Every page of a PDF rendered in greyscale, as a scanner would see it."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        return [document[i].render(scale=dpi / 72, grayscale=True).to_pil()
                for i in range(len(document))]
    finally:
        document.close()
