"""GeoReasoner's JSON answers: parsing (valid, partial, refusal, garbage) and ``--prompt-style georeasoner``."""

import json

import pytest

from addressvlm.data.georeasoner import REASONING_QUESTION, georeasoner_json
from addressvlm.inference import evaluate_model
from addressvlm.inference.cli import main as cli_main
from addressvlm.inference.georeasoner import parse_georeasoner_answer
from addressvlm.inference.shared_prefix import SharedPrefixAnswerer


@pytest.mark.parametrize(
    "text,status,district,street",
    [
        ('{"district": "Kluuvi", "street": "Aleksanterinkatu", "reasons": "Tram rails."}', "valid", "Kluuvi",
         "Aleksanterinkatu"),
        # GeoReasoner's own example style: single quotes; keys in any order and case; inside a code fence
        ("{'Street': 'Forbes Avenue', 'district': 'Oakland', 'reasons': \"It's hilly\"}", "valid", "Oakland",
         "Forbes Avenue"),
        ('```json\n{"district": "Kluuvi", "street": "Kaivokatu"}\n```', "valid", "Kluuvi", "Kaivokatu"),
        ('Sure! {"district": "Kluuvi", "street": "Kaivokatu", "reasons": "a {brace}"} Hope this helps {', "valid",
         "Kluuvi", "Kaivokatu"),
        # cut off by max_new_tokens inside the reasons: the complete values are recovered
        ('{"district": "Kluuvi", "street": "Kaivokatu", "reasons": "The yellow façades and the tr', "partial",
         "Kluuvi", "Kaivokatu"),
        ('{"district": "Kluuvi", "street": "Kaivo', "partial", "Kluuvi", None),
        ('{"district": "Kluuvi", "reasons": "ochre classicism"}', "partial", "Kluuvi", None),
        ('{"district": "", "street": "Kaivokatu"}', "partial", None, "Kaivokatu"),
        ('{"district": "unknown", "street": "Kaivokatu"}', "partial", None, "Kaivokatu"),
        ('{"district": "Kluuvi \\"Centre\\"", "street": "Kaivokatu", "reasons": "x', "partial", 'Kluuvi "Centre"',
         "Kaivokatu"),
        ("I'm sorry, I cannot determine the location of this image.", "refusal", None, None),
        ('{"district": "Unknown", "street": "N/A", "reasons": "The image is too dark."}', "refusal", None, None),
        ("Kluuvi", "invalid", None, None),  # a bare name is not the JSON asked for
        ('{"city": "Helsinki", "country": "Finland"}', "invalid", None, None),
        ("{{{ ]]] district street", "invalid", None, None),
        # what an undertrained model writes: the shape of JSON, no name in it
        ('{": "Kaartinkaupunki": "street": ": ": ": ": ', "invalid", None, None),
        ('{"district": ["Kluuvi"], "street": "?!"}', "invalid", None, None),
        ("", "invalid", None, None),
    ],
)  # fmt: skip
def test_parse_cases(text, status, district, street):
    answer = parse_georeasoner_answer(text)
    assert (answer.status, answer.district, answer.street) == (status, district, street)


def test_predictions_per_level():
    valid = parse_georeasoner_answer(georeasoner_json("Kluuvi", "Kaivokatu", 'The "yellow" façades'))
    assert valid.reasons == 'The "yellow" façades'  # json.dumps escaped the quotes: still valid JSON
    assert [valid.prediction(level) for level in ("district", "street", "street_district")] == [
        "Kluuvi",
        "Kaivokatu",
        "Kaivokatu, Kluuvi",
    ]
    partial = parse_georeasoner_answer('{"district": "Kluuvi", "reasons": "ochre"}')
    assert [partial.prediction(level) for level in ("district", "street", "street_district")] == ["Kluuvi", "", ""]
    with pytest.raises(ValueError, match="unknown level"):
        valid.prediction("city")


