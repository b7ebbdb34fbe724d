"""Just enough of the Chrome DevTools Protocol to drive headless Chromium from a test.

Chromium (Debian's ``chromium`` package) is started with ``--remote-debugging-port=0``; it writes
the port it chose to ``DevToolsActivePort`` in its profile folder. The test talks to it over
Tornado's own websocket client, on the test's event loop, so the servers under test keep serving
while the browser calls them. No extra Python package and no browser download are needed.

    chromium = Chromium.launch("/usr/bin/chromium", profile_dir)
    page = await chromium.new_page()        # a fresh, incognito-like browser context
    await page.goto("http://127.0.0.1:8000/")
    await page.wait_for("document.title !== ''", "a title")
    await page.click("#launch")             # real mouse events at the element's centre
    await page.type_text("taberu"); await page.press("Enter")   # real keyboard input
    png = await page.screenshot()
    await page.close(); chromium.close()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import tornado.websocket

# Flags that work on this kind of machine (root, no display, no GPU, no network but loopback).
FLAGS = (
    "--headless",
    "--no-sandbox",  # Chromium's sandbox cannot start as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1000,760",
)


# What Input.dispatchKeyEvent needs to press a key (a keyDown with text also types it).
_KEYS: dict[str, dict[str, Any]] = {
    "Enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
    "Tab": {"key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9},
    "Space": {"key": " ", "code": "Space", "windowsVirtualKeyCode": 32, "text": " "},
}


class CDPError(Exception):
    """The browser refused a command, went away, or a wait timed out."""


class Chromium:
    """One headless Chromium process with its own fresh profile folder."""

    def __init__(
        self, process: subprocess.Popen[bytes], port: int, browser_path: str, log_path: Path
    ) -> None:
        self.process = process
        self.port = port
        self.browser_path = browser_path
        self.log_path = log_path

    @classmethod
    def launch(cls, executable: str, profile_dir: Path, *, timeout: float = 30) -> Chromium:
        profile_dir.mkdir(parents=True, exist_ok=True)
        log_path = profile_dir.parent / f"{profile_dir.name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    executable,
                    *FLAGS,
                    f"--user-data-dir={profile_dir}",
                    "--remote-debugging-address=127.0.0.1",
                    "--remote-debugging-port=0",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        active_port = profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while True:
            lines = active_port.read_text().split("\n") if active_port.exists() else []
            if len(lines) >= 2 and lines[0].isdigit() and lines[1].startswith("/devtools/"):
                return cls(process, int(lines[0]), lines[1], log_path)
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                tail = log_path.read_text(errors="replace")[-2000:]
                raise CDPError(f"{executable} did not start its DevTools endpoint; its output:\n{tail}")
            time.sleep(0.05)

    def close(self) -> None:
        stop(self.process)

    async def new_page(self, *, wait: float = 15) -> Page:
        """A new tab in a new browser context (no cookies, cache or storage shared with others).
        ``wait``: seconds any one command, or any :meth:`Page.wait_for`, may take."""
        browser = await Connection.open(f"ws://127.0.0.1:{self.port}{self.browser_path}", wait)
        try:
            context = (await browser.send("Target.createBrowserContext"))["browserContextId"]
            target = await browser.send("Target.createTarget", url="about:blank", browserContextId=context)
            connection = await Connection.open(
                f"ws://127.0.0.1:{self.port}/devtools/page/{target['targetId']}", wait
            )
        except BaseException:
            await browser.close()
            raise
        page = Page(connection, browser, context, wait)
        await connection.send("Page.enable")
        await connection.send("Runtime.enable")
        return page


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Connection:
    """One DevTools websocket: numbered commands and their answers; events are kept in order."""

    def __init__(self, socket: tornado.websocket.WebSocketClientConnection, wait: float) -> None:
        self.socket = socket
        self.wait = wait
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, url: str, wait: float) -> Connection:
        socket = await asyncio.wait_for(
            tornado.websocket.websocket_connect(url, max_message_size=64 * 1024 * 1024), wait
        )
        return cls(socket, wait)

    async def _read(self) -> None:
        while True:
            message = await self.socket.read_message()
            if message is None:
                break
            data = json.loads(message)
            future = self.pending.pop(data.get("id"), None) if "id" in data else None
            if future is not None and not future.done():
                if "error" in data:
                    future.set_exception(CDPError(f"{data['error'].get('message')} ({data['error']})"))
                else:
                    future.set_result(data.get("result", {}))
            elif "method" in data:
                self.events.append(data)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(CDPError("the browser closed the DevTools connection"))

    async def send(self, method: str, **params: Any) -> Any:
        number = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        await self.socket.write_message(json.dumps({"id": number, "method": method, "params": params}))
        try:
            return await asyncio.wait_for(future, self.wait)
        except TimeoutError:
            raise CDPError(f"no answer to {method} within {self.wait} s") from None
        finally:
            self.pending.pop(number, None)

    async def close(self) -> None:
        self.socket.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.reader, 5)  # ends when the close handshake is done


class Page:
    """A browser tab: navigate, evaluate JavaScript, wait, click, screenshot."""

    def __init__(self, connection: Connection, browser: Connection, context: str, wait: float) -> None:
        self.connection = connection
        self.browser = browser
        self.context = context
        self.wait = wait

    async def goto(self, url: str) -> None:
        result = await self.connection.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CDPError(f"could not load {url}: {result['errorText']}")
        await self.wait_for("document.readyState === 'complete'", f"{url} to load")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = await self.connection.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            description = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"{expression!r} threw: {description}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, what: str, seconds: float | None = None) -> Any:
        """Poll until ``expression`` is truthy; on timeout say what was awaited and what the page shows."""
        deadline = time.monotonic() + (seconds or self.wait)
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                shown = await self.evaluate("document.body ? document.body.innerText : ''")
                raise CDPError(f"timed out waiting for {what}; the page shows:\n{shown}")
            await asyncio.sleep(0.05)

    async def click(self, selector: str) -> None:
        """Real mouse events (move, press, release) at the centre of the element."""
        box = await self.evaluate(
            f"""(() => {{
                const el = document.querySelector({json.dumps(selector)});
                if (!el) return null;
                el.scrollIntoView({{block: "center"}});
                const r = el.getBoundingClientRect();
                return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
            }})()"""
        )
        if box is None:
            raise CDPError(f"no element {selector} to click")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.connection.send(
                "Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1
            )

    async def type_text(self, text: str) -> None:
        """Type ``text`` into the focused element, as a keyboard (or an input method) would."""
        await self.connection.send("Input.insertText", text=text)

    async def press(self, key: str) -> None:
        """Press and release one key (``Enter``, ``Tab``, ``Shift+Tab``, ``Space``) on whatever has
        the focus, as a keyboard-only user would."""
        shift = key.startswith("Shift+")
        name = key.removeprefix("Shift+")
        if name not in _KEYS:
            raise CDPError(f"no key {name!r}; known: {sorted(_KEYS)}")
        params = {**_KEYS[name], "modifiers": 8 if shift else 0}
        await self.connection.send("Input.dispatchKeyEvent", type="keyDown", **params)
        params.pop("text", None)
        await self.connection.send("Input.dispatchKeyEvent", type="keyUp", **params)

    async def focused(self) -> str:
        """The id of the element that has the focus ('' for none, or one without an id)."""
        return await self.evaluate("document.activeElement ? document.activeElement.id : ''")

    async def select_option(self, selector: str, label: str) -> str:
        """Choose the option whose visible text is ``label``, as a user would (input and change
        events); answers the option's value. A native dropdown cannot be clicked headless."""
        value = await self.evaluate(
            f"""(() => {{
                const select = document.querySelector({json.dumps(selector)});
                if (!select || select.disabled) return null;
                const option = [...select.options].find((o) => o.textContent.trim() === {json.dumps(label)});
                if (!option) return null;
                select.focus();
                select.value = option.value;
                select.dispatchEvent(new Event("input", {{bubbles: true}}));
                select.dispatchEvent(new Event("change", {{bubbles: true}}));
                return option.value;
            }})()"""
        )
        if value is None:
            options = await self.evaluate(
                f"[...document.querySelector({json.dumps(selector)})?.options ?? []].map((o) => o.text)"
            )
            raise CDPError(f"{selector} has no enabled option {label!r}; it has {options}")
        return value

    async def text(self, selector: str) -> str:
        return await self.evaluate(f"document.querySelector({json.dumps(selector)})?.textContent ?? ''")

    async def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG, not just the part scrolled into view."""
        size = await self.evaluate(
            "({width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight})"
        )
        result = await self.connection.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        )
        await asyncio.to_thread(_write, path, base64.b64decode(result["data"]))
        return path

    def console_messages(self) -> list[str]:
        """What the page logged, and its uncaught exceptions."""
        messages = []
        for event in self.connection.events:
            if event["method"] == "Runtime.consoleAPICalled":
                args = event["params"]["args"]
                messages.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
            elif event["method"] == "Runtime.exceptionThrown":
                details = event["params"]["exceptionDetails"]
                messages.append(details.get("exception", {}).get("description") or details.get("text", ""))
        return messages

    async def close(self) -> None:
        await self.connection.close()
        with contextlib.suppress(CDPError):
            await self.browser.send("Target.disposeBrowserContext", browserContextId=self.context)
        await self.browser.close()
