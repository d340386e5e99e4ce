"""Saved training artefacts: what every checkpoint and output holds, and how the recipes complete and check them.

An output folder (and every ``checkpoint-N`` in it) holds:

* ``adapter_config.json`` + ``adapter_model.safetensors``: the PEFT adapter -- LoRA factors plus the full weights
  of the projector and of any fully trained group (``modules_to_save``). A stage without LoRA saves a full model
  (``config.json`` + ``model.safetensors``) instead.
* the processor and tokenizer, ``generation_config.json`` (stops at ``<|end|>``) and ``README.md`` (model card).
* for a stage chained on an earlier one, ``adapter_chain.json`` and the earlier adapter: under ``parents/<name>/``
  when it was merged into the base (``init_mode=merge``), or PEFT's own ``<name>/`` subfolder when stacked
  (``init_mode=stack``). `addressvlm.models.adapters.apply_adapter` replays the chain.

``base_model_name_or_path`` is never an absolute local path: a Hub id is recorded as given; a local base folder is
recorded relative to the folder holding that ``adapter_config.json`` (so base and outputs can move together), and
`resolve_base_model` resolves it back.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addressvlm.models.adapters import (
    ADAPTER_CHAIN_FILE,
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    PARENTS_DIR,
    read_adapter_chain,
    resolve_base_model,
)
from addressvlm.utils.io import atomic_write_text, write_json


__all__ = [
    "ArtifactWriter",
    "BaseModelRef",
    "ParentAdapter",
    "check_saved_tensors",
    "generation_config_for",
    "resolve_base_model",
    "save_final_artifacts",
]

logger = logging.getLogger(__name__)

_STAGING_DIR = ".final-staging"


# --------------------------------------------------------------------------- base-model records
@dataclass(frozen=True)
class BaseModelRef:
    """The base model as the user named it, and how to write it into a saved adapter.

    Args:
        value (`str`): the Hub id or path as given.
        local (`Path`, *optional*): the absolute folder when ``value`` is a local path.
    """

    value: str
    local: Path | None = None

    @classmethod
    def from_name(cls, name_or_path: str | os.PathLike) -> BaseModelRef:
        path = Path(name_or_path)
        return cls(str(name_or_path), path.resolve() if path.exists() else None)

    def for_folder(self, folder: str | os.PathLike) -> str:
        """What ``base_model_name_or_path`` should say in an adapter saved in ``folder``."""
        if self.local is None:
            return self.value
        return os.path.relpath(self.local, Path(folder).resolve())


# --------------------------------------------------------------------------- chains
@dataclass(frozen=True)
class ParentAdapter:
    """An earlier stage this output builds on.

    Args:
        name (`str`): its adapter name (``stage1``).
        mode (`str`): ``merge`` (folded into the base before this stage) or ``stack`` (kept as a frozen adapter).
        source (`Path`): where its adapter lives now (copied into outputs for ``merge``; PEFT saves stacked ones).
    """

    name: str
    mode: str
    source: Path

    @property
    def path_in_output(self) -> str:
        return f"{PARENTS_DIR}/{self.name}" if self.mode == "merge" else self.name


# --------------------------------------------------------------------------- checks and small files
def check_saved_tensors(folder: str | os.PathLike) -> int:
    """Raise `ValueError` if any tensor in any ``*.safetensors`` under ``folder`` is empty (the ZeRO pitfall).

    Returns:
        `int`: the number of tensors checked.
    """
    from safetensors import safe_open

    checked = 0
    for file in sorted(Path(folder).rglob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                shape = handle.get_slice(key).get_shape()
                if any(dim == 0 for dim in shape):
                    raise ValueError(f"{file}: tensor {key} is empty (shape {shape}); the save lost its weights")
                checked += 1
    return checked


def generation_config_for(model, processor):
    """The model's generation config, set to stop at ``<|end|>`` (and the tokenizer's other stop tokens)."""
    import copy

    from transformers import GenerationConfig

    base = getattr(model, "get_base_model", lambda: model)()
    config = copy.deepcopy(getattr(base, "generation_config", None) or GenerationConfig())
    config.eos_token_id = processor.stop_token_ids
    config.pad_token_id = processor.tokenizer.pad_token_id
    if processor.tokenizer.bos_token_id is not None:
        config.bos_token_id = processor.tokenizer.bos_token_id
    return config


def _copy_adapter(source: Path, target: Path) -> None:
    """Copy an adapter's own files (not its checkpoints, processor or logs) to ``target``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS, ADAPTER_CHAIN_FILE):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    for parent in read_adapter_chain(source):
        _copy_adapter(source / parent["path"], target / parent["path"])


