"""The `evaluate` modules of addressvlm, shipped inside the package.

``address_accuracy/`` is a complete `evaluate` module folder -- the script, its card (``README.md``), the Space app
(``app.py``), ``requirements.txt`` and the template's ``tests.py`` -- so the same folder serves three readers:

- ``evaluate.load(str(ADDRESS_ACCURACY_DIR))`` from any installation (what ``addressvlm eval`` does);
- ``evaluate.load("evaluation/address_accuracy")`` from a checkout, where that path is a link to this folder;
- a Hugging Face Space, uploaded as it is (the script imports only the standard library, `datasets` and `evaluate`).

Its scoring functions can also be imported: ``from addressvlm.evaluation.address_accuracy import normalize_address``.
"""

from pathlib import Path


__all__ = ["ADDRESS_ACCURACY_DIR"]

ADDRESS_ACCURACY_DIR = Path(__file__).resolve().parent / "address_accuracy"
"""The folder of the ``address_accuracy`` `evaluate` module (pass it to `evaluate.load`)."""
