"""The Gradio app of `addressvlm demo`: drop a street-view photo, read what the model says, see it on the map.

The page shows, for a photo the user drops (or one of the city's example street views):

- the answers to the standard questions (district, street, street + district) and how long they took;
- yes/no and multiple-choice checks the user types (streets or districts), read as evaluation reads them;
- a free question;
- the street views a retrieval index finds most similar, with their addresses (with ``--rag``);
- the city map with the predicted street highlighted (the OSM rendering for the offline city, the metadata's
  coordinates for a real city).

The model loads once, in the background; every page shows the loading progress until it is ready. Gradio runs
with analytics off (``GRADIO_ANALYTICS_ENABLED=False``) and never opens share links.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .answerer import load_images
from .backend import ModelLoader
from .city import DemoCity
from .questions import CHECK_LEVELS, STANDARD_LABELS
from .retrieval import Retriever, neighbour_caption


__all__ = ["ANSWER_HEADERS", "DemoHandlers", "build_demo", "launch_demo"]

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ANSWER_HEADERS: list[str] = ["question", "answer"]
"""Columns of the answers table."""

_NEIGHBOURS = 4


def _nth(names: Sequence[str], index: int) -> str | None:
    """The ``index``-th name (to pre-fill four different options), or `None`."""
    return names[index] if index < len(names) else None


def _gradio():
    try:
        import gradio
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError("addressvlm demo needs Gradio: pip install 'addressvlm[demo]'") from err
    return gradio


class DemoHandlers:
    r"""
    What the page's events do, without Gradio: testable functions of the uploaded file path.

    Args:
        loader (`ModelLoader`): gives the model (waits while it loads).
        city (`DemoCity`, *optional*): names, examples and the map.
        retriever (`Retriever`, *optional*): finds similar street views.
    """

    def __init__(self, loader: ModelLoader, city: DemoCity | None = None, retriever: Retriever | None = None):
        self.loader = loader
        self.city = city
        self.retriever = retriever

    @staticmethod
    def _need_image(image: str | None) -> None:
        if not image:
            raise ValueError("drop a street-view photo first (or pick an example)")

    def standard(self, image: str | None):
        """Answers to the standard questions, the map, the similar street views and a timing line.

        Returns:
            `tuple`: (rows ``[label, answer]``, map `PIL.Image.Image` or `None`, gallery items ``[(image,
            caption)]``, markdown line).
        """
        if not image:
            return [], None, [], ""
        answerer = self.loader.wait()
        answers = answerer.ask([image])[0]
        rows = [[STANDARD_LABELS.get(key, key), answer.answer] for key, answer in answers.items()]
        seconds = sum(answer.seconds for answer in answers.values())
        line = f"{len(rows)} answers in {seconds:.2f} s ({seconds / max(len(rows), 1):.2f} s per question)"
        picture = None
        if self.city is not None:
            example = self.city.example(image)
            if example is not None:
                line += f"; true address of this example: {example['street']}, {example['district']}"
            street, district = self.city.locate({key: answer.answer for key, answer in answers.items()})
            picture = self.city.draw_map(street, district, example["location"] if example else None)
            line += f"; on the map: {street or 'no street of ' + self.city.name}"
            line += f", {district}" if district else ""
        found = self.retriever.search(load_images([image])[0], _NEIGHBOURS) if self.retriever is not None else []
        gallery = [(load_images([neighbour.image])[0], neighbour_caption(neighbour)) for neighbour in found]
        return rows, picture, gallery, line

    def yes_no(self, image: str | None, level: str, name: str) -> str:
        """The model's yes/no answer about ``name``, as the metric reads it, and its raw text."""
        self._need_image(image)
        answer = self.loader.wait().check_yes_no(image, level, name)
        verdict = {"yes": "Yes", "no": "No"}.get(answer.parsed, "not a yes/no answer")
        return f"**{verdict}** (the model said: {answer.answer!r}, {answer.seconds:.2f} s)"

    def choice(self, image: str | None, level: str, *options: str) -> str:
        """The option the model picks among four, as the metric reads it, and its raw text."""
        self._need_image(image)
        names = [str(option).strip() for option in options if str(option or "").strip()]
        answer = self.loader.wait().choose(image, level, names)
        picked = f"({answer.parsed}) {names['ABCD'.index(answer.parsed)]}" if answer.parsed else "no valid option"
        return f"**{picked}** (the model said: {answer.answer!r}, {answer.seconds:.2f} s)"

    def question(self, image: str | None, text: str) -> str:
        """The model's answer to a free question."""
        self._need_image(image)
        answer = self.loader.wait().ask([image], [text])[0]["question"]
        return f"{answer.answer} ({answer.seconds:.2f} s)"

    def status(self, progress=None) -> str:
        """A line saying the model is ready, after following the loading progress (``progress(fraction, desc)``)."""
        if progress is not None:
            self.loader.follow(lambda fraction, stage: progress(fraction, desc=stage))
        if self.loader.error is not None:
            return f"**Loading the model failed:** {self.loader.error}"
        self.loader.wait()
        took = f" in {self.loader.seconds:.1f} s" if self.loader.seconds else ""
        return f"Model **{self.loader.name}** ready{took}. Drop a street-view photo or pick an example."


def _errors_as_messages(gr, function):
    """Show bad input (``ValueError`` and friends) as a message on the page instead of a generic error."""
    import functools

    from addressvlm.utils.errors import BAD_INPUT_ERRORS, format_error

    @functools.wraps(function)
    def run(*args):
        try:
            return function(*args)
        except BAD_INPUT_ERRORS as err:
            raise gr.Error(format_error(err)) from err

    return run


