"""The course in a real browser: JupyterLab in headless Chromium, driven by Playwright.

Each chapter's solution notebook is opened and run (Run -> Run All Cells) as a learner would; no
cell may show an error or anything on stderr, and the interactive widgets must render. Then a
released notebook's Validate button (nbgrader's) is pressed and its verdict read.

Needs Debian's ``chromium`` and the ``playwright`` package (its own browser download is never
used: the launch names Chromium's path). ``.ci/run`` installs both; elsewhere the tests are
skipped with a message saying what is missing. The course is copied to a scratch folder first,
so JupyterLab's autosave cannot write outputs into the repository's notebooks.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from notebook_support import CHAPTERS

pytestmark = [pytest.mark.lab, pytest.mark.notebooks]
TOKEN = "course-browser-test"
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# As the workplace notes advise for a closed network: no background connections, no sandbox as root.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN_LIMIT_MS = 300_000  # one chapter's Run All, quick sizes, on a busy 2-core machine


def _missing() -> str | None:
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright; .ci/run does)"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run does)"
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = _missing()
    if reason:
        pytest.skip(f"browser test skipped: {reason}")
    course = tmp_path_factory.mktemp("course")
    for name in ("solutions", "notebooks", "nbgrader_config.py"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, course / name)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "COURSE_HEADLESS"}  # widgets show controls
    env.update(COURSE_QUICK="1", JUPYTER_RUNTIME_DIR=str(tmp_path_factory.mktemp("runtime")))
    proc = subprocess.Popen([sys.executable, "-m", "course_lib.course.lab", "--no-browser",
                             f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.token={TOKEN}"],
                            cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                req = urllib.request.Request(f"{base}/api/status",
                                             headers={"Authorization": f"token {TOKEN}"})
                urllib.request.urlopen(req, timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start for the browser test")
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def page(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        yield context.new_page()
        browser.close()


def _open(page, lab: str, path: str) -> None:
    page.goto(f"{lab}/lab/tree/{path}?token={TOKEN}&reset")  # a fresh workspace: this tab only
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


_STARTED = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    return [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent));
}"""


def _run_all(page, tmp_path: Path) -> None:
    """Run -> Run All Cells, until the notebook really starts (on a busy machine the first
    click can land while JupyterLab is still wiring the notebook up, and then does nothing)."""
    for attempt in range(4):
        for _ in page.locator(".jp-Dialog").all():  # e.g. a kernel or a news prompt
            page.keyboard.press("Escape")
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.click()
        _menu(page, "Run", "Run All Cells")
        try:
            page.wait_for_function(_STARTED, timeout=30_000)
            return
        except Exception:  # playwright's TimeoutError: try the menu again
            continue
    shot = tmp_path / "run-all-did-not-start.png"
    page.screenshot(path=str(shot))
    pytest.fail(f"Run All Cells never started the notebook (screenshot: {shot})")


def _uses_widgets(chapter: str) -> bool:
    nb = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    return any("explorer(" in c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_runs_in_the_browser_without_errors(page, lab, chapter, tmp_path):
    _open(page, lab, f"solutions/{chapter}/{chapter}.ipynb")
    _run_all(page, tmp_path)
    page.wait_for_function(
        """() => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            const failed = panel.querySelector(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
            // done: every cell ran, or one failed (Run All stops there)
            return failed !== null || (prompts.length > 0
                && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)));
        }""", timeout=RUN_LIMIT_MS)
    front = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    stderr = front.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    if stderr.count():
        page.wait_for_timeout(1000)  # let the output's text arrive before reading it
        texts = front.evaluate("""panel => [...panel.querySelectorAll(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")].map(o => {
                const cell = o.closest('.jp-CodeCell');
                const prompt = cell && cell.querySelector('.jp-InputPrompt');
                const src = cell && cell.querySelector('.jp-InputArea-editor');
                return `cell ${prompt ? prompt.textContent : '?'}: ${JSON.stringify(o.textContent)}`
                    + ` (source: ${src ? src.textContent.slice(0, 120) : '?'})`;
            })""")
        pytest.fail(f"{chapter}: stderr or an error in the browser:\n" + "\n".join(texts)[:2000])
    assert front.get_by_text("Error displaying widget").count() == 0
    if _uses_widgets(chapter):
        assert front.locator(".jupyter-widgets").count() > 0, f"{chapter}: no widget rendered"
    _menu(page, "Kernel", "Shut Down Kernel")


def test_validate_button_gives_its_verdict_on_a_released_notebook(page, lab):
    chapter = CHAPTERS[0]
    _open(page, lab, f"notebooks/{chapter}/{chapter}.ipynb")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")  # the tab in front
    panel.locator(".jp-Toolbar-item", has_text="Validate").first.click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=RUN_LIMIT_MS)
    assert dialog.locator(".validation-failed").count() == 1, dialog.inner_text()[:500]
    assert "NotImplementedError" in dialog.inner_text()  # the untouched exercises
    dialog.locator("button", has_text="Ok").first.click()
