"""The documentation site works without a network (issue 22), in a real headless Chromium.

The site that ``python docs/build.py`` built in ``site/`` is opened from disk (file://) and served by Python's
``http.server`` (what ``python -m http.server`` runs) on 127.0.0.1; Debian's chromium is driven over the
DevTools protocol, with every host name but 127.0.0.1 unresolvable. On each page: every request goes to the
site itself (no script, style sheet, font or image from outside), every local file it loads exists, the
equations are rendered by MathJax (no TeX source left on the page), and every link of the navigation and the
content that points into the site reaches a file (not a folder, which file:// would show as a listing).

The test skips, saying why, where chromium (``apt-get install -y chromium``) or the built site is missing;
``.ci/run`` sets CHAOSSIM_REQUIRE_DOCS_SITE=1, which turns those skips into failures.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: pages checked: the home page, the two pages with most equations, a notebook, the gallery, an API page
PAGES = ["index.html", "model.html", "indices.html", "notebooks/01_sweep_phase_diagram.html", "gallery.html",
         "api/metrics.html"]
#: pages whose equations must be rendered
MATH_PAGES = {"model.html", "indices.html"}


def _missing() -> str | None:
    if CHROMIUM is None:
        return "chromium is not installed (apt-get install -y chromium)"
    if not (SITE / "index.html").is_file():
        return f"the site is not built ({SITE / 'index.html'} is missing): python docs/build.py"
    return None


@pytest.fixture(scope="module")
def site():
    reason = _missing()
    if reason is not None:
        if os.environ.get("CHAOSSIM_REQUIRE_DOCS_SITE") == "1":
            pytest.fail(f"CHAOSSIM_REQUIRE_DOCS_SITE=1 but {reason}")
        pytest.skip(reason)
    return SITE


class DevTools:
    """A minimal client of the Chrome DevTools protocol over one page's websocket."""

    def __init__(self, url: str):
        import websocket  # websocket-client, from the test extra

        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e["method"] == method:
                    return e
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res["result"].get("value")

    def close(self):
        self.ws.close()


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
            f"--user-data-dir={profile}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "about:blank"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:  # Chromium writes the port into its profile
            active = profile / "DevToolsActivePort"
            if active.is_file() and active.read_text().strip():
                port = int(active.read_text().split()[0])
            elif proc.poll() is not None:
                pytest.fail(f"chromium exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            else:
                time.sleep(0.1)
        assert port is not None, "chromium did not open its DevTools port within 60 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        tools.call("Page.enable")
        tools.call("Network.enable")
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _math_state(tools: DevTools) -> dict:
    return tools.evaluate("""(() => {
        const spans = Array.from(document.querySelectorAll('.arithmatex'));
        const rendered = spans.filter(s => {
            const svg = s.querySelector('mjx-container svg');
            return svg && svg.getBoundingClientRect().width > 0;
        });
        const raw = spans.filter(s => /\\\\[([]/.test(s.textContent));
        return {total: spans.length, rendered: rendered.length, raw: raw.length};
    })()""")


def open_page(tools: DevTools, url: str, math: bool) -> dict:
    """Load ``url`` and wait for its load event (and, with ``math``, for MathJax to render every equation);
    returns the requests made, the failed loads, the links and the math state."""
    tools.events.clear()
    tools.call("Page.navigate", url=url)
    tools.wait_event("Page.loadEventFired")
    state = _math_state(tools)
    deadline = time.monotonic() + 60
    while math and (state["rendered"] < state["total"] or state["raw"]) and time.monotonic() < deadline:
        time.sleep(0.2)
        state = _math_state(tools)
    time.sleep(0.5)  # late requests (fonts, images below the fold) are recorded too
    tools.evaluate("1")
    links = tools.evaluate("Array.from(document.querySelectorAll('nav a[href], article a[href]')).map(a => a.href)")
    sent = {e["params"]["requestId"]: e["params"]["request"]["url"] for e in tools.events
            if e["method"] == "Network.requestWillBeSent"}
    return {
        "requests": list(sent.values()),
        "failed": [f"{sent.get(e['params']['requestId'])}: {e['params']['errorText']}" for e in tools.events
                   if e["method"] == "Network.loadingFailed" and not e["params"].get("canceled")],
        "links": links,
        "math": state,
    }


def _site_file(url: str, base: str) -> Path | None:
    """The file of the site that ``url`` names, or None when it points outside the site."""
    if not url.startswith(base):
        return None
    rel = urllib.parse.unquote(urllib.parse.urlsplit(url).path)[len(urllib.parse.urlsplit(base).path):]
    return SITE / rel


@pytest.mark.slow
@pytest.mark.parametrize("how", ["file", "http"])
def test_the_site_works_without_a_network(how, browser, server):
    base = SITE.as_uri() + "/" if how == "file" else server
    local = ("data:", "blob:", "about:", base)
    checked_links = 0
    for page in PAGES:
        seen = open_page(browser, urllib.parse.urljoin(base, page), math=page in MATH_PAGES)
        outside = [u for u in seen["requests"] if not u.startswith(local)]
        assert not outside, f"{how}://{page} made outside requests: {outside}"
        assert seen["requests"], f"no request recorded for {page}"
        assert not seen["failed"], f"{how}://{page}: loads failed: {seen['failed']}"
        if page in MATH_PAGES:
            m = seen["math"]
            assert m["total"] > 5 and m["rendered"] == m["total"] and m["raw"] == 0, f"{page}: math {m}"
        for link in seen["links"]:
            target = _site_file(link.split("#", 1)[0].split("?", 1)[0], base)
            if target is None:
                continue
            assert target.is_file(), f"{how}://{page} links to {link}, which is not a file of the site"
            checked_links += 1
    assert checked_links > 3 * len(PAGES)  # the navigation's links were found and followed


def test_outside_loads_are_found_in_a_page():
    """The build-time check of docs/hooks.py (a page loading from outside fails `mkdocs build`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(hooks)
    except ImportError as exc:  # mkdocs: the docs extra
        pytest.skip(f"needs the docs extra: {exc}")
    page = ('<script src="https://unpkg.com/mathjax@3/es5/tex-mml-chtml.js"></script>'
            '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">'
            '<script src="javascripts/mathjax/tex-svg-full.js"></script><a href="https://github.com/">a link</a>'
            '<img src="gallery/phase_diagram.png"><div style="background: url(https://example.org/x.png)"></div>')
    assert hooks.outside_loads(page) == ["https://unpkg.com/mathjax@3/es5/tex-mml-chtml.js",
                                         "//fonts.googleapis.com/css?family=Roboto", "https://example.org/x.png"]
