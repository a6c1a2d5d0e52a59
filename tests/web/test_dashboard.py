"""The dashboard in a real browser (Debian's Chromium, headless) against a real backend and a real agent.

One person's whole flow — register, add an agent, start ``printerlynx agent`` with virtual printers, see it
online, upload, print, pause, resume, cancel, talk to the printer — then a second account that sees none of
it, revocation, errors shown to the person, and reconnecting after a network outage.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import need
from tests.servers import ServerProcess, register, wait_for
from tests.web.agent_process import AgentProcess
from tests.web.samples import gcode_with_thumbnail, png
from tests.web.tcp_proxy import TcpProxy

CHROMIUM = Path("/usr/bin/chromium")
# The README's screenshots are refreshed only when asked (PRINTERLYNX_UPDATE_SCREENSHOTS=1), so an ordinary
# test run does not rewrite tracked files; otherwise they go to a scratch directory.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("PRINTERLYNX_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "printerlynx-screenshots"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MAX_UPLOAD = 300_000
TIMEOUT_MS = 15_000

expect.set_options(timeout=TIMEOUT_MS)


# ---- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (Debian's; skipped, or failed on CI, when it is missing)."""
    need(f"Chromium at {CHROMIUM} (apt-get install chromium, or make chromium)", CHROMIUM.exists())
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def web_server() -> Iterator[ServerProcess]:
    """A real backend with a small upload limit (so 413 is cheap to provoke)."""
    process = ServerProcess({"PRINTERLYNX_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}).start()
    yield process
    process.stop()
    process.assert_no_traceback()
    shutil.rmtree(process.data_dir, ignore_errors=True)


def _new_page(browser: Browser, errors: list[str]) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page


@pytest.fixture
def page_errors() -> Iterator[list[str]]:
    """Uncaught JavaScript errors of the test's pages: there must be none."""
    errors: list[str] = []
    yield errors
    assert errors == []


# ---- helpers ----------------------------------------------------------------------------------------


def _drop_file(page: Page, name: str, content: bytes) -> None:
    """Drop a file onto the drop zone as a person dragging it from their file manager would."""
    page.evaluate(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "text/x-gcode"}));
            const zone = document.querySelector(".dropzone");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        [name, base64.b64encode(content).decode()],
    )


def _progress(page: Page, scope: str) -> float:
    value = page.locator(f"{scope} [role=progressbar]").first.get_attribute("aria-valuenow")
    return float(value or 0)


def _nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def _toast(page: Page, text: str, kind: str = "ok") -> None:
    expect(page.locator(f".toast[data-kind={kind}]", has_text=text).first).to_be_visible()


