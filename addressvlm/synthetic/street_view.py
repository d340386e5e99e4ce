"""Procedural street-view images for the offline city, drawn with PIL.

What a model can learn from them, by design:

- **District** -> large areas: the façade palette, building height, roof shape, window style, road surface and
  the amount of greenery (`DISTRICT_STYLES`, one per district, cycled with a hue shift beyond eight).
- **Street** -> a combination of three colours of big elements (awnings, a façade band at first-floor level,
  doors), unique per street across the city (`assign_street_codes`); these survive downscaling to 64 px.
- **Street-name signs** (blue plates with the name, in DejaVu Sans) appear only in some views and are
  unreadable at 64 px.

What makes it not trivial: each view is an independent random scene (building widths, storeys, windows), two
compositions depending on the heading (looking along the road in perspective, or across at the façades),
occluders (cars in any colour, trees, pedestrians, lamp posts) hide parts of the cues, a random lighting /
colour-temperature / contrast, jitter of every colour, sensor noise, a random crop, and an occasional blur.
"""

from __future__ import annotations

import colorsys
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from addressvlm.data.tiles import _font


__all__ = [
    "DISTRICT_STYLES",
    "STREET_COLOURS",
    "DistrictStyle",
    "StreetCode",
    "assign_street_codes",
    "district_style",
    "SCENE_CLASSES",
    "UNLABELLED",
    "heading_is_along",
    "render_street_view",
]

RGB = tuple[int, int, int]

SCENE_CLASSES: dict[str, int] = {
    "building": 1,
    "sky": 2,
    "tree": 4,
    "road": 6,
    "window": 8,
    "sidewalk": 11,
    "person": 12,
    "door": 14,
    "car": 20,
    "signboard": 43,
    "awning": 86,
    "pole": 93,
}
"""What the renderer draws, as ADE20K class ids (the label set of the locatability weights): façades, roofs and the
façade band are ``building``, shop fronts and windows ``window``, lamp and sign posts ``pole``, the name plate
``signboard``, road markings ``road``."""

UNLABELLED = 255
"""Label-map value of pixels no shape covers."""


class _Painter:
    """An ``ImageDraw`` that also paints every shape, in the class ``label``, into a label map (when one is given).

    Drawing the label map consumes no random numbers, so an image is the same with or without it.
    """

    def __init__(self, draw: ImageDraw.ImageDraw, labels: ImageDraw.ImageDraw | None = None):
        self._draw = draw
        self._labels = labels
        self.label = UNLABELLED

    def __getattr__(self, name: str):
        method = getattr(self._draw, name)
        if self._labels is None:
            return method
        shadow = getattr(self._labels, name)

        def both(*args, **kwargs):
            method(*args, **kwargs)
            kwargs = {**kwargs, "fill": self.label}
            if kwargs.get("outline") is not None:
                kwargs["outline"] = self.label
            shadow(*args, **kwargs)

        return both

    def mark(self, box: tuple[float, float, float, float], label: int) -> None:
        """Label a box drawn without this painter (a pasted plate)."""
        if self._labels is not None:
            self._labels.rectangle(box, fill=label)


@dataclass(frozen=True)
class DistrictStyle:
    """Look of the buildings and the street in one district.

    Args:
        label (`str`): a short description.
        facades (`tuple[RGB, ...]`): façade colours.
        window (`RGB`): glass colour.
        frame (`RGB`): window frame colour.
        roof (`RGB`): roof / cornice colour.
        road (`RGB`): road surface.
        sidewalk (`RGB`): sidewalk surface.
        storeys (`tuple[int, int]`): range of storeys.
        window_columns (`tuple[int, int]`): range of windows per building row.
        pitched_roofs (`float`): probability of a pitched roof.
        greenery (`float`): expected number of trees per view.
        tall_windows (`bool`): glass-tower windows (wide, tall) instead of punched windows.
    """

    label: str
    facades: tuple[RGB, ...]
    window: RGB
    frame: RGB
    roof: RGB
    road: RGB
    sidewalk: RGB
    storeys: tuple[int, int]
    window_columns: tuple[int, int]
    pitched_roofs: float
    greenery: float
    tall_windows: bool = False


