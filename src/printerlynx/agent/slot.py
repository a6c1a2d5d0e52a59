"""One configured printer as the agent app sees it: the ``Printer``, plus the START the app is still
downloading (or that failed before the printer began it), merged into the status it reports.

Split from ``app.py`` (which keeps the backend link and dispatch) to keep both modules small.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from printerlynx.agent.config import AgentConfig, PrinterSpec
from printerlynx.agent.download import DownloadError, download_file, resolve_url
from printerlynx.agent.printer import PrinterError
from printerlynx.protocol.messages import AgentPrintJob

logger = logging.getLogger("printerlynx.agent")


class CommandRefused(Exception):
    """A request the agent answers with ``ERROR`` and this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PrinterLike(Protocol):
    """What the app needs of a printer (``printerlynx.agent.printer.Printer``)."""

    async def run(self) -> None: ...
    def status(self) -> dict[str, Any]: ...
    async def start_job(
        self, job_uuid: str, path: Path, *, name: str, size: int, print_file_uuid: str
    ) -> None: ...
    async def pause(self, job_uuid: str) -> None: ...
    async def resume(self, job_uuid: str) -> None: ...
    async def cancel(self, job_uuid: str) -> None: ...
    async def command(self, line: str) -> list[str]: ...


OnResponse = Callable[[str, list[str]], None]
PrinterFactory = Callable[[PrinterSpec, str, Callable[[], None], OnResponse], PrinterLike]


def default_printer_factory(
    spec: PrinterSpec, printer_uuid: str, on_change: Callable[[], None], on_response: OnResponse
) -> PrinterLike:
    """A real ``Printer`` for ``spec`` (options from the config file pass through to ``PrinterConfig``)."""
    from printerlynx.agent.printer import Printer, PrinterConfig  # the serial stack loads on first use

    known = {item.name for item in dataclasses.fields(PrinterConfig)}
    unknown = sorted(set(spec.options) - known)
    if unknown:
        raise ValueError(f"printer {spec.name!r}: unknown option(s) {', '.join(unknown)}")
    if spec.adapter == "VIRTUAL":
        from printerlynx.agent.virtual import VirtualOptions

        try:  # refuse a typo now rather than on every reconnect
            VirtualOptions.from_mapping(dict(spec.options.get("virtual", {})))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"printer {spec.name!r}: {exc}") from exc
    config = PrinterConfig(
        name=spec.name,
        uuid=printer_uuid,
        adapter=spec.adapter,
        port=spec.port,
        baud=spec.baud,
        **spec.options,
    )
    return Printer(config, on_change, on_response)


