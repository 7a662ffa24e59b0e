"""The tour's report seen as a person sees it: headless Chromium loads report/index.html.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when missing).
On a developer's machine without them the test is skipped, with the reason; in CI (``CI`` set to
``true``) a missing browser fails it, so the report is never shipped unseen.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from aisec.report.chapters import CHAPTERS
from aisec.report.tour import run_tour

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

_MISSING = "headless Chromium is not installed (apt-get install -y chromium chromium-driver)"
_IN_CI = os.environ.get("CI", "").lower() == "true"

pytestmark = pytest.mark.skipif(
    not _IN_CI and (CHROMIUM is None or CHROMEDRIVER is None), reason=_MISSING
)


def test_the_browser_is_installed_where_ci_runs() -> None:
    """In CI the browser tests must run: a missing Chromium is a failure, not a skip."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail(f"{_MISSING}; .ci/run should have installed it")


_PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class PageView:
    """What the browser saw: a screenshot, the images and the console's errors."""

    screenshot: bytes
    images: list[dict[str, Any]]
    errors: list[str]
    title: str


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,2000",
        "--disable-extensions",
        "--no-first-run",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def view(driver: Any, page: Path) -> PageView:
    """Open ``page`` and collect the screenshot, every image's load state and console errors."""
    driver.get_log("browser")  # drop what an earlier page logged
    driver.get(page.resolve().as_uri())
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all(Array.from(document.images).map(i => i.complete ? null :"
        " new Promise(r => { i.onload = r; i.onerror = r; }))).then(() => done(null));"
    )
    images = driver.execute_script(
        "return Array.from(document.images).map(i => ({alt: i.alt, src: i.src.slice(0, 60),"
        " complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight}));"
    )
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return PageView(driver.get_screenshot_as_png(), images, errors, driver.title)


def test_the_quick_report_renders_with_every_image_and_no_console_error(
    browser: Any, tmp_path: Path
) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second thread costs more than it saves
    try:
        result = run_tour(CHAPTERS, tmp_path, only=["foundation"], quick=True, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert not result.failed, result.chapters
    seen = view(browser, tmp_path / "index.html")
    shot = tmp_path / "screenshot.png"
    shot.write_bytes(seen.screenshot)
    assert seen.screenshot.startswith(_PNG) and len(seen.screenshot) > 10_000
    assert seen.title == "aisec tour"
    assert len(seen.images) >= len(result.chapters["foundation"]["figures"]) >= 2
    broken = [image for image in seen.images if image["naturalWidth"] == 0]
    assert not broken, f"images that did not load: {broken}"
    assert not seen.errors, f"console errors: {seen.errors}"


def test_the_check_sees_broken_images_and_console_errors(browser: Any, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        "<!doctype html><html><head><title>bad</title></head><body>"
        "<img alt='missing' src='missing.png'>"
        "<img alt='corrupt' src='data:image/png;base64,AAAA'>"
        "<script>console.error('boom')</script></body></html>"
    )
    seen = view(browser, page)
    assert [image["alt"] for image in seen.images if image["naturalWidth"] == 0] == [
        "missing",
        "corrupt",
    ]
    assert any("boom" in message for message in seen.errors)
