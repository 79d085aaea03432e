"""Measurement files as inventory entries: many CodeCarbon ``emissions.csv`` files at once.

Each file is one entry: the scenario `carbon-mc import codecarbon` would write for it (the measured
energy as the run's input, a ``[measured]`` table; see `carbon_mc.ingest`), with the organisation's
labels and tags given once for the batch, the date from the file's first and last timestamps, and
the tags ``source=codecarbon`` and ``file=<name>``. The id is the file's stem (its parent folder's
name and the stem when two files share a stem). The grid comes from the file's location (or
``region``), the data centre from its cloud provider or the PUE CodeCarbon applied (or
``datacenter``/``pue``), the accelerator from its GPU name (or ``hardware``), exactly as the
import command does. Every file is read and checked before any entry is returned.
"""

from __future__ import annotations

import types
from pathlib import Path

from ..errors import CarbonMCError, InputError
from ..priors import PriorTable, load_priors
from .entries import LABELS, Entry, _build, _tags

__all__ = ["read_codecarbon_entries"]

TAG_SOURCE = "codecarbon"


def _files(paths) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.csv") if f.is_file())
            if not found:
                raise InputError("no CodeCarbon files (*.csv) in this folder", file=str(p))
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError("no such file or folder", file=str(p))
    return out


def _ids(files: list[Path]) -> list[str]:
    stems = [f.stem for f in files]
    return [f"{f.parent.name}-{f.stem}" if stems.count(f.stem) > 1 else f.stem for f in files]


def read_codecarbon_entries(paths, *, table: PriorTable | None = None, labels: dict | None = None, tags=None,
                            scope: str = "codecarbon", merge: bool = True, hardware: str | None = None,
                            region: str | None = None, datacenter: str | None = None, pue: float | None = None,
                            rapl: bool = False) -> list[Entry]:
    """Entries from CodeCarbon files and folders of them (read recursively), one per file.

    `labels` ({team, project, model, phase}) and `tags` ("k=v;word", a list or a table) apply to
    every entry; `merge` takes a file's several runs as parts of one training run (one row per
    node), as ``carbon-mc import codecarbon --merge``.

    Raises:
      InputError: a path that does not exist, an unknown label, an id given twice.
      CarbonMCError: a file the import refuses (its own message: file, column, what is wrong).
    """
    from ..commands.ingest import count_sockets, run_datacenter, run_place
    from ..ingest import check_power, match_hardware, read_codecarbon, scenario_sections

    table = table or load_priors()
    labels = dict(labels or {})
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise InputError(f"unknown label {unknown[0]!r}; valid: {', '.join(LABELS)}", key=unknown[0])
    given_tags = _tags(tags, "--tags")
    clash = sorted({"source", "file"} & set(given_tags))
    if clash:
        raise InputError(f"tag {clash[0]!r} is set by the import itself (source=codecarbon, file=<name>); use another key",
                         key="tags")
    files = _files(paths)
    ids = _ids(files)
    seen: dict[str, str] = {}
    entries = []
    options = types.SimpleNamespace(region=region, grid=None, grid_basis="lca", datacenter=datacenter, pue=pue)
    for path, entry_id in zip(files, ids, strict=True):
        if entry_id in seen:
            raise InputError(f"id {entry_id!r} is given twice (also {seen[entry_id]})", file=str(path), key="id")
        seen[entry_id] = str(path)
        run = read_codecarbon(path, scope=scope, merge=merge, rapl=rapl)
        if hardware:
            key = hardware if hardware in table.hardware else match_hardware(hardware, table.hardware, key="--hardware")
        elif run.gpu_name:
            key = match_hardware(run.gpu_name, table.hardware, file=run.file, key="GPU name")
        elif run.cpu_name:
            key = match_hardware(run.cpu_name, table.hardware, file=run.file, key="CPU model")
        else:
            raise CarbonMCError("the file names no GPU or CPU model: give the hardware (`carbon-mc list hardware`)", file=run.file)
        if run.cpu_name and not run.gpu_name:
            count_sockets(run, table.hardware[key], None)
        grid_region, grid_prior, _ = run_place(options, run, table)
        dc, fixed_pue, _ = run_datacenter(options, run)
        tdp = table.hardware[key]["tdp_w"]
        check_power(run, key, tdp)
        sections, _ = scenario_sections(run, hardware=key, tdp_w=tdp, region=grid_region, grid_prior=grid_prior,
                                        datacenter=dc, pue=fixed_pue)
        doc: dict = {}
        for name, body in sections:
            body = {k: v for k, v in body.items() if v is not None}
            if name.startswith("["):
                doc.setdefault(name.strip("[]"), []).append(body)
            else:
                doc[name] = body
        if run.start is None:
            raise InputError("the file has no timestamps to date the run", file=str(path), key="timestamp")
        end = run.end or run.start
        values = {"id": entry_id, **labels, "start": run.start.date().isoformat(), "end": end.date().isoformat(),
                  "tags": {**given_tags, "source": TAG_SOURCE, "file": path.name}}
        entries.append(_build(values, doc, "training", str(path), table))
    return entries