DISTRICT_STYLES: tuple[DistrictStyle, ...] = (
    DistrictStyle(
        label="ochre classicism",
        facades=((214, 178, 96), (226, 196, 120), (200, 160, 84)),
        window=(60, 66, 76),
        frame=(236, 230, 214),
        roof=(92, 84, 76),
        road=(96, 90, 84),
        sidewalk=(170, 160, 146),
        storeys=(4, 5),
        window_columns=(3, 5),
        pitched_roofs=0.1,
        greenery=0.4,
    ),
    DistrictStyle(
        label="pale blue and grey",
        facades=((170, 190, 210), (196, 204, 214), (150, 170, 190)),
        window=(48, 56, 70),
        frame=(244, 244, 244),
        roof=(70, 76, 86),
        road=(72, 74, 78),
        sidewalk=(188, 188, 184),
        storeys=(5, 7),
        window_columns=(4, 6),
        pitched_roofs=0.0,
        greenery=0.3,
    ),
    DistrictStyle(
        label="red brick",
        facades=((150, 62, 46), (128, 52, 40), (170, 82, 60)),
        window=(40, 40, 44),
        frame=(210, 200, 186),
        roof=(60, 44, 40),
        road=(84, 84, 86),
        sidewalk=(160, 150, 140),
        storeys=(3, 4),
        window_columns=(2, 4),
        pitched_roofs=0.6,
        greenery=0.6,
    ),
    DistrictStyle(
        label="glass and steel",
        facades=((96, 126, 140), (120, 140, 150), (80, 104, 120)),
        window=(150, 190, 210),
        frame=(70, 80, 90),
        roof=(60, 64, 70),
        road=(60, 60, 64),
        sidewalk=(200, 200, 196),
        storeys=(7, 9),
        window_columns=(5, 8),
        pitched_roofs=0.0,
        greenery=0.2,
        tall_windows=True,
    ),
    DistrictStyle(
        label="park-side villas",
        facades=((236, 232, 220), (220, 214, 196), (200, 206, 190)),
        window=(56, 70, 64),
        frame=(120, 80, 60),
        roof=(110, 60, 50),
        road=(150, 140, 120),
        sidewalk=(200, 190, 170),
        storeys=(2, 3),
        window_columns=(2, 3),
        pitched_roofs=0.8,
        greenery=2.2,
    ),
    DistrictStyle(
        label="beige and brown",
        facades=((196, 170, 136), (170, 136, 100), (150, 116, 84)),
        window=(52, 46, 42),
        frame=(240, 228, 210),
        roof=(84, 62, 48),
        road=(110, 100, 90),
        sidewalk=(176, 164, 150),
        storeys=(4, 6),
        window_columns=(3, 5),
        pitched_roofs=0.2,
        greenery=0.5,
    ),
    DistrictStyle(
        label="white stucco",
        facades=((244, 244, 238), (232, 232, 226), (250, 246, 236)),
        window=(64, 82, 104),
        frame=(90, 90, 90),
        roof=(44, 48, 56),
        road=(78, 80, 84),
        sidewalk=(210, 208, 200),
        storeys=(3, 5),
        window_columns=(3, 4),
        pitched_roofs=0.4,
        greenery=0.5,
    ),
    DistrictStyle(
        label="dark industrial",
        facades=((78, 78, 82), (98, 90, 84), (66, 70, 74)),
        window=(120, 130, 120),
        frame=(40, 40, 40),
        roof=(110, 70, 50),
        road=(66, 64, 62),
        sidewalk=(140, 136, 130),
        storeys=(4, 6),
        window_columns=(2, 3),
        pitched_roofs=0.3,
        greenery=0.2,
    ),
)
"""Eight hand-designed district looks."""

STREET_COLOURS: tuple[RGB, ...] = (
    (214, 40, 40),
    (246, 140, 20),
    (240, 214, 40),
    (40, 160, 64),
    (30, 184, 196),
    (36, 70, 196),
    (138, 58, 186),
    (232, 84, 168),
    (248, 248, 248),
    (24, 24, 24),
)
"""Palette of the street colour codes (10 colours -> 720 ordered triples)."""


