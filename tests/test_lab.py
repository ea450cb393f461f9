"""Smoke test of `make lab`'s server: JupyterLab starts headless, serves the course tree, and has
the nbgrader and widget extensions enabled. Then it is stopped."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT
from notebook_support import CHAPTERS

TOKEN = "course-smoke-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    req = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    port = _free_port()
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    proc = subprocess.Popen(  # the same launcher as `make lab`, with LAB_ARGS for a headless test
        [sys.executable, "-m", "course_lib.course.lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={TOKEN}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                _get(f"{base}/api/status")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {proc.stdout.read().decode()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 60 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.lab
def test_lab_is_rooted_at_the_course_and_opens_on_notebooks(lab):
    root = json.loads(_get(f"{lab}/api/contents"))
    assert "nbgrader_config.py" in {item["name"] for item in root["content"]}

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    req = urllib.request.Request(f"{lab}/", headers={"Authorization": f"token {TOKEN}"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.build_opener(Keep).open(req, timeout=10)
    assert info.value.code in (301, 302) and info.value.headers["Location"].startswith("/lab/tree/notebooks")


@pytest.mark.lab
def test_lab_serves_the_course_tree(lab):
    listing = json.loads(_get(f"{lab}/api/contents/notebooks"))
    names = {item["name"] for item in listing["content"]}
    assert set(CHAPTERS) <= names
    first = json.loads(_get(f"{lab}/api/contents/notebooks/c00_measure"))
    assert any(i["name"].endswith(".ipynb") for i in first["content"])


@pytest.mark.lab
def test_nbgrader_and_widget_extensions_are_enabled(lab):
    page = _get(f"{lab}/lab")
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    federated = {e["name"] for e in config.get("federated_extensions", [])}
    disabled = set(config.get("disabledExtensions", []))
    for ext in ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager", "jupyterlab-rise"):
        assert ext in federated, f"{ext} is not installed in JupyterLab"
        assert not any(d == ext or d.startswith(ext + ":") for d in disabled), f"{ext} is disabled"
    assert config.get("news", {}).get("disabled") is True, "JupyterLab's news pop-up is on"
    # nbgrader's server side answers too (the Validate button and the course list talk to it)
    assert "nbgrader" in _get(f"{lab}/formgrader").lower()
