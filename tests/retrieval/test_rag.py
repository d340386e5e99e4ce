"""Retrieval hints in questions: the leak guard, evaluation (CLI and Python), the probe, generation, training data."""

import json

import numpy as np
import pytest

from addressvlm.cli import main
from addressvlm.data import load_address_dataset
from addressvlm.retrieval import (
    AddressIndex,
    LeakError,
    build_index,
    generate_with_rag,
    rag_split,
    retrieve,
    write_rag_dataset,
)
from addressvlm.retrieval.prompts import retrieval_hint


PREFIX = "For your reference, these are the addresses of some similar images: "


@pytest.fixture(scope="module")
def leaky_index(city, lite0, tmp_path_factory):
    """An index of every image of the city: test locations included."""
    table, _ = city
    return build_index(table, tmp_path_factory.mktemp("leaky") / "all", lite0, show_progress=False)


def test_leak_guard(city, train_index, leaky_index, tmp_path, tiny_checkpoint, capsys):
    _, vqa = city
    splits = load_address_dataset(vqa)
    index, leaky = AddressIndex.load(train_index), AddressIndex.load(leaky_index)
    test = splits["test"]
    with pytest.raises(LeakError, match=r"location\(s\) of the split are in the index"):
        rag_split(test, leaky, 3, show_progress=False)
    with pytest.raises(LeakError):
        retrieve(leaky, list(test["image"]), 3, location_ids=list(test["location_id"]))
    # the CLI refuses it before loading the model: one line, exit 2
    argv = ["eval", "--model", tiny_checkpoint, "--dataset", str(vqa), "--output-dir", str(tmp_path / "e")]
    assert main([*argv, "--rag", str(leaky_index), "--no-progress"]) == 2
    assert "give the answer away" in capsys.readouterr().err
    # the training split is in the index: its rows never retrieve their own location, in either direction
    train = splits["train"]
    locations = list(train["location_id"])
    found = retrieve(index, list(train["image"]), 5, 5, location_ids=locations, exclude_own_location=True)
    for own, item in zip(locations, found):
        assert len(item["similar"]) == 5 and len(item["dissimilar"]) == 5
        assert own not in {index.locations[r] for r in [*item["similar"], *item["dissimilar"]]}
    # without the exclusion the first hit of a training image is itself
    rows, _ = index.search(index.embed(list(train["image"])[:1]), 1)
    assert index.locations[rows[0][0]] == locations[0]
    # dissimilar rows are less similar than every similar one
    assert all(max(i["dissimilar_scores"]) < min(i["similar_scores"]) for i in found)


def test_rag_split_puts_hints_in_questions_and_turns(city, train_index):
    _, vqa = city
    test = load_address_dataset(vqa)["test"]
    hinted, settings = rag_split(test, train_index, 3, 2, show_progress=False)
    assert settings["k"] == 3 and settings["dissimilar"] == 2 and settings["encoder"] == "efficientnet-lite0"
    assert hinted.column_names == test.column_names and list(hinted["id"]) == list(test["id"])
    index = AddressIndex.load(train_index)
    found = retrieve(index, list(test["image"]), 3, 2, location_ids=list(test["location_id"]))
    for row, original, item in zip(hinted, test, found):
        hint = retrieval_hint(
            [index.address(r) for r in item["similar"]], [index.address(r) for r in item["dissimilar"]]
        )
        assert hint.startswith(PREFIX) and "dissimilar images" in hint
        for q, q0 in zip(row["questions"], original["questions"]):
            assert q["question"] == f"{hint} {q0['question']}" and q["answer"] == q0["answer"]
        humans = [t["value"] for t in row["conversations"] if t["from"] == "human"]
        assert humans[0] == f"{hint} {original['questions'][0]['question']}"  # backbone-neutral: no placeholder
        assert all(h.startswith(hint) for h in humans[1:])


def test_eval_and_probe_with_rag(city, train_index, tiny_checkpoint, tmp_path, capsys):
    _, vqa = city
    out = tmp_path / "eval"
    argv = ["eval", "--model", tiny_checkpoint, "--dataset", str(vqa), "--output-dir", str(out), "--limit", "2"]
    argv += ["--max-new-tokens", "3", "--no-progress", "--device", "cpu", "--rag", str(train_index)]
    assert main([*argv, "--rag-k", "3", "--rag-dissimilar", "1"]) == 0
    settings = json.loads((out / "eval_settings.json").read_text())
    assert settings["rag"]["k"] == 3 and settings["rag"]["dissimilar"] == 1
    assert settings["rag"]["index"] == str(train_index.resolve())
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 18 and all(r["question"].startswith(PREFIX) for r in records)
    assert json.loads((out / "metrics.json").read_text())["eval"]["rag"]["k"] == 3
    # a resumed run must use the same retrieval settings, and a plain run may not continue a RAG one
    capsys.readouterr()
    assert main([*argv, "--rag-k", "4", "--rag-dissimilar", "1"]) == 2
    assert "other settings" in capsys.readouterr().err
    plain = [a for a in argv if a not in ("--rag", str(train_index))]
    assert main(plain) == 2
    assert main([*argv, "--rag-k", "3", "--rag-dissimilar", "1"]) == 0  # same settings: resumes, nothing to redo

    probe = tmp_path / "probe"
    argv = ["probe", "--model", tiny_checkpoint, "--dataset", str(vqa), "--output-dir", str(probe), "--limit", "1"]
    argv += ["--samples", "2", "--max-new-tokens", "3", "--no-progress", "--device", "cpu", "--rag", str(train_index)]
    assert main([*argv, "--rag-k", "2", "--rag-dissimilar", "0"]) == 0
    report = json.loads((probe / "probe_counts.json").read_text())
    assert report["settings"]["rag"]["k"] == 2
    assert report["images"][0]["prompt"].startswith(PREFIX) and "What street" in report["images"][0]["prompt"]