@dataclass(frozen=True)
class StreetCode:
    """The three colours that identify a street.

    Args:
        awning (`RGB`): awnings over the shop fronts.
        band (`RGB`): a horizontal band on the façades at first-floor level.
        door (`RGB`): doors and shutters.
    """

    awning: RGB
    band: RGB
    door: RGB


def assign_street_codes(streets: Sequence[str], seed: int = 0) -> dict[str, StreetCode]:
    """Give every street a distinct colour triple (seeded; the same streets and seed give the same codes).

    Args:
        streets (`Sequence[str]`):
            Street names (sorted internally, duplicates ignored).
        seed (`int`, *optional*, defaults to 0):
            Seed of the assignment.

    Returns:
        `dict[str, StreetCode]`.

    Raises:
        `ValueError`: with more than 720 streets.
    """
    names = sorted(set(streets))
    triples = list(itertools.permutations(range(len(STREET_COLOURS)), 3))
    if len(names) > len(triples):
        raise ValueError(f"{len(names)} streets but only {len(triples)} distinct colour codes")
    order = np.random.default_rng([seed, 11]).permutation(len(triples))
    return {
        name: StreetCode(*(STREET_COLOURS[i] for i in triples[int(index)]))
        for name, index in zip(names, order[: len(names)])
    }


def district_style(index: int) -> DistrictStyle:
    """Style of the ``index``-th district; beyond eight the palettes are hue-shifted so each stays distinct."""
    base = DISTRICT_STYLES[index % len(DISTRICT_STYLES)]
    cycle = index // len(DISTRICT_STYLES)
    if cycle == 0:
        return base
    shift = (0.13 * cycle) % 1.0

    def rotate(colour: RGB) -> RGB:
        h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in colour))
        return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb((h + shift) % 1.0, s, v))

    return replace(base, label=f"{base.label} #{cycle + 1}", facades=tuple(rotate(c) for c in base.facades))


def _jitter(rng: np.random.Generator, colour: RGB, amount: int = 12) -> RGB:
    return tuple(int(v) for v in np.clip(np.asarray(colour) + rng.integers(-amount, amount + 1, size=3), 0, 255))


def _shade(colour: RGB, factor: float) -> RGB:
    return tuple(int(max(0, min(255, round(c * factor)))) for c in colour)


class _Wall:
    """Maps façade coordinates (u along the wall, v from top 0 to bottom 1) to the image, with perspective."""

    def __init__(self, near_x, near_top, near_bottom, far_x, far_top, far_bottom, depth_ratio=1.0):
        self.near = (near_x, near_top, near_bottom)
        self.far = (far_x, far_top, far_bottom)
        self.depth_ratio = depth_ratio  # far depth / near depth; 1 = frontal (no foreshortening)

    def _s(self, u: float) -> float:
        if self.depth_ratio == 1.0:
            return u
        z = 1 + u * (self.depth_ratio - 1)
        return (1 - 1 / z) / (1 - 1 / self.depth_ratio)

    def point(self, u: float, v: float) -> tuple[float, float]:
        s = self._s(u)
        x = self.near[0] + (self.far[0] - self.near[0]) * s
        top = self.near[1] + (self.far[1] - self.near[1]) * s
        bottom = self.near[2] + (self.far[2] - self.near[2]) * s
        return x, top + v * (bottom - top)

    def quad(self, u0: float, u1: float, v0: float, v1: float) -> list[tuple[float, float]]:
        return [self.point(u0, v0), self.point(u1, v0), self.point(u1, v1), self.point(u0, v1)]


