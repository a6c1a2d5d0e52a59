"""js/protocol.js is the dashboard's only copy of the contract: it must agree with the shared models and
docs/protocol.md (no browser needed)."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

from printerlynx.protocol import messages

ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = ROOT / "src" / "printerlynx" / "web"


def test_protocol_module_matches_the_shared_models() -> None:
    source = (WEB_DIR / "js" / "protocol.js").read_text()
    match = re.search(r"Object\.freeze\((\{.*?\})\);", source, re.S)
    assert match is not None
    contract: dict[str, Any] = json.loads(match.group(1))
    assert contract["job_types"] == list(typing.get_args(messages.JobType))
    assert contract["printer_statuses"] == list(typing.get_args(messages.PrinterStatusValue))
    assert contract["job_states"] == list(typing.get_args(messages.JobState))
    assert list(contract["ack"].values()) == list(typing.get_args(messages.AckStatus))
    assert contract["max_gcode_chars"] == messages.MAX_GCODE_CHARS
    assert set(contract["types"]) == set(contract["types"].values())
    # …and with docs/protocol.md: every type has its section, every close code its row.
    doc = (ROOT / "docs" / "protocol.md").read_text()
    for message_type in contract["types"]:
        assert re.search(rf"^### {message_type}\b", doc, re.M), message_type
    for code in contract["close_codes"].values():
        assert re.search(rf"^\| {code} \|", doc, re.M), code
