"""The model card (``README.md``) written into every output and pushed with it: a `huggingface_hub.ModelCard`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


__all__ = ["build_model_card"]

_PAPER = "https://arxiv.org/abs/2508.10667"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def build_model_card(
    *,
    stage: str,
    base_model: str,
    datasets: Sequence[Mapping[str, Any]] = (),
    hyperparameters: Mapping[str, Any] | None = None,
    trainable_parts: Sequence[Mapping[str, Any]] = (),
    parents: Sequence[Mapping[str, str]] = (),
    metrics: Mapping[str, float] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    is_adapter: bool = True,
    repo_id: str | None = None,
    base_is_local: bool | None = None,
    backbone: Mapping[str, Any] | None = None,
) -> str:
    """Render the card: YAML front matter for the Hub, then base model, data, hyper-parameters, metrics, usage.

    Args:
        stage (`str`): e.g. ``"stage 1 (cross-view alignment tuning)"``.
        base_model (`str`): the recorded base (Hub id, or a relative path for a local base).
        datasets (`Sequence[Mapping]`): ``{"name", "split", "rows"}`` per training source.
        hyperparameters (`Mapping`, *optional*): name -> value.
        trainable_parts (`Sequence[Mapping]`, *optional*): rows of
            `addressvlm.training.trainable_parts.parameter_table`.
        parents (`Sequence[Mapping]`, *optional*): earlier stages (``{"name", "mode"}``).
        metrics (`Mapping`, *optional*): training metrics (loss, runtime, eval loss).
        evaluation (`Mapping`, *optional*): address-accuracy results (``addressvlm eval`` ``metrics.json``), with
            the evaluation batch size.
        is_adapter (`bool`, *optional*, defaults to `True`): a PEFT adapter (else a full checkpoint).
        repo_id (`str`, *optional*): the Hub repository, for the usage snippet.
        base_is_local (`bool`, *optional*): whether ``base_model`` is a local path; guessed from its form if unset.
        backbone (`Mapping`, *optional*): ``{"name", "tags", "layouts": [(layout, description)]}`` of the model
            family (from its `BackboneSpec`): its tags and the serving layouts ``addressvlm merge`` writes.

    Returns:
        `str`: the ``README.md`` text; its front matter is `ModelCardData` (the Hub's metadata fields).
    """
    from huggingface_hub import ModelCard, ModelCardData

    backbone = dict(backbone or {})
    if base_is_local is None:
        base_is_local = "/" not in base_model or base_model.startswith((".", "/"))
    hub_base = None if base_is_local else base_model
    hub_datasets = [
        str(d["name"]) for d in datasets if "/" in str(d.get("name", "")) and str(d["name"])[0] not in "./"
    ]
    card_data = ModelCardData(
        base_model=hub_base,
        library_name="peft" if is_adapter else None,
        pipeline_tag="image-text-to-text",
        license="apache-2.0",
        tags=["addressvlm", *backbone.get("tags", ()), "lora" if is_adapter else "full-fine-tune", "geolocalization"],
        datasets=hub_datasets or None,
    )

    lines = [
        f"# AddressVLM {stage}",
        "",
        f"Image address localization (street and district of a street-view photo) in the style of AddressVLM "
        f"([paper]({_PAPER})), trained with the `addressvlm` recipes.",
        "",
        "## Base model",
        "",
        f"`{base_model}`"
        + ("" if hub_base else " (a local path, relative to this folder)")
        + (f", a {backbone['name']}" if backbone.get("name") else ""),
    ]
    if parents:
        lines += ["", "Built on earlier stages (loaded automatically by `addressvlm.models.load_pretrained`):", ""]
        lines += [
            f"- `{p['name']}`: {'merged into the base' if p['mode'] == 'merge' else 'stacked adapter'}"
            for p in parents
        ]
    lines += ["", "## Training data", ""]
    if datasets:
        lines += ["| source | split | rows |", "|---|---|---|"]
        lines += [f"| `{d.get('name')}` | {d.get('split', '')} | {d.get('rows', '')} |" for d in datasets]
    else:
        lines.append("Not recorded.")
    if hyperparameters:
        lines += ["", "## Hyper-parameters", "", "| name | value |", "|---|---|"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in hyperparameters.items()]
    if trainable_parts:
        lines += [
            "",
            "## Trainable parts",
            "",
            "| group | mode | parameters | trainable | lr |",
            "|---|---|---|---|---|",
        ]
        for row in trainable_parts:
            lr = _fmt(row["lr"]) if row.get("lr") is not None else "-"
            lines.append(f"| {row['group']} | {row['mode']} | {row['parameters']:,} | {row['trainable']:,} | {lr} |")
    lines += ["", "## Training metrics", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in sorted(metrics.items())]
    else:
        lines.append("Not recorded yet.")
    lines += ["", "## Evaluation", ""]
    if evaluation:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in evaluation.items()]
    else:
        lines.append("Not evaluated yet: run `addressvlm eval` on a test split and add its `metrics.json` here.")
    target = repo_id or "<this folder or repo id>"
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "from addressvlm.models import load_pretrained",
        "",
        f'model, processor = load_pretrained("{target}")  # base model + this {"adapter" if is_adapter else "model"}',
        "```",
        "",
    ]
    if is_adapter:
        layouts = "; ".join(f"`--layout {name}`: {text}" for name, text in backbone.get("layouts", ()))
        lines += [
            "The adapter holds the LoRA factors and the full weights of the projector (and of any fully trained "
            "module); `addressvlm merge` writes a merged model"
            + (f" (serving layouts: {layouts})." if layouts else "."),
            "",
        ]
    return str(ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n" + "\n".join(lines)))