def _paint_building(
    draw: ImageDraw.ImageDraw,
    wall: _Wall,
    u0: float,
    u1: float,
    top_v: float,
    style: DistrictStyle,
    code: StreetCode,
    rng: np.random.Generator,
) -> None:
    """One building on a wall between ``u0`` and ``u1``; ``top_v`` is its roof line (0 = top of the wall)."""
    facade = _jitter(rng, style.facades[int(rng.integers(len(style.facades)))], 10)
    draw.label = SCENE_CLASSES["building"]
    draw.polygon(wall.quad(u0, u1, top_v, 1.0), fill=facade)
    span = u1 - u0
    if rng.random() < style.pitched_roofs:
        peak = max(0.0, top_v - 0.08)
        draw.polygon([wall.point(u0, top_v), wall.point((u0 + u1) / 2, peak), wall.point(u1, top_v)], fill=style.roof)
    else:
        draw.polygon(wall.quad(u0, u1, top_v, top_v + 0.025), fill=style.roof)
    ground_top = 0.74  # ground floor from here down to 1.0
    band = (0.695, 0.735)
    storeys_span = band[0] - (top_v + 0.05)
    columns = int(rng.integers(style.window_columns[0], style.window_columns[1] + 1))
    rows = max(1, int(round(storeys_span / 0.12)))
    for row in range(rows):
        v0 = top_v + 0.05 + row * storeys_span / rows
        v1 = v0 + storeys_span / rows * (0.8 if style.tall_windows else 0.55)
        for column in range(columns):
            cu0 = u0 + span * (column + (0.08 if style.tall_windows else 0.25)) / columns
            cu1 = u0 + span * (column + (0.92 if style.tall_windows else 0.75)) / columns
            lit = rng.random() < 0.15
            glass = _shade(style.window, 1.5) if lit else _jitter(rng, style.window, 8)
            draw.label = SCENE_CLASSES["window"]
            draw.polygon(wall.quad(cu0, cu1, v0, v1), fill=glass, outline=style.frame)
    # street code: the band at first-floor level, awnings and doors on the ground floor
    draw.label = SCENE_CLASSES["building"]
    draw.polygon(wall.quad(u0, u1, *band), fill=_jitter(rng, code.band, 14))
    shops = int(rng.integers(1, 3))
    for shop in range(shops):
        su0 = u0 + span * (shop + 0.1) / shops
        su1 = u0 + span * (shop + 0.9) / shops
        draw.label = SCENE_CLASSES["window"]
        draw.polygon(wall.quad(su0, su1, ground_top + 0.07, 0.97), fill=(34, 38, 44))
        if rng.random() < 0.85:
            draw.label = SCENE_CLASSES["awning"]
            draw.polygon(
                wall.quad(su0 - 0.01 * span, su1 + 0.01 * span, ground_top, ground_top + 0.065),
                fill=_jitter(rng, code.awning, 14),
            )
        door_u = su0 + (su1 - su0) * float(rng.uniform(0.05, 0.6))
        door_w = (su1 - su0) * 0.3
        draw.label = SCENE_CLASSES["door"]
        draw.polygon(wall.quad(door_u, door_u + door_w, ground_top + 0.08, 1.0), fill=_jitter(rng, code.door, 14))


def _sky(draw: ImageDraw.ImageDraw, width: int, height: int, horizon: float, rng: np.random.Generator) -> None:
    top = np.array([rng.uniform(70, 140), rng.uniform(120, 170), rng.uniform(190, 240)])
    if rng.random() < 0.3:  # overcast
        grey = rng.uniform(170, 215)
        top = np.array([grey, grey, grey + 8])
    bottom = np.minimum(top + 45, 250)
    steps = max(1, int(horizon))
    draw.label = SCENE_CLASSES["sky"]
    for y in range(steps):
        t = y / steps
        colour = tuple(int(c) for c in top * (1 - t) + bottom * t)
        draw.line([(0, y), (width, y)], fill=colour)


def _tree(draw, x, ground_y, height, rng) -> None:
    trunk_w = height * 0.07
    draw.label = SCENE_CLASSES["tree"]
    draw.rectangle((x - trunk_w, ground_y - height * 0.45, x + trunk_w, ground_y), fill=(84, 62, 44))
    green = _jitter(rng, (60, 110, 52), 20)
    for _ in range(4):
        cx = x + rng.uniform(-0.22, 0.22) * height
        cy = ground_y - height * rng.uniform(0.6, 0.85)
        r = height * rng.uniform(0.2, 0.3)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=green)


