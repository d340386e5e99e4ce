"""The options of the dataset builders, one documented dataclass each: the builders take them (``options=`` or
single options by name) and ``addressvlm data`` makes its sub-commands from them (`addressvlm.utils.options`), so
each option's type, default and help are written here once.

A light module (no pandas, no torch), so ``addressvlm --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from addressvlm.utils.options import option

from .graft import DEFAULT_DELTA, DEFAULT_SIZE


__all__ = ["DEFAULT_SEGMENTATION_MODEL", "AlignmentOptions", "LocatabilityOptions", "SynthCityOptions", "VQAOptions"]

DEFAULT_SEGMENTATION_MODEL = "facebook/maskformer-swin-large-ade"
"""MaskFormer (Swin-L) trained on ADE20K, as GeoReasoner's locatability code; any ADE20K segmenter works."""


@dataclass(kw_only=True)
class SynthCityOptions:
    """Options of [`build_synth_city`] and of ``addressvlm data synth-city`` (flags: the names with dashes).

    Args:
        city (`str`, *optional*, defaults to ``"helsinki"``): ``helsinki``, ``kotka`` or the path of an ``.osm.pbf``
            extract.
        locations (`int`, *optional*, defaults to 320): Capture locations.
        views (`int`, *optional*, defaults to 4): Street views per location, at headings ``bearing + 360 k / views``
            (+-10 degrees).
        image_size (`int`, *optional*, defaults to 128): Side of the square street views (at least `MIN_IMAGE_SIDE`).
        tile_size (`int`, *optional*, defaults to 336): Side of the satellite tiles (the grafting size, so no resize is
            needed there; at least `MIN_IMAGE_SIDE`).
        tile_ground_m (`float`, *optional*, defaults to 200.0): Ground side of a tile in metres.
        spacing_m (`float`, *optional*, defaults to 20.0): Spacing of candidate locations along the streets.
        min_locations_per_street (`int`, *optional*, defaults to 6): Streets with fewer candidates are dropped; kept
            streets get at least this many locations.
        max_streets (`int`, *optional*, defaults to 32): Keep at most this many streets (the longest); 0 or `None` for
            all.
        sign_probability (`float`, *optional*, defaults to 0.25): Share of views showing a street-name sign, between 0
            and 1.
        image_format (`str`, *optional*, defaults to ``"jpg"``): ``jpg`` or ``png`` for all images.
        seed (`int`, *optional*, defaults to 0): Seed of every random choice.
        workers (`int`, *optional*, defaults to 1): Processes rendering street views (the output does not depend on
            it).
        overwrite (`bool`, *optional*, defaults to `False`): Replace an existing output folder.
    """

    city: str = option("helsinki")
    locations: int = option(320)
    views: int = option(4)
    image_size: int = option(128)
    tile_size: int = option(336)
    tile_ground_m: float = option(200.0)
    spacing_m: float = option(20.0)
    min_locations_per_street: int = option(6)
    max_streets: int | None = option(32)
    sign_probability: float = option(0.25)
    image_format: str = option("jpg", choices=["jpg", "png"])
    seed: int = option(0)
    workers: int = option(1)
    overwrite: bool = option(False)


@dataclass(kw_only=True)
class VQAOptions:
    """Options of [`build_vqa`] and of ``addressvlm data build-vqa`` (flags: the names with dashes).

    Args:
        seed (`int`, *optional*, defaults to 0): Seed of the split and of every random choice.
        split_ratios (`list[float]`, *optional*, defaults to ``[0.7, 0.2, 0.1]``): Share of *locations* in train /
            validation / test, drawn with ``seed``. Not allowed when the table's ``split`` column is used (the splits
            are then given).
        ignore_split_column (`bool`, *optional*, defaults to `False`): Re-draw the splits by ``split_ratios`` even
            though the table has a ``split`` column. By default a table's ``split`` column (a dataset's official train
            / validation / test, e.g. Pitts-IAL's 19,152 test images) gives each row's split.
        turns_per_image (`int`, *optional*, defaults to 3): Training questions per image (Table B2: 3.0); the three
            types are balanced 1:1:1.
        distractors (`str`, *optional*, defaults to ``"random"``): How judgement-No names and multiple-choice options
            are drawn: ``random`` (other names of the same city) or ``nearby`` (among the ``nearby_pool`` names with
            the nearest centroids).
        nearby_pool (`int`, *optional*, defaults to 8): Pool size of ``nearby`` distractors.
        mc_answer (`str`, *optional*, defaults to ``"letter"``): Training target of multiple-choice turns: ``letter``
            or ``letter_text``.
        generation_prompts (`str`, *optional*, defaults to ``"templates"``): Evaluation-split generation questions from
            the B4 stems (``templates``) or Fig. 10 (``fig10``).
        views_per_location (`int`, *optional*): Keep only this many views per training location (Fig. 7 "View-k/N");
            evaluation splits are whole.
        location_fraction (`float`, *optional*): Keep this share of training locations (Fig. 7 "Location-k/N").
        general_vqa_json (`str`, *optional*): LLaVA-format JSON of general VQA mixed into the training split (Table 6,
            stage 2); see `addressvlm.data.general_vqa`. General rows have ``id`` ``general-*``, empty address fields
            and no ``questions``.
        general_vqa_ratio (`float`, *optional*, defaults to 1.0): General rows per training image (Table 6: 5 for 5:1
            general:address, 1.0 for 1:1).
        general_vqa_image_root (`str`, *optional*): Folder of the general JSON's images (default: the JSON's folder).
        image_root (`str`, *optional*): Folder of relative image paths (defaults to the table's folder).
        column_map (`str` or `Mapping[str, str]`, *optional*): Column renames for tables with other column names, or
            the YAML/JSON file holding them.
        check_images (`bool`, *optional*, defaults to `False`): Open every image while validating.
        overwrite (`bool`, *optional*, defaults to `False`): Replace an existing output folder.
    """

    seed: int = option(0)
    split_ratios: list[float] | None = option(None)
    ignore_split_column: bool = option(False)
    turns_per_image: int = option(3)
    distractors: str = option("random", choices=["random", "nearby"])
    nearby_pool: int = option(8)
    mc_answer: str = option("letter", choices=["letter", "letter_text"])
    generation_prompts: str = option("templates", choices=["templates", "fig10"])
    views_per_location: int | None = option(None)
    location_fraction: float | None = option(None)
    general_vqa_json: str | None = option(None)
    general_vqa_ratio: float = option(1.0)
    general_vqa_image_root: str | None = option(None)
    image_root: str | None = option(None)
    column_map: str | None = option(None)
    check_images: bool = option(False)
    overwrite: bool = option(False)


