"""Headless Chromium for the web tests: Debian's chromium driven by Playwright.

``launch`` starts /usr/bin/chromium (never a downloaded browser) with the flags this
machine needs; without Chromium or Playwright the tests skip with the reason, but
under CI=true they fail (.ci/run installs Chromium first). ``check_axe`` runs axe-core
(tests/web/vendor, never served to voters) for WCAG 2.1 A and AA and fails on any
violation; ``shoot`` keeps a screenshot in docs/images when PAPERCHAIN_SCREENSHOTS=1
(the docs' pictures are refreshed on purpose, never as a side effect of a test run).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

VENDOR = Path(__file__).parent / "vendor"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KIOSK = {"width": 1280, "height": 1024}
PHONE = {"width": 390, "height": 844}
# 200% browser zoom of a 1280 px wide window: half the CSS pixels at twice the density.
ZOOM_200 = {"width": 640, "height": 512}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run under CI: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


def chromium_path() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium"
                                         if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        _unavailable("Chromium is not installed (apt-get install -y chromium chromium-driver)")
    return str(found)


@contextmanager
def launch() -> Iterator[Any]:
    """Playwright itself (one per test module: its sync API runs one at a time)."""
    chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package 'playwright' is not installed")
    with sync_playwright() as playwright:
        yield playwright


@contextmanager
def browser_context(playwright: Any, extra: tuple[str, ...] = (),
                    permissions: tuple[str, ...] = ()) -> Iterator[Any]:
    """Debian's Chromium with an empty profile (``extra`` flags, e.g. a fake camera)."""
    with tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=[*FLAGS, *extra],
            viewport=KIOSK, permissions=list(permissions))
        try:
            yield context
        finally:
            context.close()


def new_page(context: Any, viewport: dict[str, int] = KIOSK, scale: float = 1) -> Any:
    page = context.new_page()
    page.set_viewport_size(viewport)
    if scale != 1:
        session = context.new_cdp_session(page)
        session.send("Emulation.setDeviceMetricsOverride", {
            "width": viewport["width"], "height": viewport["height"],
            "deviceScaleFactor": scale, "mobile": False})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    return page


def check_axe(page: Any, label: str) -> None:
    """No WCAG 2.1 A/AA violation reported by axe-core on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate((VENDOR / "axe.min.js").read_text())
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")
    assert found == [], f"axe-core on {label}: {found}"


def shoot(page: Any, name: str) -> None:
    target = IMAGES if os.environ.get("PAPERCHAIN_SCREENSHOTS") == "1" else Path(
        tempfile.gettempdir()) / "paperchain-screens"
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"web-{name}.png"), full_page=True)


def no_csp_violations(page: Any) -> None:
    problems = [e for e in page.console_errors if "Content Security Policy" in e
                or "Refused to" in e]
    assert problems == [], problems