def _car(draw, x, ground_y, length, rng) -> None:
    height = length * 0.42
    colour = tuple(int(c) for c in rng.integers(20, 235, size=3))
    draw.label = SCENE_CLASSES["car"]
    draw.rounded_rectangle(
        (x, ground_y - height * 0.62, x + length, ground_y - height * 0.12), radius=height * 0.15, fill=colour
    )
    draw.polygon(
        [
            (x + length * 0.2, ground_y - height * 0.6),
            (x + length * 0.32, ground_y - height),
            (x + length * 0.72, ground_y - height),
            (x + length * 0.85, ground_y - height * 0.6),
        ],
        fill=_shade(colour, 0.85),
    )
    draw.polygon(
        [
            (x + length * 0.3, ground_y - height * 0.62),
            (x + length * 0.37, ground_y - height * 0.92),
            (x + length * 0.68, ground_y - height * 0.92),
            (x + length * 0.76, ground_y - height * 0.62),
        ],
        fill=(70, 90, 110),
    )
    wheel = height * 0.2
    for wx in (x + length * 0.2, x + length * 0.8):
        draw.ellipse((wx - wheel, ground_y - wheel * 2, wx + wheel, ground_y), fill=(20, 20, 20))


def _pedestrian(draw, x, ground_y, height, rng) -> None:
    colour = tuple(int(c) for c in rng.integers(20, 220, size=3))
    w = height * 0.18
    draw.label = SCENE_CLASSES["person"]
    draw.rectangle((x - w, ground_y - height * 0.8, x + w, ground_y - height * 0.35), fill=colour)
    draw.rectangle((x - w * 0.8, ground_y - height * 0.35, x + w * 0.8, ground_y), fill=(40, 40, 50))
    r = height * 0.1
    draw.ellipse((x - r, ground_y - height, x + r, ground_y - height * 0.8), fill=(220, 180, 150))


def _sign(image: Image.Image, x: float, y: float, name: str, scale: float) -> tuple[int, int, int, int]:
    """Paste the name plate; return its box (left, top, right, bottom), inclusive."""
    font = _font(max(6, int(round(scale * 0.05))), True)
    left, top, right, bottom = font.getbbox(name)
    pad = max(2, int(scale * 0.012))
    plate = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), (22, 70, 160))
    ImageDraw.Draw(plate).rectangle((0, 0, plate.width - 1, plate.height - 1), outline=(240, 240, 240))
    ImageDraw.Draw(plate).text((pad - left, pad - top), name, font=font, fill=(250, 250, 250))
    left, top = int(x - plate.width / 2), int(y)
    image.paste(plate, (left, top))
    return left, top, left + plate.width - 1, top + plate.height - 1


def _across_view(draw, width, height, style, code, rng):
    ground_y = height * 0.8
    _sky(draw, width, height, ground_y, rng)
    wall_top, wall_bottom = height * 0.02, ground_y
    wall = _Wall(0, wall_top, wall_bottom, width, wall_top, wall_bottom)
    u = -float(rng.uniform(0, 0.25))
    while u < 1:
        span = float(rng.uniform(0.35, 0.7))
        storeys = int(rng.integers(style.storeys[0], style.storeys[1] + 1))
        top_v = max(0.02, 0.7 - storeys * 0.095)
        _paint_building(draw, wall, u, u + span, top_v, style, code, rng)
        u += span
    draw.label = SCENE_CLASSES["sidewalk"]
    draw.rectangle((0, ground_y, width, height * 0.86), fill=_jitter(rng, style.sidewalk, 8))
    draw.label = SCENE_CLASSES["road"]
    draw.rectangle((0, height * 0.86, width, height), fill=_jitter(rng, style.road, 8))
    for x in np.arange(rng.uniform(0, width * 0.3), width, width * 0.35):
        draw.rectangle((x, height * 0.94, x + width * 0.15, height * 0.955), fill=(228, 228, 220))
    return ground_y


