"""Small offline VQA test splits in the ``docs/data_format.md`` §2 schema, written the way `build-vqa` writes them."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


STREETS = ["Aleksanterinkatu", "Mannerheimintie", "Kaivokatu", "Forbes Avenue", "Liberty Avenue", "Market Street"]
DISTRICTS = ["Kluuvi", "Kaartinkaupunki", "Kaisaniemi", "Downtown"]
G = "Answer the question using a single word or phrase."


def _questions(street: str, district: str, rng: np.random.RandomState) -> list[dict]:
    other_street = STREETS[(STREETS.index(street) + 1) % len(STREETS)]
    other_district = DISTRICTS[(DISTRICTS.index(district) + 1) % len(DISTRICTS)]
    street_options = [street, *[s for s in STREETS if s != street][:3]]
    district_options = [district, *[d for d in DISTRICTS if d != district][:3]]
    rng.shuffle(street_options)
    rng.shuffle(district_options)

    def mc(level, options, answer):
        letters = "ABCD"
        listed = " ".join(f"({letters[i]}) {o}" for i, o in enumerate(options))
        text = (
            f"Which of the following {level} correctly represents the location shown in the image? {listed} "
            "Please select the correct option (A/B/C/D)."
        )
        letter = letters[options.index(answer)]
        return dict(
            question=text, answer=letter, level=level, type="multiple_choice", reference=letter, options=options
        )

    def q(text, answer, level, qtype):
        return dict(question=text, answer=answer, level=level, type=qtype, reference=answer, options=[])

    return [
        q(f"Tell me the district where this image was captured. {G}", district, "district", "generation"),
        q(f"Is this image taken in {district}, Yes or No?", "Yes", "district", "judgement"),
        q(f"Is this image taken in {other_district}, Yes or No?", "No", "district", "judgement"),
        mc("district", district_options, district),
        q(f"What street is this photo taken on? {G}", street, "street", "generation"),
        q(f"Is this image taken on {street}, Yes or No?", "Yes", "street", "judgement"),
        q(f"Is this image taken on {other_street}, Yes or No?", "No", "street", "judgement"),
        mc("street", street_options, street),
        q(
            "Which street and district is the image located? Answer the question using a single phrase.",
            f"{street}, {district}",
            "street_district",
            "generation",
        ),
    ]


def write_vqa_dataset(folder: Path, n_images: int = 3, seed: int = 0, broken_image: int | None = None) -> Path:
    """Write a test split of ``n_images`` images x 9 questions under ``folder``; returns the dataset folder."""
    from datasets import Dataset, DatasetDict

    rng = np.random.RandomState(seed)
    image_dir = folder / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_images):
        name = f"img_{i:03d}.png"
        if i == broken_image:
            (image_dir / name).write_bytes(b"not a png")
        else:
            pixels = rng.randint(0, 256, size=(60, 80, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(image_dir / name)
        street, district = STREETS[i % len(STREETS)], DISTRICTS[i % len(DISTRICTS)]
        questions = _questions(street, district, rng)
        conversations = []
        for j, item in enumerate(questions):
            conversations.append({"from": "human", "value": ("<image>\n" if j == 0 else "") + item["question"]})
            conversations.append({"from": "gpt", "value": item["answer"]})
        rows.append(
            dict(
                id=f"test-{i:07d}",
                image=f"images/{name}",
                location_id=f"loc{i}",
                street=street,
                district=district,
                lat=60.17 + 0.001 * i,
                lon=24.94 + 0.001 * i,
                conversations=conversations,
                questions=questions,
            )
        )
    dataset_dir = folder / "vqa"
    DatasetDict({"test": Dataset.from_list(rows)}).save_to_disk(str(dataset_dir))
    info = {
        "format_version": 1,
        "image_root": "..",
        "image_root_absolute": str(folder.resolve()),
        "path_columns": ["image"],
    }
    (dataset_dir / "build_info.json").write_text(json.dumps(info))
    return dataset_dir


def load_split(dataset_dir: Path, split: str = "test"):
    """The split with absolute image paths, as `addressvlm.data.load_address_dataset` returns it."""
    from datasets import load_from_disk

    root = dataset_dir.parent.resolve()
    dataset = load_from_disk(str(dataset_dir))[split]
    return dataset.map(lambda row: {"image": str(root / row["image"])})


@pytest.fixture
def vqa_dataset(tmp_path):
    """``vqa_dataset(n_images=3, seed=0, broken_image=None)`` -> (dataset folder, test split with absolute paths)."""

    def _make(n_images: int = 3, seed: int = 0, broken_image: int | None = None):
        folder = write_vqa_dataset(tmp_path / f"data-{n_images}-{seed}-{broken_image}", n_images, seed, broken_image)
        return folder, load_split(folder)

    return _make