def now_iso() -> str:
    """The current time as ISO 8601 UTC."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def error_message(exc: BaseException) -> str:
    """A person-readable reason for ``exc`` (``PrinterError.message`` and the like)."""
    return str(getattr(exc, "message", None) or exc) or type(exc).__name__


@dataclasses.dataclass(eq=False)
class PrinterSlot:
    """A printer, what the link last sent of it, and the job the app holds until the printer has it."""

    spec: PrinterSpec
    printer_uuid: str
    notify: Callable[[], None] = lambda: None
    printer: PrinterLike = dataclasses.field(init=False)
    dirty: bool = True
    sent_at: float = float("-inf")
    reported: tuple[Any, ...] = ()
    # Download-then-start of a START the printer has not begun yet, and the job shown meanwhile (or the
    # job that failed before it began, kept until the next START so the backend learns how it ended).
    starting: asyncio.Task[None] | None = None
    downloading: bool = False
    override: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The printer's NAME (``printer_identifier``)."""
        return self.spec.name

    def status(self) -> dict[str, Any]:
        """The ``printer_status`` body: the printer's own, with a pending or failed START merged in."""
        body = dict(self.printer.status())
        body["printer_uuid"] = self.printer_uuid
        if self.override is not None:
            if self.starting is not None and body.get("status") == "available":
                body["status"] = "busy"
            body["job"] = dict(self.override)
        return body

    def begin_start(self, request: AgentPrintJob, config: AgentConfig, http: httpx.AsyncClient) -> None:
        """Check the printer can take the job, then download and start it in the background."""
        needed = ("print_file_uuid", "name", "size", "sha256", "download_url")
        missing = [name for name in needed if getattr(request, name) is None]
        if missing:
            raise CommandRefused(f"START needs {', '.join(missing)}")
        if self.starting is not None:
            raise CommandRefused("printer is busy")
        state = self.printer.status().get("status")
        if state != "available":
            raise CommandRefused(f"printer is {state}")
        self.override = {
            "print_file_uuid": request.print_file_uuid,
            "name": request.name,
            "size": request.size,
            "progress": 0.0,
            "job_uuid": request.job_uuid,
            "state": "printing",
            "started_at": now_iso(),
            "message": "downloading the print file",
        }
        self.downloading = True
        self.starting = asyncio.create_task(self._download_and_start(request, config, http))
        self.notify()
        logger.info("printer %s: START job %s (%s)", self.name, request.job_uuid, request.name)

    async def control(self, action: str, job_uuid: str) -> None:
        """PAUSE, RESUME or CANCEL ``job_uuid``, including one whose file is still on its way."""
        starting, pending = self.starting, self.override
        if starting is not None and pending is not None and pending.get("job_uuid") == job_uuid:
            if action != "CANCEL":
                raise CommandRefused(f"cannot {action} a job whose file is still downloading")
            if self.downloading:
                starting.cancel()
                return
            # Streaming is about to begin: let it, then cancel it the printer's way.
            await asyncio.wait({starting})
        methods = {"PAUSE": self.printer.pause, "RESUME": self.printer.resume, "CANCEL": self.printer.cancel}
        await methods[action](job_uuid)
        logger.info("printer %s: %s job %s", self.name, action, job_uuid)

    async def _download_and_start(
        self, request: AgentPrintJob, config: AgentConfig, http: httpx.AsyncClient
    ) -> None:
        assert request.download_url and request.size is not None and request.sha256
        folder = config.data_dir / self.printer_uuid
        target = folder / f"{request.job_uuid}.gcode"
        outcome, message = "failed", ""
        try:
            _remove_other_files(folder, keep=request.job_uuid)
            url = resolve_url(config.server, request.download_url)
            await download_file(
                http, url, target, token=config.token, size=request.size, sha256=request.sha256
            )
            self.downloading = False
            logger.info("printer %s: downloaded %s; starting", self.name, request.name)
            await self.printer.start_job(
                request.job_uuid,
                target,
                name=request.name or target.name,
                size=request.size,
                print_file_uuid=request.print_file_uuid or "",
            )
            self.override = None
            logger.info("printer %s: job %s started", self.name, request.job_uuid)
        except asyncio.CancelledError:
            outcome, message = "cancelled", "cancelled before printing began"
        except DownloadError as exc:
            message = f"download failed: {exc.message}"
        except Exception as exc:
            if not isinstance(exc, PrinterError):
                logger.exception("printer %s: could not start job %s", self.name, request.job_uuid)
            message = error_message(exc)
        finally:
            self.starting, self.downloading = None, False
            if self.override is not None:
                self.override |= {"state": outcome, "ended_at": now_iso(), "message": message}
                logger.warning("printer %s: job %s %s: %s", self.name, request.job_uuid, outcome, message)
            self.notify()

    def log_transitions(self, body: dict[str, Any]) -> None:
        """Say in the log when the printer is found or lost and when a job changes state."""
        job = body.get("job") or {}
        reported = (body.get("status"), job.get("job_uuid"), job.get("state"))
        previous, self.reported = self.reported, reported
        if previous[:1] != reported[:1]:
            if reported[0] == "unavailable" and not previous:
                logger.info("printer %s: waiting for it to answer", self.name)
            elif reported[0] == "unavailable":
                logger.warning("printer %s lost (unavailable)", self.name)
            elif previous[:1] in ((), ("unavailable",)):
                logger.info("printer %s found (%s)", self.name, reported[0])
        if job and previous[1:] != reported[1:]:
            state, detail = job.get("state"), job.get("message") or ""
            detail = f" ({detail})" if detail and detail != state else ""
            logger.info("printer %s: job %s %s%s", self.name, job.get("job_uuid"), state, detail)


def _remove_other_files(folder: Path, keep: str) -> None:
    """Files of this printer's earlier (finished) jobs; a partial download of ``keep`` is resumed."""
    if folder.exists():
        for old in folder.iterdir():
            if not old.name.startswith(keep):
                old.unlink(missing_ok=True)
