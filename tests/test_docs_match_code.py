"""Docs, config headers and install scripts say what the code does (fidelity review, findings 1, 5 and 9)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "recipes" / "configs"
FULL_SIZE = sorted(path for path in CONFIGS.glob("*/*_stage*.yaml") if "_cpu_" not in path.name)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "recipes").rglob("*.md"))]


def _constraints() -> dict[str, str]:
    lines = (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
    return dict(line.lower().split("==") for line in lines if "==" in line and not line.startswith("#"))


def test_every_logger_the_configs_use_is_installed_with_the_training_extra():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    train = " ".join(extras["train"]).lower()
    pinned = _constraints()
    for config in FULL_SIZE:
        report_to = yaml.safe_load(config.read_text()).get("report_to", "none")
        for logger in [report_to] if isinstance(report_to, str) else report_to:
            if logger != "none":
                assert logger in train, f"{config.name} logs to {logger}, which the [train] extra does not install"
                assert logger in pinned, f"{logger} is not pinned in .ci/constraints.txt"


def test_bootstrap_installs_the_pinned_versions_on_every_machine():
    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    installs = [line for line in script.splitlines() if re.search(r"pip install -e\b", line)]
    assert installs, "bootstrap.sh installs the project"
    for line in installs:
        assert " -c " in line, f"installed without the constraints file: {line.strip()}"
    assert 'has_gpu" = 1 ] && extras' in script  # the GPU branch shares the pinned install line


@pytest.mark.parametrize("config", FULL_SIZE, ids=lambda p: p.name)
def test_single_gpu_hint_loads_float32_weights(config):
    header = "".join(line for line in config.read_text().splitlines(keepends=True) if line.startswith("#"))
    hint = header[header.index("One 80 GB GPU") :]
    assert "--dtype float32" in hint, f"{config.name}: without DeepSpeed bf16 weights drop lr-1e-5 updates"


def _readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = text[text.index("## The real thing") :]
    block = block[block.index("```bash") + 7 : block.index("```", block.index("```bash") + 7)]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip() and line[0] != "#"]


def _flag(argv: list[str], *names: str) -> str:
    for i, arg in enumerate(argv):
        if arg in names:
            return argv[i + 1]
    raise AssertionError(f"{names} not in {argv}")


def test_readme_real_run_uses_the_folders_the_configs_read_and_write():
    pitts = {
        stage: yaml.safe_load((CONFIGS / "llava_phi3" / f"pitts_{stage}.yaml").read_text())
        for stage in ("stage1", "stage2")
    }
    commands = _readme_commands()
    by_verb = {}
    for argv in commands:
        verb = " ".join(argv[:3]) if argv[0] == "addressvlm" and argv[1] == "data" else argv[0:2]
        by_verb[verb if isinstance(verb, str) else " ".join(verb)] = argv
    assert _flag(by_verb["addressvlm data build-vqa"], "--output") == pitts["stage2"]["dataset_paths"][0]
    labelled = _flag(by_verb["addressvlm data label-alignment"], "-o", "--output")
    assert labelled == pitts["stage1"]["dataset_paths"][0]
    assert pitts["stage2"]["init_from"] == pitts["stage1"]["output_dir"]
    assert _flag(by_verb["addressvlm eval"], "--model") == pitts["stage2"]["output_dir"]
    assert by_verb["addressvlm merge"][2] == pitts["stage2"]["output_dir"]
    for argv in commands:
        assert "--init_from" not in argv or argv[argv.index("--init_from") + 1] == pitts["stage1"]["output_dir"]


def _repository_paths() -> set[str]:
    """Every file under the checkout as a relative POSIX path, virtual environments and caches left out."""
    skip = {".git", ".venv", "venv", "node_modules", "__pycache__", ".ruff_cache", ".pytest_cache"}
    paths = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
        relative = Path(folder).relative_to(ROOT)
        paths.update((relative / name).as_posix() for name in files)
    return paths


def test_docs_cite_only_files_that_exist():
    paths = _repository_paths()
    for doc in DOCS:
        for name in re.findall(r"`([\w./-]+\.(?:md|yaml|json|py|sh))`", doc.read_text()):
            if "<" in name or name.startswith(("runs/", "out/", "data/", "eval/")) or "*" in name:
                continue
            candidates = [ROOT / name, doc.parent / name, ROOT / "docs" / name]
            nested = any(path.endswith("/" + name) for path in paths)
            generated = name.split("/")[-1] in {
                "build_info.json", "metrics.json", "eval_settings.json", "probe_counts.json", "comparison.json",
                "label_report.json", "adapter_config.json", "adapter_chain.json", "config.json",
                "generation_config.json", "processor_config.json", "trainer_state.json", "city_info.json",
                "all_results.json", "train_results.json", "README.md", "comparison.md", "predictions.jsonl",
                "index_info.json",
            }  # fmt: skip
            found = nested or any(c.exists() for c in candidates)
            assert generated or found, f"{doc.relative_to(ROOT)} cites missing {name}"


def test_general_vqa_ratio_for_tables_5_to_1_is_general_rows_per_address_row():
    for doc in DOCS:
        for value in re.findall(r"--general-vqa-ratio ([\d.]+)`[^.]{0,60}5:1", doc.read_text()):
            assert float(value) == 5, (
                f"{doc.name}: --general-vqa-ratio {value} for 5:1 (the code means general per address)"
            )
    from addressvlm.training.arguments import DataArguments

    assert "without replacement" in DataArguments.__doc__


def test_no_doc_points_at_an_adapter_subfolder():
    for doc in DOCS:
        for path in re.findall(r"--adapter (\S+)", doc.read_text()):
            assert not path.rstrip("/").endswith("/adapter"), f"{doc.name}: recipe outputs hold the adapter at the top"


def test_auto_class_registration_is_documented_where_it_happens():
    import addressvlm

    code = (
        "import addressvlm\n"
        "from transformers.models.auto.configuration_auto import CONFIG_MAPPING\n"
        "a = 'llava_phi3' in CONFIG_MAPPING\n"
        "import addressvlm.models\n"
        "print(a, 'llava_phi3' in CONFIG_MAPPING)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]
    assert "addressvlm.models" in addressvlm.__doc__
    readme = (ROOT / "README.md").read_text()
    assert "importing addressvlm.models registers" in readme
