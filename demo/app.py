"""The ``addressvlm demo`` page as a Hugging Face Space (``sdk: gradio``, ``app_file: app.py``; see README.md here).

Put the model beside this file as ``model/`` (a training output folder or ``addressvlm merge`` output; an adapter
folder needs its base too) and, for examples and the map, a city as ``city/`` (a city folder from ``addressvlm data
synth-city`` or any folder with a ``metadata.csv`` and its images). ``ADDRESSVLM_MODEL`` (a folder or Hub id) and
``ADDRESSVLM_CITY`` override both. Locally: ``python demo/app.py`` serves it like ``addressvlm demo`` does.
"""

import os
from pathlib import Path

from addressvlm.demo import DemoCity, ModelLoader, build_demo


HERE = Path(__file__).resolve().parent
MODEL = os.environ.get("ADDRESSVLM_MODEL") or str(HERE / "model")
CITY = os.environ.get("ADDRESSVLM_CITY") or (str(HERE / "city") if (HERE / "city").is_dir() else None)

loader = ModelLoader(MODEL).start()  # the page shows the loading progress
city = DemoCity.load(CITY) if CITY else None
demo = build_demo(loader, city)

if __name__ == "__main__":
    demo.launch(allowed_paths=[city.image_root] if city else None)