@dataclass(kw_only=True)
class AlignmentOptions:
    """Options of [`build_alignment_set`] and of ``addressvlm data build-alignment`` (flags: the names with dashes).

    Args:
        delta (`float`, *optional*, defaults to 0.5): Inset size ratio of eq. 3 (``0 < delta <= 1``).
        size (`int`, *optional*, defaults to 336): Side of the grafted images.
        satellite (`str`, *optional*, defaults to ``"labeled"``): ``labeled`` (column ``satellite``) or ``unlabeled``
            (column ``satellite_unlabeled``).
        per (`str`, *optional*, defaults to ``"view"``): One grafted image per street view (``view``) or per location
            (``location``, a seeded random view).
        views_per_location (`int`, *optional*): Keep at most this many views per location (view density, Fig. 7).
        location_fraction (`float`, *optional*): Keep this share of locations (location density, Fig. 7).
        cities (`list[str]`, *optional*): City name of each table (default: the table's ``city`` column, else its
            folder name).
        vqa_dataset (`str`, *optional*): A built VQA set: only the locations of its ``train`` split are used (no
            evaluation leakage).
        general_vqa_json (`str`, *optional*): LLaVA-format JSON to mix into the train split (Table 6).
        general_vqa_ratio (`float`, *optional*, defaults to 1.0): General rows per alignment row (Table 6: 5 for 5:1
            general:address, 1.0 for 1:1).
        general_vqa_image_root (`str`, *optional*): Folder of the general JSON's images (default: the JSON's folder).
        validation_fraction (`float`, *optional*, defaults to 0.0): Share of locations held out in a ``validation``
            split.
        image_format (`str`, *optional*, defaults to ``"jpg"``): ``jpg`` (quality 95) or ``png`` for the grafted
            images.
        seed (`int`, *optional*, defaults to 0): Seed of every random choice.
        workers (`int`, *optional*, defaults to 1): Processes grafting images (the output does not depend on it).
        overwrite (`bool`, *optional*, defaults to `False`): Replace an existing output folder.
    """

    delta: float = option(DEFAULT_DELTA)
    size: int = option(DEFAULT_SIZE)
    satellite: str = option("labeled", choices=["labeled", "unlabeled"])
    per: str = option("view", choices=["view", "location"])
    views_per_location: int | None = option(None)
    location_fraction: float | None = option(None)
    cities: list[str] | None = option(None)
    vqa_dataset: str | None = option(None)
    general_vqa_json: str | None = option(None)
    general_vqa_ratio: float = option(1.0)
    general_vqa_image_root: str | None = option(None)
    validation_fraction: float = option(0.0)
    image_format: str = option("jpg", choices=["jpg", "png"])
    seed: int = option(0)
    workers: int = option(1)
    overwrite: bool = option(False)


@dataclass(kw_only=True)
class LocatabilityOptions:
    """Options of [`build_locatability`] and of ``addressvlm data locatability`` (flags: the names with dashes).

    Args:
        model (`str`, *optional*, defaults to `DEFAULT_SEGMENTATION_MODEL`): Segmentation checkpoint (folder or Hub id)
            with the ADE20K label set.
        weights (`str`, *optional*): A class weights file; defaults to the packaged one.
        fractions (`str`, *optional*): Known class fractions instead of a segmentation model (`read_class_fractions`;
            the offline city's ``class_fractions.csv``).
        threshold (`float`, *optional*): Keep scores strictly above it; `DEFAULT_THRESHOLD` (GeoReasoner's 0.4) when
            ``top_fraction`` is not given either.
        top_fraction (`float`, *optional*): Keep this share of the images, the highest scores (see
            `filter_by_locatability`); not with ``threshold``.
        batch_size (`int`, *optional*, defaults to 8): Images per forward pass.
        device (`str`, *optional*, defaults to ``"cpu"``): Torch device.
        column_map (`str` or `Mapping[str, str]`, *optional*): Column renames for tables with other column names, or
            the YAML/JSON file holding them.
        overwrite (`bool`, *optional*, defaults to `False`): Replace an existing output folder.
    """

    model: str = option(DEFAULT_SEGMENTATION_MODEL)
    weights: str | None = option(None)
    fractions: str | None = option(None)
    threshold: float | None = option(None)
    top_fraction: float | None = option(None)
    batch_size: int = option(8)
    device: str = option("cpu")
    column_map: str | None = option(None)
    overwrite: bool = option(False)
