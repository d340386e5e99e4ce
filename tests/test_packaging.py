"""What a wheel install needs: the recipes, their configs and the metric ship inside the package, a checkout links them
at the paths the docs use, and ``addressvlm train`` / the quickstart reach them without a checkout.

``scripts/wheel_check.sh`` (CI) builds and installs the real wheel; these tests check the pieces quickly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from addressvlm.cli import main
from addressvlm.evaluation import ADDRESS_ACCURACY_DIR
from addressvlm.recipes import CONFIGS_DIR, DS_CONFIGS_DIR, RECIPES_DIR
from addressvlm.training.parser import find_config


ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "addressvlm"


def test_checkout_paths_are_links_into_the_package():
    assert (ROOT / "recipes").is_symlink() and (ROOT / "recipes").resolve() == RECIPES_DIR
    assert (ROOT / "recipes" / "stage1.py").resolve() == PACKAGE / "recipes" / "stage1.py"
    assert (ROOT / "evaluation" / "address_accuracy").resolve() == ADDRESS_ACCURACY_DIR
    assert (ROOT / "ds_configs").is_symlink() and (ROOT / "ds_configs").resolve() == DS_CONFIGS_DIR
    assert RECIPES_DIR.parent == PACKAGE and ADDRESS_ACCURACY_DIR.parents[1] == PACKAGE


def test_package_data_covers_every_file_that_is_not_code():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["addressvlm"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern)}
    files = [path for path in PACKAGE.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    data = [path for path in files if path.suffix != ".py"]
    assert len(data) >= 30  # prompts, configs, accelerate files, grids, the metric's card
    assert sorted(str(path.relative_to(PACKAGE)) for path in data if path not in shipped) == []
    for name in ("configs/llava_phi3/pitts_stage1.yaml", "configs/minicpmv/quickstart_cpu_stage2.yaml",
                 "accelerate/zero2_8gpu.yaml", "experiments/miniature.yaml", "ds_configs/zero3.json"):  # fmt: skip
        assert RECIPES_DIR / name in shipped, name


def test_find_config_accepts_a_file_a_shipped_name_or_a_checkout_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no recipes/ here, as after `pip install addressvlm`
    local = tmp_path / "mine.yaml"
    local.write_text("learning_rate: 1.0e-5\n")
    assert find_config("mine.yaml") == Path("mine.yaml")
    shipped = CONFIGS_DIR / "llava_phi3" / "tiny_cpu_stage1.yaml"
    assert find_config("llava_phi3/tiny_cpu_stage1.yaml") == shipped
    assert find_config("recipes/configs/llava_phi3/tiny_cpu_stage1.yaml") == shipped
    assert find_config("configs/llava_phi3/table4/stage2_full_ve.yaml").name == "stage2_full_ve.yaml"
    with pytest.raises(FileNotFoundError, match=r"^Config file not found: llava_phi3/nope\.yaml \(nor among the "):
        find_config("llava_phi3/nope.yaml")
    with pytest.raises(FileNotFoundError, match=r"^Config file not found: /nope/pitts_stage1\.yaml$"):
        find_config("/nope/pitts_stage1.yaml")  # an absolute path is never looked up elsewhere


def test_train_configs_lists_and_locates_the_shipped_files(capsys):
    assert main(["train", "configs"]) == 0
    listed = capsys.readouterr().out.split()
    assert str(CONFIGS_DIR / "llava_phi3" / "pitts_stage1.yaml") in listed
    assert str(RECIPES_DIR / "accelerate" / "zero2_cpu.yaml") in listed
    assert all(Path(path).is_file() for path in listed)
    assert main(["train", "configs", "accelerate/zero2_cpu.yaml"]) == 0
    assert capsys.readouterr().out.strip() == str(RECIPES_DIR / "accelerate" / "zero2_cpu.yaml")
    assert main(["train", "configs", "accelerate/none.yaml"]) == 2
    assert capsys.readouterr().err.startswith("error: accelerate/none.yaml: no such file among the shipped recipe")
    assert main(["train", "configs", "../cli.py"]) == 2  # nothing outside the recipes folder


def test_train_configs_copy_lays_out_a_checkout_that_launches(tmp_path, capsys):
    import yaml

    assert main(["train", "configs", "--copy", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "recipes"), str(tmp_path / "ds_configs")]
    copied = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()}
    assert {"recipes/stage1.py", "recipes/configs/llava_phi3/pitts_stage1.yaml", "ds_configs/zero2.json"} <= copied
    assert not [name for name in copied if "__init__" in name or "__pycache__" in name or "recipes/ds_configs" in name]
    for accelerate in (tmp_path / "recipes" / "accelerate").glob("zero*.yaml"):  # their DeepSpeed file, from DIR
        deepspeed = yaml.safe_load(accelerate.read_text())["deepspeed_config"]["deepspeed_config_file"]
        assert (tmp_path / deepspeed).is_file(), accelerate.name
    assert main(["train", "configs", "--copy", str(tmp_path)]) == 2  # never over an existing copy
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'recipes'} exists;")


def test_train_forwards_every_argument_to_the_recipe(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "stage2", "--config", "llava_phi3/tiny_cpu_stage2.yaml", "--config", "no_such.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: Config file not found: no_such.yaml (nor among the shipped configs in {CONFIGS_DIR})"
    with pytest.raises(SystemExit) as stop:
        main(["train", "stage1", "--help"])
    assert stop.value.code == 0
    assert "--model_name_or_path" in capsys.readouterr().out  # the recipe's own HfArgumentParser help
    assert main(["train", "stage1"]) == 2  # the recipe's own check: no model, no data
    assert capsys.readouterr().err.startswith("error: ")


def test_other_commands_still_reject_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["merge", "adapter", "--output", "out", "--no-such-flag"])
    assert stop.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_quickstart_launches_the_packaged_recipe_outside_a_checkout(tmp_path, monkeypatch):
    from addressvlm.quickstart import _recipe

    monkeypatch.chdir(tmp_path)
    log = tmp_path / "stage2.log"
    with pytest.raises(RuntimeError, match=r"stage 2 recipe failed \(exit 2\)"):
        _recipe(2, log, "--no_such_key", "1", backbone="minicpmv")
    text = log.read_text()
    assert "no_such_key" in text and "Traceback" not in text  # parsed by the recipe: it ran, with its config


def test_the_checkout_launcher_still_runs(tmp_path):
    """``python recipes/stage2.py`` (what ``accelerate launch recipes/stage2.py`` spawns) runs the packaged file."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "stage2.py"), "--config", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().endswith(f"error: Config file not found: {tmp_path / 'none.yaml'}")
