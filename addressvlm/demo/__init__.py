"""Question a trained model about street-view photos: ``addressvlm ask`` (terminal) and ``addressvlm demo`` (Gradio).

- `AddressAnswerer`: one loaded model answering the standard questions, free questions and yes/no or
  multiple-choice checks (`addressvlm.demo.answerer`);
- `DemoCity`: example street views, names and the street map of a city (`addressvlm.demo.city`);
- `build_demo` / `launch_demo`: the Gradio app (`addressvlm.demo.app`), `ModelLoader` loads its model once;
- `Retriever`, `load_retriever`: what ``--rag`` needs from a retrieval index (`addressvlm.demo.retrieval`).

Submodules load lazily so the ``addressvlm`` command line starts without importing torch or Gradio.
"""

import importlib


_LAZY = {
    "AddressAnswerer": "answerer",
    "Answer": "answerer",
    "DemoCity": "city",
    "DemoHandlers": "app",
    "ModelLoader": "backend",
    "Neighbour": "retrieval",
    "Retriever": "retrieval",
    "STANDARD_QUESTIONS": "questions",
    "build_demo": "app",
    "check_model": "answerer",
    "judgement_question": "questions",
    "launch_demo": "app",
    "load_images": "answerer",
    "load_retriever": "retrieval",
    "multiple_choice_question": "questions",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