def _along_view(draw, width, height, style, code, rng):
    vx = width * float(rng.uniform(0.4, 0.6))
    vy = height * float(rng.uniform(0.42, 0.52))
    _sky(draw, width, height, vy + 2, rng)
    depth = float(rng.uniform(5, 9))
    gap = width * 0.06
    far_half = 0.16 * height / depth * 4
    backdrop = _shade(style.facades[int(rng.integers(len(style.facades)))], 0.8)
    draw.label = SCENE_CLASSES["building"]
    draw.rectangle((vx - gap * 1.2, vy - far_half * 2.4, vx + gap * 1.2, vy + far_half * 0.7), fill=backdrop)
    for row in range(3):
        y = vy - far_half * (2.1 - row * 0.7)
        draw.label = SCENE_CLASSES["window"]
        draw.rectangle((vx - gap * 0.9, y, vx + gap * 0.9, y + far_half * 0.3), fill=_shade(style.window, 1.1))
    walls = [
        _Wall(0, -height * 0.25, height * 0.93, vx - gap, vy - far_half * 1.6, vy + far_half * 0.6, depth),
        _Wall(width, -height * 0.25, height * 0.93, vx + gap, vy - far_half * 1.6, vy + far_half * 0.6, depth),
    ]
    draw.label = SCENE_CLASSES["sidewalk"]
    draw.polygon(
        [(0, height), (width, height), walls[1].point(1, 1), walls[0].point(1, 1)],
        fill=_jitter(rng, style.sidewalk, 8),
    )
    road_left = (width * 0.14, height)
    road_right = (width * 0.86, height)
    draw.label = SCENE_CLASSES["road"]
    draw.polygon(
        [road_left, road_right, (vx + gap * 0.6, vy + far_half * 0.6), (vx - gap * 0.6, vy + far_half * 0.6)],
        fill=_jitter(rng, style.road, 8),
    )
    for i in range(6):
        a, b = i / 6, (i + 0.45) / 6
        y0 = height - (height - vy - far_half * 0.6) * (1 - (1 - a) ** 2)
        y1 = height - (height - vy - far_half * 0.6) * (1 - (1 - b) ** 2)
        w0, w1 = width * 0.012 * (1 - a), width * 0.012 * (1 - b)
        draw.polygon([(vx - w0, y0), (vx + w0, y0), (vx + w1, y1), (vx - w1, y1)], fill=(230, 230, 220))
    for wall in walls:
        u = 0.0
        while u < 1:
            span = float(rng.uniform(0.2, 0.45))
            storeys = int(rng.integers(style.storeys[0], style.storeys[1] + 1))
            top_v = max(0.0, 0.62 - storeys * 0.085)
            _paint_building(draw, wall, u, min(1.0, u + span), top_v, style, code, rng)
            u += span
    return height * 0.93


