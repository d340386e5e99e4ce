"""Question a trained model about street-view photos: ``addressvlm ask`` (terminal) and ``addressvlm demo`` (Gradio).

- `AddressAnswerer`: one loaded model answering the standard questions, free questions and yes/no or
  multiple-choice checks (`addressvlm.demo.answerer`);
- `DemoCity`: example street views, names and the street map of a city (`addressvlm.demo.city`);
- `build_demo` / `launch_demo`: the Gradio app (`addressvlm.demo.app`), `ModelLoader` loads its model once;
- `Retriever`, `load_retriever`: what ``--rag`` needs from a retrieval index (`addressvlm.demo.retrieval`).

Submodules load lazily so the ``addressvlm`` command line starts without importing torch or Gradio.
"""

import lazy_loader


__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "answerer": ["AddressAnswerer", "Answer", "check_model", "load_images"],
        "city": ["DemoCity"],
        "app": ["DemoHandlers", "build_demo", "launch_demo"],
        "backend": ["ModelLoader"],
        "retrieval": ["Neighbour", "Retriever", "load_retriever"],
        "questions": ["STANDARD_QUESTIONS", "judgement_question", "multiple_choice_question"],
    },
)
