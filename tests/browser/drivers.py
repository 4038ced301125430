"""One small driver interface over two real headless browsers, so the dashboard scenario is
written once: Chromium (Debian's ``chromium``) through Playwright, and Firefox (Debian's
``firefox-esr``) through its native Marionette protocol (``marionette_driver``) — Playwright's
patched Firefox and geckodriver cannot be installed offline.

Elements are found in the page with CSS plus an optional text they contain (like Playwright's
``has_text``); clicks, typing, choices and file uploads go through each browser's own input
automation (trusted events, interactability checks); waits poll a condition evaluated in the
page until it holds or the timeout ends with a message that says what was awaited and what the
page showed instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from testkit.services import stop_process

__all__ = ["Driver", "ChromiumDriver", "FirefoxDriver", "BROWSERS", "browser_missing",
           "open_browser"]

WIDTH, HEIGHT = 1280, 800

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
FIREFOX = os.environ.get("FIREFOX_PATH") or shutil.which("firefox-esr") or \
    shutil.which("firefox") or "/usr/bin/firefox-esr"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
BROWSERS = ("chromium", "firefox")

#: the elements matching a CSS selector that contain a text (all when the text is null)
_FIND = """
const [css, text, nth] = arguments;
const shown = (e) => e.getClientRects().length > 0
  && getComputedStyle(e).visibility !== "hidden";
const all = [...document.querySelectorAll(css)]
  .filter((e) => text == null || e.textContent.includes(text));
