"""Argument dataclasses of the training recipes, parsed by `HfArgumentParser` from YAML plus command-line flags.

One flat namespace: every field below is a YAML key and a ``--flag`` (see `addressvlm.training.parser`).
Defaults follow the paper's Table A1 where it gives a value; `TrainingArguments` defaults that differ are listed in
`AddressVLMTrainingArguments`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args, get_origin, get_type_hints

from transformers import TrainingArguments


__all__ = [
    "AddressVLMTrainingArguments",
    "DataArguments",
    "InitArguments",
    "ModelArguments",
    "TrainablePartsArguments",
]


def _check_choices(args) -> None:
    """Every `Literal` field of ``args`` holds one of its values (also when the dataclass is built in code)."""
    for name, hint in get_type_hints(type(args)).items():
        if get_origin(hint) is Literal and getattr(args, name) not in get_args(hint):
            raise ValueError(f"{name} must be one of {list(get_args(hint))}, got {getattr(args, name)!r}")


@dataclass
class ModelArguments:
    r"""
    > Which checkpoint to start from and how to load it.

    Args:
        model_name_or_path (`str`, *optional*):
            The base checkpoint: a Hub id or a local folder, of any registered backbone, in any layout that
            `addressvlm.models.load_pretrained` reads (the checkpoint's config chooses the backbone). Stage 2 may
            leave it unset when ``init_from`` names a stage-1 output (its recorded base is used).
        base_model_id (`str`, *optional*):
            What the saved adapter records as its base (``base_model_name_or_path``) and the model card names,
            e.g. the Hub id of a base you load from a local copy. Defaults to ``model_name_or_path`` as given: a Hub
            id stays as is, a local folder is recorded relative to the adapter folder.
        dtype (`str`, *optional*, defaults to `"float32"`):
            Dtype of the loaded weights: ``float32``, ``bfloat16`` or ``float16`` (``--dtype`` as in ``addressvlm
            eval`` and ``merge``; ``--torch_dtype`` and the YAML key ``torch_dtype`` still work, deprecated). Keep
            ``float32`` with ``bf16`` mixed precision (DeepSpeed casts the engine's copy itself); ``bfloat16`` halves
            host memory at load.
        attn_implementation (`str`, *optional*, defaults to `"sdpa"`):
            Attention kernel: ``sdpa``, ``eager`` or ``flash_attention_2`` (GPU only).
        pad_image_to_square (`bool`, *optional*):
            Pad images to a square with the mean colour before resizing (LLaVA fine-tuning convention) instead of
            centre-cropping. Unset keeps the checkpoint's setting.
        max_text_length (`int`, *optional*):
            Text tokens per example, image tokens not counted; longer examples are truncated (counted in the logs).
            Unset: the backbone's default (`BackboneSpec.default_max_text_length`), e.g. 2048 - (336/14)^2 = 1472
            for LLaVA-Phi-3 as in Table A1.
    """

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Base checkpoint: Hub id or local folder (stage 2: optional with --init_from)."},
    )
    base_model_id: str | None = field(
        default=None,
        metadata={"help": "Base recorded in adapter_config.json and the model card (default: model_name_or_path)."},
    )
    dtype: Literal["float32", "bfloat16", "float16"] = field(
        default="float32",
        metadata={"help": "Dtype of the loaded weights (--torch_dtype: deprecated).", "aliases": ["--torch_dtype"]},
    )
    attn_implementation: str = field(default="sdpa", metadata={"help": "sdpa, eager or flash_attention_2."})
    pad_image_to_square: bool | None = field(
        default=None, metadata={"help": "Pad images to a square before resizing (unset: keep the checkpoint's)."}
    )
    max_text_length: int | None = field(
        default=None,
        metadata={"help": "Text tokens per example (image tokens not counted); unset: the backbone's default."},
    )

    def __post_init__(self):
        if self.max_text_length is not None and self.max_text_length <= 0:
            raise ValueError(f"max_text_length must be positive, got {self.max_text_length}")


@dataclass
class InitArguments:
    r"""
    > Stage chaining: start stage 2 from stage 1's output.

    Args:
        init_from (`str`, *optional*):
            A previous stage's output folder (or Hub id). An adapter output is applied to the base: its LoRA merged
            or stacked (``init_mode``), its trained projector and vision encoder carried over. A full-model output
            (stage 1 without LoRA) becomes the base itself. Unset: train from the base alone (the "stage 2 only"
            baseline).
        init_mode (`str`, *optional*, defaults to `"merge"`):
            ``merge``: fold stage 1's LoRA into the base weights, then train a fresh LoRA. ``stack``: keep stage 1's
            LoRA as a separate frozen adapter under the new one (GeoReasoner style); both are saved and loaded.
    """

    init_from: str | None = field(default=None, metadata={"help": "Previous stage's output to start from."})
    init_mode: Literal["merge", "stack"] = field(
        default="merge",
        metadata={"help": "merge: fold stage-1 LoRA into the base; stack: keep it as a frozen adapter."},
    )

    def __post_init__(self):
        if not self.init_from:  # "" on the command line clears a YAML value
            self.init_from = None
        _check_choices(self)


@dataclass
class TrainablePartsArguments:
    r"""
    > What is trained, per module group (Table 4), and the LoRA hyper-parameters.

    Args:
        vision (`str`, *optional*, defaults to `"frozen"`):
            Vision encoder: ``frozen``, ``full`` (all weights trained and saved) or ``lora``.
        projector (`str`, *optional*, defaults to `"full"`):
            Vision-language projector: ``full`` or ``frozen``. It is saved with every adapter either way.
        llm (`str`, *optional*, defaults to `"lora"`):
            Language model: ``lora`` (targets anchored to the language model), ``full`` (with the LM head) or
            ``frozen``.
        lora_r (`int`, *optional*, defaults to 128):
            LoRA rank (Table A1).
        lora_alpha (`float`, *optional*, defaults to 256):
            LoRA scaling numerator; the paper does not state it. 256 = 2 x rank, as in xtuner's LLaVA LoRA recipes
            (``llava_v15_7b_finetune_lora``: r 128, alpha 256).
        lora_dropout (`float`, *optional*, defaults to 0.05):
            Dropout on the LoRA input (Table A1).
        lora_target_modules (`str`, *optional*):
            Regex (full match) of the LLM linear layers to adapt. Defaults to the backbone registry's, which is
            anchored to the language model so it never matches the vision tower's ``q_proj/k_proj/v_proj``.
        vision_lora_target_modules (`str`, *optional*):
            Regex of the vision-tower layers for ``vision: lora``; defaults to the registry's.
        projector_lr (`float`, *optional*):
            Learning rate of the projector's parameters (optimizer param group); defaults to ``learning_rate``.
        vision_lr (`float`, *optional*):
            Learning rate of the vision encoder's trainable parameters; defaults to ``learning_rate``.
    """

    vision: Literal["frozen", "full", "lora"] = field(
        default="frozen", metadata={"help": "Vision encoder: frozen, full or lora."}
    )
    projector: Literal["full", "frozen"] = field(default="full", metadata={"help": "Projector: full or frozen."})
    llm: Literal["lora", "full", "frozen"] = field(default="lora", metadata={"help": "LLM: lora, full or frozen."})
    lora_r: int = field(default=128, metadata={"help": "LoRA rank."})
    lora_alpha: float = field(default=256, metadata={"help": "LoRA alpha (paper: not given; 2 x rank as xtuner)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str | None = field(
        default=None, metadata={"help": "Regex of LLM layers for LoRA (default: the backbone registry's)."}
    )
    vision_lora_target_modules: str | None = field(
        default=None, metadata={"help": "Regex of vision layers for vision LoRA (default: the registry's)."}
    )
    projector_lr: float | None = field(default=None, metadata={"help": "Projector learning rate (default: lr)."})
    vision_lr: float | None = field(default=None, metadata={"help": "Vision encoder learning rate (default: lr)."})

    def __post_init__(self):
        _check_choices(self)
        if self.lora_r <= 0:
            raise ValueError(f"lora_r must be positive, got {self.lora_r}")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        for name in ("projector_lr", "vision_lr"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass
class DataArguments:
    r"""
    > Training data: one or more address datasets (multi-city), optionally mixed with general VQA.

    Args:
        dataset_paths (`list[str]`):
            Dataset folders written by ``addressvlm data`` (``docs/data_format.md``): the stage-1 grafted set for
            stage 1, the VQA set for stage 2. Several folders (e.g. Pitts and SF, Table 5) are concatenated.
        train_split (`str`, *optional*, defaults to `"train"`):
            Split to train on.
        eval_split (`str`, *optional*):
            Split for the teacher-forced eval loss (e.g. ``validation``); unset: no evaluation during training.
        conversations_column (`str`, *optional*, defaults to `"conversations"`):
            Column of LLaVA-convention turns.
        image_column (`str`, *optional*, defaults to `"image"`):
            Column of image paths (decoded lazily by the collator).
        general_vqa_json (`str`, *optional*):
            LLaVA-format JSON (``[{"image", "conversations"}]``, e.g. ``llava_v1_5_mix665k.json``) to mix in (Table 6).
        general_vqa_image_root (`str`, *optional*):
            Folder its relative ``image`` paths are relative to; defaults to the JSON file's folder.
        general_vqa_ratio (`float`, *optional*, defaults to 0):
            General-VQA rows per address row: 5 gives the paper's "5:1" mix, 1 its "1:1". Rows are drawn with a
            fixed seed, without replacement: when more are asked for than the file holds, all are used and the
            shortfall is logged.
        split_turns (`bool`, *optional*, defaults to `False`):
            Train every question of a multi-turn conversation as its own single-turn conversation with the image.
            In a multi-turn row, a later answer can often be read off an earlier turn (a multiple-choice turn names
            the district a generation turn then asks for); models trained from scratch learn that text shortcut
            instead of looking at the image. Costs one image encoding per question. Pair it with
            ``train_sampling_strategy: random``: single-question rows' lengths follow their question type, so
            ``group_by_length`` batches one type at a time (the recipes warn).
        isolate_turns (`bool`, *optional*, defaults to `False`):
            Train each question of a multi-turn row as if it were asked alone, in one sequence (the collator's
            ``isolate_turns``: the image once, each turn attending to the image and itself only). Same training
            signal as ``split_turns`` without its costs: rows keep all their question types, so ``group_by_length``
            batches stay mixed and tight, and each image is encoded once per row. Needs ``sdpa`` or ``eager``
            attention.
        question_types (`list[str]`, *optional*):
            Keep only these question types (``generation``, ``judgement``, ``multiple_choice``) of a VQA set;
            needs ``split_turns``. Used to give a from-scratch model visual grounding before the full mix.
        max_train_samples (`int`, *optional*):
            Keep only the first N training rows (after mixing and a seeded shuffle): quick runs and tests.
        max_eval_samples (`int`, *optional*):
            Keep only the first N evaluation rows.
    """

    dataset_paths: list[str] = field(
        default_factory=list, metadata={"help": "Dataset folder(s); several are concatenated (multi-city)."}
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str | None = field(default=None, metadata={"help": "Split for the eval loss (unset: none)."})
    conversations_column: str = field(default="conversations", metadata={"help": "Column of LLaVA turns."})
    image_column: str = field(default="image", metadata={"help": "Column of image paths."})
    general_vqa_json: str | None = field(default=None, metadata={"help": "LLaVA-format VQA JSON to mix in."})
    general_vqa_image_root: str | None = field(
        default=None, metadata={"help": "Root of the general VQA images (default: the JSON's folder)."}
    )
    general_vqa_ratio: float = field(
        default=0.0, metadata={"help": "General VQA rows per address row (5 = the paper's 5:1)."}
    )
    split_turns: bool = field(
        default=False, metadata={"help": "Train each question as its own single-turn conversation with the image."}
    )
    isolate_turns: bool = field(
        default=False,
        metadata={"help": "Train each turn as if asked alone, in one sequence per row (4-D attention mask)."},
    )
    question_types: list[str] | None = field(
        default=None, metadata={"help": "Keep only these VQA question types (needs split_turns)."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only N evaluation rows."})

    def __post_init__(self):
        if isinstance(self.dataset_paths, str):
            self.dataset_paths = [self.dataset_paths]
        if self.general_vqa_ratio < 0:
            raise ValueError(f"general_vqa_ratio must be >= 0, got {self.general_vqa_ratio}")
        if self.question_types:
            unknown = set(self.question_types) - {"generation", "judgement", "multiple_choice"}
            if unknown:
                raise ValueError(f"question_types: unknown type(s) {sorted(unknown)}")
            if not self.split_turns:
                raise ValueError("question_types needs split_turns: true (types are per question, not per row)")
        if self.isolate_turns and self.split_turns:
            raise ValueError("isolate_turns and split_turns are two ways of the same thing: choose one")
        if self.general_vqa_ratio > 0 and not self.general_vqa_json:
            raise ValueError("general_vqa_ratio > 0 needs general_vqa_json (the LLaVA-format file to mix in)")


@dataclass
class AddressVLMTrainingArguments(TrainingArguments):
    r"""
    [`~transformers.TrainingArguments`] with AddressVLM's defaults (Table A1 where the paper gives a value).

    Defaults that differ from `TrainingArguments`:

        learning_rate (`float`, *optional*, defaults to 1e-5):
            Table A1.
        warmup_steps (`float`, *optional*, defaults to 0.03):
            A float below 1 is a ratio of the total steps: Table A1's warmup ratio 0.03.
        lr_scheduler_type (`str`, *optional*, defaults to `"cosine"`):
            xtuner's schedule (linear warmup, then cosine to 0).
        weight_decay (`float`, *optional*, defaults to 0.0):
            Table A1 (the `TrainingArguments` default, restated).
        activation_checkpointing (`bool`, *optional*, defaults to `True`):
            Recompute activations in the backward pass (non-reentrant; see the model's docstring).
        train_sampling_strategy (`str`, *optional*, defaults to `"group_by_length"`):
            Batches of similar lengths from the ``length`` column the recipes add, so little is padded.
        remove_unused_columns (`bool`, *optional*, defaults to `False`):
            The collator needs the ``conversations`` and ``image`` columns.
        label_names (`list[str]`, *optional*, defaults to `["labels"]`):
            Stated because the model's ``forward`` takes ``labels`` through ``**kwargs``.
        logging_steps (`float`, *optional*, defaults to 10):
            Log loss, learning rate, grad norm and padding fraction every 10 steps.
        save_steps (`float`, *optional*, defaults to 500):
            Checkpoint every 500 optimizer steps.
        seed (`int`, *optional*, defaults to 1024):
            xtuner's LLaVA-Phi-3 seed.

    Added:

        resume_weights_only (`bool`, *optional*, defaults to `False`):
            With ``resume_from_checkpoint``: accept a checkpoint without ``optimizer.pt``, ``scheduler.pt`` or
            ``rng_state.pth`` and continue from its weights and step count, with a fresh optimizer and a restarted
            learning-rate schedule (logged). Without it such a checkpoint is refused, naming the missing file.
    """

    learning_rate: float = field(default=1e-5, metadata={"help": "Initial AdamW learning rate (Table A1: 1e-5)."})
    warmup_steps: float = field(
        default=0.03, metadata={"help": "Warmup steps, or a ratio of the total steps if < 1 (Table A1: 0.03)."}
    )
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (Table A1: 0)."})
    activation_checkpointing: bool | None = field(
        default=True, metadata={"help": "Recompute activations in the backward pass (--no_activation_checkpointing)."}
    )
    train_sampling_strategy: str = field(
        default="group_by_length", metadata={"help": "random, sequential, group_by_length or batch_rebalance."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the collator reads conversations and image paths."}
    )
    label_names: list[str] | None = field(
        default_factory=lambda: ["labels"], metadata={"help": "Input keys holding labels."}
    )
    logging_steps: float = field(default=10, metadata={"help": "Log every N steps."})
    save_steps: float = field(default=500, metadata={"help": "Checkpoint every N steps."})
    seed: int = field(default=1024, metadata={"help": "Random seed (xtuner's LLaVA-Phi-3 runs used 1024)."})
    resume_weights_only: bool = field(
        default=False,
        metadata={"help": "Resume from a checkpoint's weights and step only: fresh optimizer, restarted schedule."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.resume_weights_only and self.deepspeed:
            raise ValueError("resume_weights_only does not work with DeepSpeed (its engine restores the optimizer)")
        if self.remove_unused_columns:
            raise ValueError(
                "remove_unused_columns must be False: the collator reads the conversations and image columns"
            )
