"""The demo in a real browser: headless Chromium (Debian's, driven by Playwright) uploads a photo and reads the page.

Skipped, with the reason, where Playwright or a Chromium binary is missing; ``ADDRESSVLM_REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs Debian's ``chromium``) turns the skip into a failure so CI cannot pass without running it.
The browser is found as ``$ADDRESSVLM_CHROMIUM`` or ``chromium`` / ``chromium-browser`` / ``google-chrome`` on the
PATH; Playwright's own browser downloads are never used (they need the network).
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest
from PIL import Image

from addressvlm.demo.cli import printable
from addressvlm.demo.retrieval import neighbour_caption


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Flags that keep Chromium off the network and working as root in a container."""


def _chromium() -> str | None:
    if os.environ.get("ADDRESSVLM_CHROMIUM"):
        return os.environ["ADDRESSVLM_CHROMIUM"]
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def _unavailable(reason: str):
    if os.environ.get("ADDRESSVLM_REQUIRE_BROWSER", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"ADDRESSVLM_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        _unavailable("Playwright is not installed (pip install playwright; it is in the [dev] extra)")
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium found: apt-get install chromium (or set ADDRESSVLM_CHROMIUM to a Chromium binary)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tiny_checkpoint, demo_vqa, fake_retriever):
    """The demo of the tiny checkpoint on the demo city, served on a free loopback port; yields (url, loader, city)."""
    pytest.importorskip("gradio")
    from addressvlm.demo import DemoCity, ModelLoader, build_demo, launch_demo

    loader = ModelLoader(tiny_checkpoint, device="cpu", dtype="float32", max_new_tokens=12)  # loads on first visit
    city = DemoCity.load(demo_vqa, n_examples=4)
    demo = build_demo(loader, city, fake_retriever)
    url = launch_demo(demo, port=_free_port(), allowed_paths=[city.image_root], block=False)
    try:
        yield url, loader, city
    finally:
        demo.close()


def _cells(page, selector: str) -> list[str]:
    return [" ".join(text.split()) for text in page.locator(f"{selector} [role=gridcell]").all_inner_texts()]


def test_a_user_drops_a_photo_and_reads_the_answers(browser, served, photos, fake_retriever, tmp_path):
    url, loader, city = served
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(url)
    page.wait_for_selector("#status:has-text('ready')", timeout=120_000)  # the progress bar ran while it loaded
    page.locator("#photo input[type=file]").set_input_files(str(photos[0]))
    page.wait_for_selector("#timing:has-text('answers in')", timeout=120_000)

    expected = loader.wait().ask([photos[0]])[0]
    cells = [cell for cell in _cells(page, "#answers") if cell]
    labels = ["district", "street", "street + district"]
    shown = [" ".join(printable(answer.answer).split()) for answer in expected.values()]
    assert cells == [value for pair in zip(labels, shown) for value in pair]
    page.wait_for_selector("#map img", state="visible", timeout=30_000)  # the map of the prediction
    gallery = page.locator("#neighbours").inner_text()
    for neighbour in fake_retriever.search(Image.open(photos[0]).convert("RGB"), 4):
        assert neighbour_caption(neighbour) in gallery

    page.locator("#question textarea").fill("Which street is this?")
    page.locator("#ask-button").click()
    page.wait_for_selector("#ask-result:has-text(' s)')", timeout=60_000)
    answer = loader.wait().ask([photos[0]], ["Which street is this?"])[0]["question"].answer
    assert " ".join(page.locator("#ask-result").inner_text().split()).startswith(" ".join(printable(answer).split()))

    street = city.streets[0]
    page.locator("#yes-name input").fill(street)
    page.locator("#yes-name input").press("Enter")
    page.locator("#yes-button").click()
    page.wait_for_selector("#yes-result:has-text('the model said')", timeout=60_000)
    check = loader.wait().check_yes_no(photos[0], "street", street)
    verdict = {"yes": "Yes", "no": "No"}.get(check.parsed, "not a yes/no answer")
    assert page.locator("#yes-result").inner_text().startswith(verdict)

    screenshot = tmp_path / "demo.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000
    print(f"screenshot: {screenshot}")
    page.close()