"""
#: its first visible element (or the nth match), else null
_PICK = _FIND + """
if (nth != null) return all[nth] || null;
return all.find(shown) || null;
"""


def browser_missing(name: str) -> str | None:
    """Why ``name`` cannot run here (a skip reason), or None when it can."""
    if name == "chromium":
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            return "playwright is not installed (pip install -r requirements-dev.txt)"
        if not Path(CHROMIUM).exists():
            return f"chromium not found at {CHROMIUM} (apt-get install chromium)"
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import marionette_driver.marionette  # noqa: F401
    except ImportError:
        return "marionette_driver is not installed (pip install -r requirements-dev.txt)"
    if not Path(FIREFOX).exists():
        return f"firefox not found at {FIREFOX} (apt-get install firefox-esr)"
    return None


class Driver(ABC):
    """A page in a real browser: find, act, wait, screenshot."""

    name: str

    # --- what each browser does natively -----------------------------------------------------
    @abstractmethod
    def goto(self, url: str) -> None: ...

    @abstractmethod
    def reload(self) -> None: ...

    @abstractmethod
    def js(self, body: str, *args: Any) -> Any:
        """Run a function body (its arguments in ``arguments``) in the page; its JSON result."""

    @abstractmethod
    def _element(self, css: str, text: str | None, nth: int | None) -> Any:
        """The browser's handle of the element ``_PICK`` chooses, or None."""

    @abstractmethod
    def _click(self, handle: Any) -> None: ...

    @abstractmethod
    def _fill(self, handle: Any, value: str) -> None: ...

    @abstractmethod
    def _set_file(self, handle: Any, path: Path) -> None: ...

    @abstractmethod
    def _select(self, handle: Any, value: str) -> None: ...

    @abstractmethod
    def screenshot(self, path: Path, *, full_page: bool = False) -> None: ...

    @abstractmethod
    def errors(self) -> list[str]:
        """Uncaught JavaScript errors of the page so far."""

    @abstractmethod
    def close(self) -> None: ...

    # --- built on those ----------------------------------------------------------------------
    def wait(self, body: str, *args: Any, timeout: float = 30.0, what: str = "",
             required: bool = True) -> Any:
        """Poll ``body`` (a function body returning ``{ok, got}`` or a truthy value) until it
        holds; AssertionError after ``timeout`` s (or False when not ``required``)."""
        deadline = time.monotonic() + timeout
        got: Any = None
        while True:
            value = self.js(body, *args)
            ok, got = (value.get("ok"), value.get("got")) if isinstance(value, dict) \
                else (value, value)
            if ok:
                return got
            if time.monotonic() > deadline:
                if not required:
                    return False
                raise AssertionError(f"{self.name}: waited {timeout:.0f} s for {what or body}; "
                                     f"the page has {got!r}")
            time.sleep(0.1)

    def element(self, css: str, *, text: str | None = None, nth: int | None = None,
                timeout: float = 30.0) -> Any:
        """The browser's handle of a visible element, once there is one."""
        self.wait(_FIND + "return !!(nth != null ? all[nth] : all.find(shown));", css, text,
                  nth, timeout=timeout, what=f"{css!r}" + (f" with {text!r}" if text else ""))
        handle = self._element(css, text, nth)
        assert handle is not None, (css, text)
        return handle

    def click(self, css: str, *, text: str | None = None, nth: int | None = None) -> None:
        self._click(self.element(css, text=text, nth=nth))

    def fill(self, css: str, value: str) -> None:
        self._fill(self.element(css), value)
        assert self.value(css) == value, (css, self.value(css), value)

    def select(self, css: str, value: str) -> None:
        """Choose the option of a <select> whose value is ``value``."""
        if self.value(css) != value:
            self._select(self.element(css), value)
        assert self.value(css) == value, (css, self.value(css), value)

    def set_file(self, css: str, path: Path) -> None:
        """Give a file input a file from disk (its name is the file's name)."""
        self._set_file(self._element(css, None, 0), path)

    def value(self, css: str) -> str:
        return str(self.js("return document.querySelector(arguments[0]).value;", css))

    def text(self, css: str, *, text: str | None = None) -> str:
        """innerText of the first visible match (also waits for it)."""
        self.element(css, text=text)
        return str(self.js(_FIND + "return all.find(shown).innerText;", css, text, None))

    def attr(self, css: str, name: str, *, text: str | None = None) -> str | None:
        value = self.js(_FIND + "const e = all[0]; return e ? e.getAttribute(arguments[3]) "
                                ": null;", css, text, None, name)
        return None if value is None else str(value)

    def count(self, css: str) -> int:
        return int(self.js("return document.querySelectorAll(arguments[0]).length;", css))

    def visible(self, css: str, *, text: str | None = None) -> bool:
        return bool(self.js(_FIND + "return !!all.find(shown);", css, text, None))

    def wait_visible(self, css: str, *, text: str | None = None, timeout: float = 30.0,
                     required: bool = True) -> bool:
        return bool(self.wait(_FIND + "return {ok: !!all.find(shown), got: all.length + "
                                      "' match(es), none visible'};", css, text, None,
                              timeout=timeout, required=required,
                              what=f"{css!r} visible" + (f" with {text!r}" if text else "")))

    def wait_text(self, css: str, expected: str | re.Pattern[str], *,
                  timeout: float = 30.0) -> str:
        """Wait until the first visible match's text contains ``expected`` (or matches it)."""
        pattern = expected.pattern if isinstance(expected, re.Pattern) else re.escape(expected)
        return str(self.wait(_FIND + """
            const e = all.find(shown);
            const t = e ? e.innerText : null;
            return {ok: t != null && new RegExp(arguments[3]).test(t), got: t};""",
            css, None, None, pattern, timeout=timeout,
            what=f"{css!r} with text {expected if isinstance(expected, str) else pattern!r}"))

    def wait_attr(self, css: str, name: str, value: str, *, timeout: float = 30.0) -> None:
        self.wait(_FIND + """
            const e = all[0];
            const v = e ? e.getAttribute(arguments[3]) : null;
            return {ok: v === arguments[4], got: v};""", css, None, None, name, value,
                  timeout=timeout, what=f"{css!r} [{name}={value!r}]")

    def wait_count(self, css: str, n: int, *, timeout: float = 30.0) -> None:
        self.wait("const k = document.querySelectorAll(arguments[0]).length; "
                  "return {ok: k === arguments[1], got: k};", css, n, timeout=timeout,
                  what=f"{n} × {css!r}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """The dashboard's init() finished (body[data-ready=true])."""
        self.wait("return {ok: document.body && document.body.dataset.ready === 'true', "
                  "got: document.readyState};", timeout=timeout, what="the dashboard ready")

    def viewport(self) -> tuple[int, int]:
        w, h = self.js("return [window.innerWidth, window.innerHeight];")
        return int(w), int(h)

    def overflowing(self) -> list[str]:
        """Visible elements sticking out of the viewport's width or their card, or whose content
        sticks out of them (layout bugs); an empty list when the layout holds."""
        return list(self.js("""
            const out = [];
            const W = document.documentElement.clientWidth;
            const box = ".card, .hcard, .figure, .job";
            for (const e of document.querySelectorAll("body *")) {
              if (!e.getClientRects().length) continue;
              if (e.closest("svg, dialog:not([open]), .toasts")) continue;
              const r = e.getBoundingClientRect();
              const card = e.parentElement && e.parentElement.closest(box);
              const c = card ? card.getBoundingClientRect() : null;
              const cls = typeof e.className === "string" && e.className
                ? "." + e.className.split(" ").join(".") : "";
              const name = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + cls;
              const x = (v) => Math.round(v);
              const st = getComputedStyle(e);
              if (r.right > W + 1) out.push(`${name} ends at x=${x(r.right)} > ${W}`);
              else if (st.overflowX === "visible" && e.clientWidth > 0
                       && e.scrollWidth > e.clientWidth + 1 && e.tagName !== "HTML"
                       && e.tagName !== "BODY")
                out.push(`${name}: its content is ${e.scrollWidth - e.clientWidth} px wider`);
              else if (c && r.width && (r.right > c.right + 1 || r.left < c.left - 1)
                       && st.position !== "absolute")
                out.push(`${name} (${x(r.left)}–${x(r.right)}) outside its box ` +
                         `(${x(c.left)}–${x(c.right)})`);
            }
            return out.slice(0, 20);"""))


# --- Chromium: Playwright with the system binary ------------------------------------------------
def _apply(body: str) -> str:
    """A Playwright page function running ``body`` with its arguments in ``arguments``."""
    return f"(args) => (function () {{ {body} }}).apply(null, args)"


class ChromiumDriver(Driver):
    name = "chromium"

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=CHROMIUM_ARGS)
            self._context = self._browser.new_context(viewport={"width": WIDTH,
                                                                "height": HEIGHT})
            self.page = self._context.new_page()
        except BaseException:
            self._pw.stop()
            raise
        self.page.set_default_timeout(30_000)
        self._errors: list[str] = []
        self.page.on("pageerror", lambda exc: self._errors.append(str(exc)))

    def goto(self, url: str) -> None:
        self.page.goto(url)

    def reload(self) -> None:
        self.page.reload()

    def js(self, body: str, *args: Any) -> Any:
        return self.page.evaluate(_apply(body), list(args))

    def _element(self, css: str, text: str | None, nth: int | None) -> Any:
        handle = self.page.evaluate_handle(_apply(_PICK), [css, text, nth])
        return handle.as_element()

    def _click(self, handle: Any) -> None:
        handle.click()

    def _fill(self, handle: Any, value: str) -> None:
        handle.fill(value)

    def _set_file(self, handle: Any, path: Path) -> None:
        handle.set_input_files(path)

    def _select(self, handle: Any, value: str) -> None:
        handle.select_option(value)

    def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        if full_page:   # from the top: a scrolled page repeats its sticky header mid-image
            self.js("window.scrollTo(0, 0);")
        self.page.screenshot(path=path, full_page=full_page)

    def errors(self) -> list[str]:
        return list(self._errors)

    def close(self) -> None:
        try:
            self._context.close()
            self._browser.close()
        finally:
            self._pw.stop()