def render_street_view(
    street: str,
    style: DistrictStyle,
    code: StreetCode,
    along: bool,
    show_sign: bool,
    rng: np.random.Generator,
    size: tuple[int, int] = (128, 128),
    supersample: int = 2,
    return_labels: bool = False,
) -> Image.Image | tuple[Image.Image, np.ndarray]:
    """Draw one street view (and, when asked, the class of every pixel: what was drawn where).

    Args:
        street (`str`):
            Street name (written on the sign when ``show_sign``).
        style (`DistrictStyle`):
            Look of the district.
        code (`StreetCode`):
            Colours of the street.
        along (`bool`):
            Look along the road (perspective) instead of across it at the façades.
        show_sign (`bool`):
            Put the street-name sign in view.
        rng (`np.random.Generator`):
            Random generator of this view.
        size (`tuple[int, int]`, *optional*, defaults to ``(128, 128)``):
            ``(width, height)`` of the output.
        supersample (`int`, *optional*, defaults to 2):
            Draw at this multiple of ``size`` and downsample (anti-aliasing).
        return_labels (`bool`, *optional*, defaults to `False`):
            Also return the label map: the ADE20K class id (`SCENE_CLASSES`) of the shape drawn last at each pixel,
            `UNLABELLED` where none was (downsampled with nearest neighbours). The image is the same either way.

    Returns:
        `PIL.Image.Image` (RGB), or `(image, label_map)` with ``return_labels``: ``label_map`` is a ``uint8``
        array of shape ``(height, width)``.
    """
    out_w, out_h = size
    zoom = float(rng.uniform(1.0, 1.15))
    width, height = int(out_w * supersample * zoom), int(out_h * supersample * zoom)
    image = Image.new("RGB", (width, height))
    labels = Image.new("L", (width, height), UNLABELLED) if return_labels else None
    draw = _Painter(ImageDraw.Draw(image), ImageDraw.Draw(labels) if labels is not None else None)
    compose = _along_view if along else _across_view
    ground_y = compose(draw, width, height, style, code, rng)
    for _ in range(int(rng.poisson(style.greenery))):
        _tree(
            draw, rng.uniform(0, width), ground_y + height * rng.uniform(0, 0.05), height * rng.uniform(0.3, 0.6), rng
        )
    for _ in range(int(rng.poisson(0.8))):
        _car(
            draw, rng.uniform(-0.2, 0.9) * width, height * rng.uniform(0.92, 1.0), width * rng.uniform(0.25, 0.45), rng
        )
    for _ in range(int(rng.poisson(0.8))):
        _pedestrian(
            draw,
            rng.uniform(0, width),
            ground_y + height * rng.uniform(0.0, 0.06),
            height * rng.uniform(0.12, 0.2),
            rng,
        )
    if rng.random() < 0.5:
        x = rng.uniform(0.05, 0.95) * width
        draw.label = SCENE_CLASSES["pole"]
        draw.rectangle(
            (x - width * 0.006, height * 0.25, x + width * 0.006, ground_y + height * 0.04), fill=(50, 54, 58)
        )
    if show_sign:
        x = float(rng.uniform(0.3, 0.7)) * width
        y = float(rng.uniform(0.45, 0.6)) * height
        draw.label = SCENE_CLASSES["pole"]
        draw.rectangle((x - width * 0.008, y, x + width * 0.008, ground_y + height * 0.03), fill=(60, 64, 68))
        draw.mark(_sign(image, x, y - height * 0.02, street, min(width, height)), SCENE_CLASSES["signboard"])
    left = int(rng.integers(0, width - out_w * supersample + 1))
    top = int(rng.integers(0, height - out_h * supersample + 1))
    box = (left, top, left + out_w * supersample, top + out_h * supersample)
    image = image.crop(box).resize((out_w, out_h), Image.Resampling.LANCZOS)
    if labels is not None:
        labels = labels.crop(box).resize((out_w, out_h), Image.Resampling.NEAREST)
    if rng.random() < 0.15:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 0.9))))
    array = np.asarray(image, dtype=np.float32)
    brightness = float(rng.uniform(0.7, 1.15))
    tint = np.array([rng.uniform(0.92, 1.08), 1.0, rng.uniform(0.92, 1.08)], dtype=np.float32)
    contrast = float(rng.uniform(0.85, 1.1))
    array = (array - 128) * contrast + 128
    array = array * brightness * tint + rng.normal(0, float(rng.uniform(2, 7)), size=array.shape)
    if rng.random() < 0.5:  # a soft-edged shadow over the left or right part of the scene
        edge = float(rng.uniform(0.2, 0.8)) * out_w
        ramp = np.clip((np.arange(out_w) - edge) / (0.08 * out_w), -1, 1) * 0.5 + 0.5
        ramp = ramp if rng.random() < 0.5 else 1 - ramp
        array *= (1 - float(rng.uniform(0.1, 0.3)) * ramp)[None, :, None]
    image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    return (image, np.asarray(labels, dtype=np.uint8)) if labels is not None else image


def heading_is_along(heading: float, road_bearing: float) -> bool:
    """`True` when a camera at ``heading`` looks along a road of ``road_bearing`` (within 45 degrees)."""
    difference = abs((heading - road_bearing + 180) % 360 - 180)
    return difference < 45 or difference > 135