def test_eval_asks_georeasoners_prompt_and_scores_the_parsed_fields(tiny_llava, vqa_dataset, tmp_path, monkeypatch):
    """Scripted answers: image 0 answers in full JSON, image 1 is cut off after the district, image 2 refuses."""
    model, processor = tiny_llava
    _, split = vqa_dataset(n_images=3)
    scripted_json = {
        0: lambda row: georeasoner_json(row["district"], row["street"], "Its façades."),
        1: lambda row: '{"district": "' + row["district"] + '", "street": "' + row["street"][:3],
        2: lambda row: "I'm sorry, I can't tell where this is.",
    }
    expected = []  # (question the model must be asked, answer), in dataset order
    for number, row in enumerate(split):
        for question in row["questions"]:
            if question["type"] == "generation":
                expected.append((REASONING_QUESTION, scripted_json[number](row)))
            else:
                expected.append((question["question"], question["reference"]))  # judgement / MC answered right
    asked = iter(expected)

    def scripted(self, prefixes, prompt_ids):
        answers = []
        for text in self.processor.tokenizer.batch_decode(prompt_ids, skip_special_tokens=True):
            question, answer = next(asked)
            assert text.rstrip().endswith(question)
            answers.append(answer)
        return answers

    monkeypatch.setattr(SharedPrefixAnswerer, "generate", scripted)
    out = tmp_path / "eval"
    metrics = evaluate_model(
        model, processor, split, out, batch_size=4, prompt_style="georeasoner", show_progress=False
    )
    assert next(asked, None) is None  # every question was asked, in order
    # district generation: right for images 0 and 1; street and street+district only for image 0
    assert metrics["A_d_G"] == pytest.approx(200 / 3) and metrics["n_valid_A_d_G"] == 2
    assert metrics["A_s_G"] == pytest.approx(100 / 3) and metrics["n_valid_A_s_G"] == 1
    assert metrics["A_sd"] == pytest.approx(100 / 3)
    assert metrics["A_d_J"] == metrics["A_s_M"] == 100.0
    # recall over district and street questions: 24 questions, 3 naming answers not recovered (image 1's street,
    # image 2's district and street -- refusals count as invalid)
    assert metrics["recall"] == pytest.approx(100 * 21 / 24)
    assert metrics["eval"]["prompt_style"] == "georeasoner"
    assert metrics["eval"]["parse_counts"] == {"valid": 3, "partial": 3, "refusal": 3, "invalid": 0}
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    sd = [r for r in records if r["level"] == "street_district"]
    assert [r["parse"] for r in sd] == ["valid", "partial", "refusal"]
    assert sd[0]["prediction"] == f"{split[0]['street']}, {split[0]['district']}" and sd[1]["prediction"] == ""
    assert sd[2]["raw_prediction"].startswith("I'm sorry")
    assert all("parse" not in r for r in records if r["type"] != "generation")


def test_eval_cli_prompt_style(tiny_checkpoint, vqa_dataset, tmp_path, capsys):
    path, _ = vqa_dataset(n_images=1)
    argv = ["eval", "--model", str(tiny_checkpoint), "--dataset", str(path), "--output-dir", str(tmp_path / "e")]
    argv += ["--max-new-tokens", "4", "--no-progress", "--prompt-style", "georeasoner"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "GeoReasoner JSON answers: valid " in out
    records = [json.loads(line) for line in (tmp_path / "e" / "predictions.jsonl").read_text().splitlines()]
    assert sum(r["question"] == REASONING_QUESTION for r in records) == 3  # district, street, street_district
    # a random model writes no JSON: every naming answer is invalid, whatever it said
    assert all(r["prediction"] == "" and not r["valid"] for r in records if "parse" in r and r["parse"] == "invalid")
    assert cli_main([*argv[:-2], "--prompt-style", "georeasoner", "--rag", str(tmp_path)]) == 2
    assert "do not combine" in capsys.readouterr().err
