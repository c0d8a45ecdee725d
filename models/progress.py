"""How far a long command is: a tqdm bar on a terminal, one plain line per stage otherwise.

Always on stderr, so stdout stays the command's answer (e.g. `ingest --json` prints one JSON object)."""
from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


class Stages:
    """`with Stages("demo", 3) as s: s.stage("simulating"); ...` — a bar of `total` stages on a tty,
    else a line `demo: simulating` per stage (logs and pipes read these)."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.bar: tqdm | None = (tqdm(total=total, desc=label, file=self.stream, leave=False)
                                 if self.stream.isatty() else None)
        self.started = False

    def stage(self, name: str) -> None:
        if self.bar is None:
            print(f"{self.label}: {name}", file=self.stream, flush=True)
            return
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_description(f"{self.label}: {name}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()

    def __enter__(self) -> "Stages":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
