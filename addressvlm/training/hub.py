"""Push a finished output folder (adapter, trainables, processor, generation config, model card) to the Hub."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from huggingface_hub import HfApi


__all__ = ["PUSH_IGNORE_PATTERNS", "push_output_to_hub"]

logger = logging.getLogger(__name__)

# Training state stays local: checkpoints, optimizer/RNG states, the staging folder, TensorBoard runs.
PUSH_IGNORE_PATTERNS = ["checkpoint-*", "checkpoint-*/**", ".*", ".*/**", "runs/**", "*.pt", "*.pth", "*.bin"]


def push_output_to_hub(
    output_dir: str | os.PathLike,
    repo_id: str,
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str = "Upload AddressVLM adapter",
) -> str:
    """Create ``repo_id`` if needed and upload ``output_dir`` (without checkpoints and training state).

    Args:
        output_dir (`str` or `os.PathLike`): a finished recipe output.
        repo_id (`str`): ``namespace/name`` on the Hub.
        private (`bool`, *optional*): visibility of a newly created repo.
        token (`str`, *optional*): Hub token (default: the logged-in one).
        revision (`str`, *optional*): branch to push to.
        commit_message (`str`, *optional*): the commit message.

    Returns:
        `str`: the commit URL.
    """
    output_dir = Path(output_dir)
    if not (output_dir / "README.md").is_file():
        raise FileNotFoundError(f"{output_dir} has no README.md: push a finished recipe output")
    config_file = output_dir / "adapter_config.json"
    if config_file.is_file():
        base = json.loads(config_file.read_text()).get("base_model_name_or_path") or ""
        if base.startswith(".") or os.path.isabs(base):
            logger.warning(
                "The adapter's base model is a local path (%s); others cannot load it from the Hub. Train with "
                "--base_model_id <hub id of the base> to record the Hub id instead.",
                base,
            )
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    commit = api.upload_folder(
        folder_path=str(output_dir),
        repo_id=repo_id,
        repo_type="model",
        revision=revision,
        commit_message=commit_message,
        ignore_patterns=PUSH_IGNORE_PATTERNS,
    )
    url = getattr(commit, "commit_url", str(commit))
    logger.info("Pushed %s to %s (%s)", output_dir, repo_id, url)
    return url
