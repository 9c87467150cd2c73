"""``tfrec claims NAME --record``: the claim table goes into CLAIMS.md by the command, never
by hand.

Each model has one section, ``## NAME ...``. Recording replaces the block between the two
markers below (inserted right under the heading the first time; a new section is appended
when the model has none) with the claim table, the per-model means, the reported (untested)
tables, the command, the base seed, the commit, the machine (CPU, cores, TensorFlow version,
and whether oneDNN's kernels ran: they change round-off, and planted runs' outcomes with it) and
the run time. Everything else in the section -- notes, the log of changes to data or claims with
their before/after numbers -- is kept as it is.
"""
from __future__ import annotations

import datetime
import os
import subprocess

import pandas as pd

from tfrec_pkg.atomic_files import atomic_write

BEGIN = "<!-- recorded by `tfrec claims {name} --record`; do not edit by hand -->"
END = "<!-- end of recorded results: {name} -->"


def commit() -> str:
    """The checked-out commit, with ``+changes`` when tracked files differ from it."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+changes" if dirty else "")


def block(name: str, claims, command: str, seed: int, seconds: float) -> str:
    from tfrec_pkg.bench.timing import machine  # loads TensorFlow, which the claims have run on

    held = sum(c.held for c in claims)
    lines = [BEGIN.format(name=name), "",
             f"`{command}` -- base seed {seed}, commit {commit()}, "
             f"{datetime.date.today().isoformat()}, {machine()}, {seconds / 60:.1f} min: "
             f"**{held} held, {len(claims) - held} failed**", "",
             "| claim | held | numbers |", "|---|---|---|"]
    for c in claims:
        numbers = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in c.numbers.items())
        lines.append(f"| {c.claim} | {'yes' if c.held else '**no**'} | {numbers} |")
    means = getattr(claims, "means", None)
    if means is not None:
        lines += ["", "Per-model means over the seeds (sd: standard deviation across seeds):", "",
                  _markdown(means.rename_axis("model").reset_index())]
    for title, table in getattr(claims, "reported", {}).items():
        lines += ["", f"{title}:", "", _markdown(table)]
    return "\n".join(lines + ["", END.format(name=name)])


def _markdown(table: pd.DataFrame) -> str:
    """A markdown table: floats to 4 decimals, missing values blank (not "nan")."""
    cell = lambda v: "" if pd.isna(v) else (f"{v:.4f}" if isinstance(v, float) else str(v))  # noqa: E731
    rows = ["| " + " | ".join(map(str, table.columns)) + " |", "|---" * len(table.columns) + "|"]
    return "\n".join(rows + ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)])


def write(path: str, name: str, claims, command: str, seed: int, seconds: float) -> None:
    """Replace ``name``'s recorded block in ``path`` (atomically: temporary file + rename)."""
    text = open(path).read() if os.path.exists(path) else "# Paper-claim checks: recorded results\n"
    new = block(name, claims, command, seed, seconds)
    begin, end = BEGIN.format(name=name), END.format(name=name)
    if begin in text and end in text:
        text = text[:text.index(begin)] + new + text[text.index(end) + len(end):]
    else:
        lines = text.split("\n")
        heading = next((i for i, line in enumerate(lines)
                        if line == f"## {name}" or line.startswith(f"## {name} ")), None)
        if heading is None:
            text = text.rstrip("\n") + f"\n\n## {name}\n\n{new}\n"
        else:
            text = "\n".join(lines[:heading + 1] + ["", new] + lines[heading + 1:])
    with atomic_write(path) as f:
        f.write(text if text.endswith("\n") else text + "\n")