# --- Firefox: firefox-esr --marionette, driven over Marionette ---------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: records uncaught errors of the page (installed after every load)
_ERROR_HOOK = """
if (!window.__testErrors) {
  window.__testErrors = [];
  window.addEventListener("error", (e) => window.__testErrors.push(String(e.message || e)));
  window.addEventListener("unhandledrejection", (e) => window.__testErrors.push(
    "unhandled rejection: " + String((e.reason && e.reason.message) || e.reason)));
}
return true;"""


class FirefoxDriver(Driver):
    name = "firefox"

    def __init__(self, workdir: Path, *, prefs: dict[str, Any] | None = None) -> None:
        """Start ``firefox-esr --headless --marionette`` on a fresh profile in ``workdir``
        (``prefs`` added to its user.js) and open a Marionette session on it."""
        with warnings.catch_warnings():  # mozinfo/mozrunner's deprecated stdlib imports
            warnings.simplefilter("ignore", DeprecationWarning)
            from marionette_driver.geckoinstance import DesktopInstance, GeckoInstance
            from marionette_driver.marionette import Marionette

        self._profile = Path(tempfile.mkdtemp(prefix="ff-profile-", dir=workdir))
        port = _free_port()
        # Marionette's own test prefs (no network, no first-run pages), and Firefox's mock
        # audio output: a CI machine has no sound card (Chromium headless fakes one by itself)
        user: dict[str, Any] = {**GeckoInstance.required_prefs, **DesktopInstance.desktop_prefs,
                                "marionette.port": port, "media.autoplay.default": 0,
                                "media.cubeb.force_mock_context": True,
                                "browser.sessionstore.resume_from_crash": False,
                                "datareporting.policy.dataSubmissionEnabled": False,
                                **(prefs or {})}
        (self._profile / "user.js").write_text("".join(
            f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in user.items()))
        self._log = open(workdir / "firefox.log", "w")  # closed in close()
        env = {**os.environ, "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1"}
        self._proc = subprocess.Popen(
            [FIREFOX, "--headless", "--marionette", "--no-remote", "--profile",
             str(self._profile), "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        try:
            self.m = Marionette(host="127.0.0.1", port=port, startup_timeout=60)
            # hidden <input type=file> (behind a styled label) takes files as a user's pick does
            self.m.start_session({"strictFileInteractability": False})
            self.m.timeout.script = 30
            # the viewport, not the window, is 1280×800
            w, h = self.viewport()
            rect = self.m.window_rect
            self.m.set_window_rect(width=rect["width"] + WIDTH - w,
                                   height=rect["height"] + HEIGHT - h)
        except BaseException:
            self._stop_process()
            raise

    def goto(self, url: str) -> None:
        self.m.navigate(url)
        self.js(_ERROR_HOOK)

    def reload(self) -> None:
        self.m.refresh()
        self.js(_ERROR_HOOK)

    def js(self, body: str, *args: Any) -> Any:
        # one persistent sandbox, so the error hook's array is read where it was written
        return self.m.execute_script(body, script_args=list(args), new_sandbox=False)

    def _element(self, css: str, text: str | None, nth: int | None) -> Any:
        return self.m.execute_script(_PICK, script_args=[css, text, nth], new_sandbox=False)

    def _click(self, handle: Any) -> None:
        handle.click()

    def _fill(self, handle: Any, value: str) -> None:
        handle.clear()
        if value:
            handle.send_keys(value)

    def _set_file(self, handle: Any, path: Path) -> None:
        handle.send_keys(str(path))

    def _select(self, handle: Any, value: str) -> None:
        # WebDriver selects an <option> by clicking it (the drop-down is not opened)
        from marionette_driver.by import By

        handle.find_element(By.CSS_SELECTOR, f"option[value='{value}']").click()

    def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        if full_page:
            self.js("window.scrollTo(0, 0);")
        path.write_bytes(self.m.screenshot(format="binary", full=full_page))

    def errors(self) -> list[str]:
        return [str(e) for e in self.js("return window.__testErrors || [];")]

    def _stop_process(self) -> None:
        stop_process(self._proc)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def close(self) -> None:
        try:
            self.m.delete_session()
        except Exception:  # the browser may already be gone; it is stopped below anyway
            pass
        finally:
            self._stop_process()


@contextmanager
def open_browser(name: str, workdir: Path) -> Iterator[Driver]:
    """A fresh headless ``name`` with a 1280×800 viewport, closed afterwards."""
    driver: Driver = ChromiumDriver() if name == "chromium" else FirefoxDriver(workdir)
    try:
        yield driver
    finally:
        driver.close()
