"""Shared by the hostile-input corpus and the fuzzer: TOML text from Python values, an in-process
command-line call, and the contract every call must keep.

The contract: a call either fails with one `CarbonMCError` (exit status 2 and one line on stderr,
no traceback), or succeeds with finite, non-negative results.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from dataclasses import dataclass

from carbon_mc import CarbonMCError
from carbon_mc.cli import main

HEADLINE = ("energy_mwh", "operational_tco2e", "embodied_tco2e", "total_tco2e")
BASE_RUN = {
    "name": "fuzz run",
    "hardware": "a100_40gb",
    "devices": 64,
    "days": 3.5,
    "region": "france",
    "datacenter": "hyperscale",
    "year": 2023,
    "source": "made up for a test",
}


def toml_value(value) -> str:
    """One TOML value (inline tables and arrays for nested values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_document(doc: dict) -> str:
    """A TOML document: top-level tables as [sections], lists of tables as [[arrays]], the rest inline."""
    lines = []
    for section, body in doc.items():
        if isinstance(body, dict):
            lines.append(f"[{toml_key(section)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items()]
        elif isinstance(body, list) and body and all(isinstance(b, dict) for b in body):
            for entry in body:
                lines.append(f"[[{toml_key(section)}]]")
                lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in entry.items()]
        else:
            lines.insert(0, f"{toml_key(section)} = {toml_value(body)}")
    return "\n".join(lines) + "\n"


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def invoke(argv: list[str]) -> Outcome:
    """`carbon-mc ARGV` in this process; any exception other than SystemExit is a traceback (re-raised)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())


def _numbers(obj):
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)


def _reject_constant(token):
    raise AssertionError(f"JSON holds {token}")


def assert_contract(outcome: Outcome, argv: list[str], expect: str = "any") -> str:
    """Exit 2 with one error line, or exit 0 with finite non-negative results; returns "error" or "ok"."""
    if outcome.code == 2:
        lines = outcome.err.strip().splitlines()
        assert len(lines) == 1, f"{argv}: expected one error line, got {outcome.err!r}"
        assert "error" in lines[0] and "Traceback" not in outcome.err, f"{argv}: {outcome.err!r}"
        assert len(lines[0]) < 1500, f"{argv}: an error line of {len(lines[0])} characters"
        assert expect in ("any", "error"), f"{argv}: expected success, got {lines[0]}"
        return "error"
    assert outcome.code == 0, f"{argv}: exit {outcome.code}: {outcome.err[-500:]!r}"
    assert expect in ("any", "ok"), f"{argv}: expected an error, got exit 0"
    if "--json" in argv and argv[0] not in ("list",):
        data = json.loads(outcome.out, parse_constant=_reject_constant)
        for name in HEADLINE:
            if isinstance(data, dict) and isinstance(data.get(name), dict):
                for value in _numbers(data[name]):
                    assert math.isfinite(value) and value >= 0, f"{argv}: {name} holds {value}"
    else:
        # a printed NaN or infinity; not a name that starts with the letters (AWS's inf2 instances)
        assert not re.search(r"(?<![\w.])(nan|inf)(?![\w-])", outcome.out, re.IGNORECASE), f"{argv}: {outcome.out[-800:]}"
    return "ok"


def assert_api_contract(call) -> str:
    """A Python API call raises one CarbonMCError (one line) or returns; returns "error" or "ok"."""
    try:
        call()
    except CarbonMCError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
        return "error"
    return "ok"
