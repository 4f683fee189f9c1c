"""Option bundles and progress bars shared by the commands."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click


def is_quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().obj and ctx.find_root().obj.get("quiet"))


@contextmanager
def progress_bar(desc: str, total: int | None = None, *, unit: str = "img",
                 scale: bool = False) -> Iterator[Callable[[int, int | None], None]]:
    """A tqdm bar on stderr (``unit`` per second shown; ``scale`` for k/M prefixes, e.g. bytes) as a
    ``progress(done, total)`` callback; silent with ``-q``."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, disable=is_quiet(), leave=False,
               file=sys.stderr)

    def update(done: int, total_now: int | None) -> None:
        if total_now is not None and bar.total != total_now:
            bar.total = total_now
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def echo_table(rows: list[tuple[str, object]], *, title: str | None = None) -> None:
    if title:
        click.echo(title)
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        click.echo(f"  {key:<{width}}  {value}")


class StageBars:
    """One progress bar per stage, the previous one closed when the next starts: pass the instance as a
    ``progress(stage) -> progress(done, total)`` factory; use as a context manager so the last bar closes."""

    def __init__(self, total: int | None = None) -> None:
        self.total = total
        self._current: contextlib.AbstractContextManager[Callable[[int, int | None], None]] | None = None

    def __call__(self, stage: str) -> Callable[[int, int | None], None]:
        self.close()
        self._current = progress_bar(stage, total=self.total)
        return self._current.__enter__()

    def close(self) -> None:
        if self._current is not None:
            self._current.__exit__(None, None, None)
            self._current = None

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