def build_demo(
    loader: ModelLoader,
    city: DemoCity | None = None,
    retriever: Retriever | None = None,
    title: str = "AddressVLM: where was this street view taken?",
):
    """Build the Gradio page.

    Args:
        loader (`ModelLoader`): the model (loading starts when the page is first opened, if not before).
        city (`DemoCity`, *optional*): example street views, names for the checks and the map.
        retriever (`Retriever`, *optional*): similar street views (``--rag``).
        title (`str`, *optional*): the page title.

    Returns:
        `gradio.Blocks`: the app; ``.launch()`` serves it.
    """
    gr = _gradio()
    handlers = DemoHandlers(loader, city, retriever)
    streets = city.streets if city is not None else []
    districts = city.districts if city is not None else []
    wrap = lambda function: _errors_as_messages(gr, function)  # noqa: E731

    with gr.Blocks(title="AddressVLM demo", analytics_enabled=False) as demo:
        gr.Markdown(f"# {title}\nModel: `{loader.name}`" + (f" · city: {city.name}" if city else ""))
        status = gr.Markdown("Loading the model ...", elem_id="status")
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(
                    type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Street-view photo",
                    elem_id="photo", height=320,
                )  # fmt: skip
                if city is not None and city.examples:
                    gr.Examples(
                        examples=[[row["image"]] for row in city.examples],
                        inputs=[image],
                        label=f"Street views of {city.name} the model did not train on",
                        examples_per_page=len(city.examples),
                    )
            with gr.Column(scale=1):
                answers = gr.Dataframe(
                    headers=ANSWER_HEADERS, label="Answers", interactive=False, elem_id="answers", wrap=True
                )
                timing = gr.Markdown(elem_id="timing")
                city_map = gr.Image(type="pil", format="png", label="Map", elem_id="map", interactive=False,
                                    visible=city is not None)  # fmt: skip
        neighbours = gr.Gallery(
            label="Similar street views in the index (street, district, similarity)", columns=_NEIGHBOURS,
            visible=retriever is not None, elem_id="neighbours", object_fit="contain", rows=1, height=300,
        )  # fmt: skip
        with gr.Accordion("Check an address (yes/no, multiple choice) or ask your own question", open=True):
            with gr.Row():
                with gr.Column():
                    yes_level = gr.Radio(list(CHECK_LEVELS), value="street", label="Yes/no check about a")
                    yes_name = gr.Dropdown(
                        streets, value=None, label="name", allow_custom_value=True, elem_id="yes-name"
                    )
                    yes_button = gr.Button("Is the photo taken there?", elem_id="yes-button")
                    yes_result = gr.Markdown(elem_id="yes-result")
                with gr.Column():
                    mc_level = gr.Radio(list(CHECK_LEVELS), value="street", label="Multiple choice about a")
                    options = [
                        gr.Dropdown(streets, value=_nth(streets, i), label=f"option {letter}",
                                    allow_custom_value=True, elem_id=f"option-{letter.lower()}")
                        for i, letter in enumerate("ABCD")
                    ]  # fmt: skip
                    mc_button = gr.Button("Which option?", elem_id="mc-button")
                    mc_result = gr.Markdown(elem_id="mc-result")
                with gr.Column():
                    free = gr.Textbox(
                        label="Your question", placeholder="What district is this photo taken in?", elem_id="question"
                    )
                    free_button = gr.Button("Ask", elem_id="ask-button")
                    free_result = gr.Markdown(elem_id="ask-result")
        gr.Markdown("Map data © OpenStreetMap contributors (ODbL)." if city and city.geometries else "")

        def names_for(level, index=None):
            names = streets if level == "street" else districts
            return gr.update(choices=names, value=None if index is None else _nth(names, index))

        yes_level.change(names_for, yes_level, yes_name, show_progress="hidden")
        four = lambda level: [names_for(level, i) for i in range(4)]  # noqa: E731
        mc_level.change(four, mc_level, options, show_progress="hidden")
        one_model = dict(concurrency_id="model", concurrency_limit=1)  # every event that runs the model queues here
        image.change(wrap(handlers.standard), image, [answers, city_map, neighbours, timing], **one_model)
        yes_button.click(wrap(handlers.yes_no), [image, yes_level, yes_name], yes_result, **one_model)
        mc_button.click(wrap(handlers.choice), [image, mc_level, *options], mc_result, **one_model)
        free_button.click(wrap(handlers.question), [image, free], free_result, **one_model)
        free.submit(wrap(handlers.question), [image, free], free_result, **one_model)

        progress_bar = gr.Progress()

        def show_status(progress=progress_bar):
            return handlers.status(progress)

        demo.load(show_status, None, status)
    return demo


def launch_demo(
    demo, host: str = "127.0.0.1", port: int | None = 7860, allowed_paths: Sequence[str] = (), block: bool = True
):
    """Serve ``demo`` on ``host:port`` (no share link, analytics off); returns the local URL.

    Args:
        demo (`gradio.Blocks`): from `build_demo`.
        host (`str`, *optional*, defaults to ``"127.0.0.1"``): address to listen on (``0.0.0.0`` for all).
        port (`int`, *optional*, defaults to 7860): port; `None` picks a free one from 7860 up.
        allowed_paths (`Sequence[str]`, *optional*): folders the page may show files from (the example images).
        block (`bool`, *optional*, defaults to `True`): serve until interrupted; `False` returns at once.
    """
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        prevent_thread_lock=True,
        allowed_paths=list(allowed_paths),
        quiet=True,
        footer_links=["gradio", "settings"],
    )
    if block:
        print(f"addressvlm demo: serving on {url} (Ctrl-C stops it)", flush=True)
        demo.block_thread()
    return url