def test_generate_with_rag_matches_generating_the_hinted_question(city, train_index, tiny_checkpoint):
    from addressvlm.inference import generate_answers
    from addressvlm.models import load_pretrained

    _, vqa = city
    test = load_address_dataset(vqa)["test"]
    model, processor = load_pretrained(tiny_checkpoint)
    model.eval()
    image, question = test[0]["image"], test[0]["questions"][0]["question"]
    answers = generate_with_rag(model, processor, [image], [question], train_index, 3,
                                location_ids=[test[0]["location_id"]], max_new_tokens=4)  # fmt: skip
    hinted, _ = rag_split(test.select([0]), train_index, 3, show_progress=False)
    assert answers == generate_answers(model, processor, [image], [hinted[0]["questions"][0]["question"]],
                                       max_new_tokens=4)  # fmt: skip
    with pytest.raises(LeakError):
        index = AddressIndex.load(train_index)
        generate_with_rag(model, processor, [image], [question], index, 3, location_ids=[index.locations[0]])


def test_training_data_with_retrieval_hints(city, train_index, tiny_checkpoint, tmp_path):
    _, vqa = city
    out = tmp_path / "vqa_rag"
    argv = ["index", "augment", str(train_index), "--dataset", str(vqa), "--output", str(out), "--rag-k", "3"]
    assert main([*argv, "--rag-dissimilar", "1", "--device", "cpu", "--no-progress"]) == 0
    original, hinted = load_address_dataset(vqa), load_address_dataset(out)
    info = json.loads((out / "build_info.json").read_text())
    assert info["builder"] == json.loads((vqa / "build_info.json").read_text())["builder"]  # still a VQA set
    assert info["rag"]["splits"]["train"]["exclude_own_location"] is True
    assert info["rag"]["splits"]["test"]["exclude_own_location"] is False
    index = AddressIndex.load(train_index)
    for name in ("train", "validation", "test"):
        a, b = original[name], hinted[name]
        assert list(a["image"]) == list(b["image"]) and list(a["id"]) == list(b["id"])
        for row, row0 in zip(b, a):
            assert [q["answer"] for q in row["questions"]] == [q["answer"] for q in row0["questions"]]
            assert all(q["question"].startswith(PREFIX) for q in row["questions"])
    # training rows list other locations only: the addresses in a row's hint come from other locations' images
    train = hinted["train"]
    found = retrieve(index, list(original["train"]["image"]), 3, 1,
                     location_ids=list(original["train"]["location_id"]), exclude_own_location=True)  # fmt: skip
    for row, item in zip(train, found):
        hint = retrieval_hint(
            [index.address(r) for r in item["similar"]], [index.address(r) for r in item["dissimilar"]]
        )
        assert row["questions"][0]["question"].startswith(hint + " ")
    # the guard holds for the other splits: an index holding test locations is refused
    table, _ = city
    leaky = tmp_path / "leaky"
    build_index(table, leaky, index.encoder(), show_progress=False)
    with pytest.raises(LeakError):
        write_rag_dataset(vqa, leaky, tmp_path / "refused", 3, show_progress=False)
    assert not (tmp_path / "refused").exists()
    # the hinted set trains like any VQA set: the stage-2 data loader takes it, with longer examples
    from addressvlm.models import load_pretrained
    from addressvlm.training.arguments import DataArguments
    from addressvlm.training.data import check_training_datasets, load_training_data

    _, processor = load_pretrained(tiny_checkpoint)
    lengths = {}
    for name, folder in (("plain", vqa), ("hinted", out)):
        data_args = DataArguments(dataset_paths=[str(folder)], isolate_turns=True)
        check_training_datasets(data_args, ["vqa"], "stage-2 training")
        lengths[name] = np.mean(load_training_data(data_args, processor).train["length"])
    assert lengths["hinted"] > lengths["plain"] + 3 * 10


def test_demo_retriever_reads_a_real_index(city, train_index):
    """``ask --rag`` / the demo open a built index through `load_retriever`: same rows as `retrieve`."""
    from addressvlm.demo.retrieval import load_retriever

    _, vqa = city
    test = load_address_dataset(vqa)["test"]
    index = AddressIndex.load(train_index)
    image = test[0]["image"]
    expected = retrieve(index, [image], 3, location_ids=[test[0]["location_id"]])[0]
    found = load_retriever(train_index).search(image, k=3)
    assert [(n.street, n.district) for n in found] == [
        (index.streets[r], index.districts[r]) for r in expected["similar"]
    ]
    assert [round(n.score, 5) for n in found] == [round(float(s), 5) for s in expected["similar_scores"]]