# --------------------------------------------------------------------------- finalisation
@dataclass
class ArtifactWriter:
    """Completes a folder the Trainer saved (a checkpoint or the final output) into a self-contained artefact.

    Args:
        base (`BaseModelRef`): the base model record.
        generation_config (`GenerationConfig`): written as ``generation_config.json``.
        parents (`list[ParentAdapter]`, *optional*): earlier stages of the chain.
        card (`dict`, *optional*): model-card fields (`addressvlm.training.model_card.build_model_card`).
    """

    base: BaseModelRef
    generation_config: Any
    parents: list[ParentAdapter] = field(default_factory=list)
    card: dict[str, Any] | None = None

    def finalize(
        self, folder: str | os.PathLike, metrics: dict[str, float] | None = None, destination: str | os.PathLike = None
    ) -> Path:
        """Copy merged parents, fix recorded base paths, write the generation config, chain and model card, and
        check that no saved tensor is empty.

        Args:
            folder (`str` or `os.PathLike`): the folder the Trainer saved.
            metrics (`dict`, *optional*): training metrics for the model card.
            destination (`str` or `os.PathLike`, *optional*): where ``folder`` will be moved (relative base paths
                are computed for it); defaults to ``folder``.
        """
        from .model_card import build_model_card

        folder = Path(folder)
        destination = Path(destination) if destination is not None else folder
        for parent in self.parents:
            if parent.mode == "merge":
                _copy_adapter(parent.source, folder / parent.path_in_output)
        for config_file in sorted(folder.rglob(ADAPTER_CONFIG)):
            data = json.loads(config_file.read_text())
            data["base_model_name_or_path"] = self.base.for_folder(
                destination / config_file.parent.relative_to(folder)
            )
            write_json(config_file, data)
            readme = config_file.parent / "README.md"
            if config_file.parent != folder and readme.is_file():
                readme.unlink()  # PEFT's placeholder card for a sub-adapter (it names the absolute base path)
        if self.parents:
            chain = [{"name": p.name, "mode": p.mode, "path": p.path_in_output} for p in self.parents]
            write_json(folder / ADAPTER_CHAIN_FILE, {"format_version": 1, "parents": chain})
        atomic_write_text(folder / "generation_config.json", self.generation_config.to_json_string())
        if self.card is not None:
            card = dict(
                self.card,
                base_model=self.base.for_folder(destination),
                base_is_local=self.base.local is not None,
                metrics=metrics or {},
            )
            atomic_write_text(folder / "README.md", build_model_card(**card))
        count = check_saved_tensors(folder)
        logger.info("Finalised %s: %d tensors checked, none empty", folder, count)
        return folder


def save_final_artifacts(trainer, writer: ArtifactWriter, metrics: dict[str, float] | None = None) -> Path:
    """Save the trained model into ``trainer.args.output_dir`` atomically, completed by ``writer``.

    Every process calls it (ZeRO-3 gathers weights collectively); the main process stages the files in a hidden
    folder, finalises them, and then moves them into place, so a crash never leaves a half-written adapter.
    """
    output_dir = Path(trainer.args.output_dir)
    staging = output_dir / _STAGING_DIR
    if trainer.is_world_process_zero() and staging.exists():
        shutil.rmtree(staging)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))
    if trainer.is_world_process_zero():
        writer.finalize(staging, metrics, destination=output_dir)
        for entry in sorted(staging.iterdir()):
            target = output_dir / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
        staging.rmdir()
    trainer.accelerator.wait_for_everyone()
    return output_dir