def _shoot(page: Page, name: str) -> None:
    """Save docs/screenshots/<name>.png: from the top, without toasts in the way."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".toast button").evaluate_all("buttons => buttons.forEach(b => b.click())")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# ---- tests ------------------------------------------------------------------------------------------


def test_a_person_runs_a_print_from_the_dashboard(
    browser: Browser, web_server: ServerProcess, page_errors: list[str]
) -> None:
    context, page = _new_page(browser, page_errors)
    agent: AgentProcess | None = None
    try:
        # Register through the page.
        page.goto(web_server.url + "/")
        page.get_by_role("link", name="Create one").click()
        page.get_by_label("Username").fill("alice_web")
        page.get_by_label("Email").fill("alice_web@example.com")
        page.get_by_label("Password", exact=True).fill("correct horse battery")
        page.get_by_label("Confirm password").fill("correct horse battery")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name="No printers yet")).to_be_visible()
        expect(page.locator(".conn")).to_have_attribute("data-state", "online")

        # Add an agent; its token is shown once, with the command line to run.
        _nav(page, "Agents")
        page.get_by_label("Name").fill("Workshop")
        page.get_by_role("button", name="Add agent").click()
        token = page.get_by_test_id("agent-token").inner_text().strip()
        command_line = page.get_by_test_id("agent-command").inner_text()
        assert token.startswith("plx_")
        assert f"--server {web_server.url} --token {token} --printer NAME=serial:" in command_line
        expect(page.locator(".agent", has_text="Workshop").locator(".badge")).to_have_text("offline")

        # The agent connects: it turns online, and its printers appear on the fleet page without a reload.
        agent = AgentProcess(web_server, token, ["Prusa MK4", "Ender 3"]).start()
        expect(page.locator(".agent", has_text="Workshop").locator(".badge")).to_have_text("online")
        _nav(page, "Fleet")
        expect(page.locator(".printer-card")).to_have_count(2)
        card = page.locator(".printer-card", has_text="Prusa MK4")
        expect(card).to_have_attribute("data-status", "available")
        mk4_uuid = card.get_attribute("data-printer")

        # Upload: a non-G-code file is refused clearly (415), too large clearly (413), a G-code file lands.
        _nav(page, "Files")
        page.get_by_test_id("file-input").set_input_files(
            files=[{"name": "photo.png", "mimeType": "image/png", "buffer": png()}]
        )
        expect(page.locator(".upload[data-upload='photo.png'] .form-error")).to_contain_text(
            "is not a G-code file"
        )
        page.get_by_test_id("file-input").set_input_files(
            files=[{"name": "huge.gcode", "mimeType": "text/x-gcode", "buffer": b"G1 X1\n" * 60_000}]
        )
        expect(page.locator(".upload[data-upload='huge.gcode'] .form-error")).to_contain_text("too large")
        _toast(page, "too large", kind="error")
        _drop_file(page, "cube.gcode", gcode_with_thumbnail())
        row = page.locator(".file", has_text="cube.gcode")
        expect(row).to_be_visible()
        expect(row.locator("img.thumb")).to_be_visible()
        expect(row.locator(".meta")).to_contain_text("1 h 02 min")
        expect(row.locator(".meta")).to_contain_text("PETG")
        dismiss = page.locator(".upload button", has_text="Dismiss")
        while dismiss.count():
            dismiss.first.click()
        _shoot(page, "files")
        with page.expect_download() as download:
            row.get_by_role("button", name="Download").click()
        assert download.value.suggested_filename == "cube.gcode"
        assert Path(download.value.path()).read_bytes() == gcode_with_thumbnail()

        # Print on… the MK4 from the file list; the agent gets START with the job and the file.
        row.get_by_label("Printer for cube.gcode").select_option(label="Prusa MK4 (Workshop)")
        row.get_by_role("button", name="Print on…").click()
        _toast(page, "Print cube.gcode on Prusa MK4: OK")

        # The fleet card shows the job and its progress moving, live.
        _nav(page, "Fleet")
        expect(card).to_have_attribute("data-status", "busy")
        expect(card.locator(".job")).to_have_attribute("data-job-state", "printing")
        expect(card.locator(".file-name")).to_have_text("cube.gcode")
        expect(card.locator("img.thumb")).to_be_visible()
        scope = f".printer-card[data-printer='{mk4_uuid}']"
        first = wait_for(lambda: _progress(page, scope), lambda value: value > 0)
        assert wait_for(lambda: _progress(page, scope), lambda value: value > first + 1) > first + 1
        expect(card.locator("[data-temp=tool0]")).to_contain_text("/ 210°C")
        _shoot(page, "fleet")

        # Printer page: pause, resume, cancel (with a confirmation).
        card.get_by_role("link", name="Prusa MK4").click()
        printer_page = page.locator(".printer-page")
        expect(printer_page.locator(".job")).to_have_attribute("data-job-state", "printing")
        page.get_by_role("button", name="Pause").click()
        _toast(page, "PAUSE on Prusa MK4: OK")
        expect(printer_page.locator(".job")).to_have_attribute("data-job-state", "paused")
        page.get_by_role("button", name="Resume").click()
        _toast(page, "RESUME on Prusa MK4: OK")
        expect(printer_page.locator(".job")).to_have_attribute("data-job-state", "printing")

        # The terminal: M105 answers with temperatures.
        page.get_by_label("G-code command").fill("M105")
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_role("log")).to_contain_text(re.compile(r"M105: ok T:[\d.]+ /210\.0+ B:"))
        expect(page.locator(".chart canvas").first).to_be_visible()
        _shoot(page, "printer")

        page.get_by_role("button", name="Cancel", exact=True).click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Cancel this print?")
        dialog.get_by_role("button", name="Cancel print").click()
        _toast(page, "CANCEL on Prusa MK4: OK")
        expect(printer_page.locator(".job")).to_have_attribute("data-job-state", "cancelled")
        expect(printer_page).to_have_attribute("data-status", "available")
        # Recent jobs of this printer, and the Jobs page, show the cancelled job.
        expect(page.locator("table.jobs tr[data-state=cancelled]")).to_have_count(1)
        _nav(page, "Jobs")
        page.get_by_label("State").select_option("cancelled")
        expect(page.locator("table.jobs tbody tr")).to_have_count(1)
        expect(page.locator("table.jobs tbody tr")).to_contain_text("cube.gcode")

        # A second account sees none of it, even by address.
        other = register(web_server)
        other_context, other_page = _new_page(browser, page_errors)
        other_context.add_init_script(f"localStorage.setItem('printerlynx.token', {other.token!r})")
        other_page.goto(web_server.url + "/")
        expect(other_page.get_by_role("heading", name="No printers yet")).to_be_visible()
        _nav(other_page, "Files")
        expect(other_page.get_by_text("No files yet")).to_be_visible()
        _nav(other_page, "Jobs")
        expect(other_page.get_by_text("No jobs yet")).to_be_visible()
        other_page.goto(f"{web_server.url}/#/printers/{mk4_uuid}")
        expect(other_page.get_by_role("heading", name="Printer not found")).to_be_visible()
        other_context.close()

        # Signing out elsewhere revokes the token: the open page is closed with 4003 and goes to sign-in.
        user_token = page.evaluate("localStorage.getItem('printerlynx.token')")
        response = web_server.http.post(
            "/api/v1/auth/logout", headers={"Authorization": f"Bearer {user_token}"}
        )
        assert response.status_code == 204
        expect(page.get_by_role("heading", name="Sign in to Printerlynx")).to_be_visible()
        expect(page.locator(".notice")).to_contain_text("revoked")
    finally:
        if agent is not None:
            agent.stop()
        context.close()


def test_commands_errors_reach_the_person(
    browser: Browser, web_server: ServerProcess, page_errors: list[str]
) -> None:
    """An ERROR reply is shown and stays; the emergency stop asks first, sends M112 and halts the printer."""
    api = register(web_server)
    created = api.post("/api/v1/agents", json={"name": "Garage"}).json()
    agent = AgentProcess(web_server, created["token"], ["Voron"]).start()
    context, page = _new_page(browser, page_errors)
    try:
        context.add_init_script(f"localStorage.setItem('printerlynx.token', {api.token!r})")
        page.goto(web_server.url + "/")
        page.locator(".printer-card", has_text="Voron").get_by_role("link", name="Voron").click()
        expect(page.locator(".printer-page")).to_have_attribute("data-status", "available")
        # The backend refuses a line-numbered command: the reason is shown in the terminal and a toast.
        page.get_by_label("G-code command").fill("N1 G28*12")
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_role("log")).to_contain_text("ERROR")
        _toast(page, "line numbers and checksums are added by the agent", kind="error")
        page.get_by_role("button", name="Emergency stop").click()
        page.get_by_role("dialog").get_by_role("button", name="Emergency stop").click()
        _toast(page, "Emergency stop: OK")
        expect(page.get_by_role("log")).to_contain_text("M112: OK")
        # M112 halts the (virtual) printer: the page shows it unavailable and stops offering commands.
        expect(page.locator(".printer-page")).to_have_attribute("data-status", "unavailable")
        expect(page.get_by_role("button", name="Send")).to_be_disabled()
        # The error toast is still there: errors never vanish by themselves.
        expect(page.locator(".toast[data-kind=error]")).to_have_count(1)
    finally:
        agent.stop()
        context.close()


def test_account_and_agent_settings(
    browser: Browser, web_server: ServerProcess, page_errors: list[str]
) -> None:
    """Agent rename/rotate/delete, file delete, email, password (this tab stays signed in), sign out and in,
    delete account."""
    api = register(web_server)
    username = api.username  # type: ignore[attr-defined]
    context, page = _new_page(browser, page_errors)
    try:
        page.goto(web_server.url + "/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".conn")).to_have_attribute("data-state", "online")

        _nav(page, "Agents")
        page.get_by_label("Name").fill("Old name")
        page.get_by_role("button", name="Add agent").click()
        first_token = page.get_by_test_id("agent-token").inner_text()
        page.get_by_role("button", name="Done").click()
        row = page.locator(".agent")
        row.get_by_role("button", name="Rename").click()
        row.get_by_label("New name").fill("Attic")
        row.get_by_role("button", name="Save").click()
        expect(row.get_by_role("heading")).to_contain_text("Attic")
        row.get_by_role("button", name="Rotate token").click()
        page.get_by_role("dialog").get_by_role("button", name="Rotate token").click()
        expect(page.get_by_test_id("agent-token")).not_to_have_text(first_token)
        expect(page.get_by_test_id("agent-token")).to_contain_text("plx_")
        row.get_by_role("button", name="Delete").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete agent").click()
        expect(page.get_by_text("No agents yet")).to_be_visible()

        # A file uploaded elsewhere (here: REST) is listed, and deleted after a confirmation.
        uploaded = api.post("/api/v1/printfiles", files={"file": ("bracket.gcode", b"G28\nG1 X10\n")})
        assert uploaded.status_code == 201, uploaded.text
        _nav(page, "Files")
        file_row = page.locator(".file", has_text="bracket.gcode")
        file_row.get_by_role("button", name="Delete").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        _toast(page, "Deleted bracket.gcode")
        expect(page.get_by_text("No files yet")).to_be_visible()

        _nav(page, "Account")
        page.get_by_label("Email").fill("renamed@example.com")
        page.get_by_role("button", name="Save email").click()
        _toast(page, "Email saved")
        page.get_by_label("Current password").fill("correct horse battery")
        page.get_by_label("New password", exact=True).fill("a brand new passphrase")
        page.get_by_label("Confirm new password").fill("a brand new passphrase")
        page.get_by_role("button", name="Change password").click()
        _toast(page, "Password changed")
        # The old token is revoked (its socket closed with 4003), but this tab holds the new one.
        expect(page.locator(".conn")).to_have_attribute("data-state", "online")
        page.reload()
        expect(page.get_by_label("Email")).to_have_value("renamed@example.com")

        page.get_by_role("button", name="Sign out").click()
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("invalid")
        page.get_by_label("Password").fill("a brand new passphrase")
        page.get_by_role("button", name="Sign in").click()
        _nav(page, "Account")
        page.get_by_role("button", name="Delete account").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete account").click()
        expect(page.get_by_role("heading", name="Sign in to Printerlynx")).to_be_visible()
        login = web_server.http.post(
            "/api/v1/auth/login", json={"username": username, "password": "a brand new passphrase"}
        )
        assert login.status_code == 401
    finally:
        context.close()


def test_the_live_connection_comes_back_after_a_network_outage(
    browser: Browser, web_server: ServerProcess, page_errors: list[str]
) -> None:
    """The page reaches the server through a relay that the test cuts: it shows it and reconnects."""
    proxy = TcpProxy(web_server.port)
    context, page = _new_page(browser, page_errors)
    try:
        api = register(web_server)
        context.add_init_script(f"localStorage.setItem('printerlynx.token', {api.token!r})")
        page.goto(proxy.url + "/")
        expect(page.locator(".conn")).to_have_attribute("data-state", "online")
        proxy.cut()
        expect(page.locator(".conn")).to_have_attribute("data-state", "reconnecting")
        expect(page.locator(".conn")).to_have_attribute("title", re.compile("retrying in"))
        proxy.restore()
        # The backoff is capped at 15 s: allow for that on a loaded machine.
        expect(page.locator(".conn")).to_have_attribute("data-state", "online", timeout=40_000)
        expect(page.get_by_role("heading", name="No printers yet")).to_be_visible()
    finally:
        context.close()
        proxy.close()
