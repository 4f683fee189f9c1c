"""Option bundles and progress bars shared by the commands."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from ..executor import EngineConfig


def is_quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().obj and ctx.find_root().obj.get("quiet"))


@contextmanager
def progress_bar(desc: str, total: int | None = None, *, unit: str = "img",
                 scale: bool = False) -> Iterator[Callable[[int, int | None], None]]:
    """A tqdm bar on stderr (``unit`` per second shown; ``scale`` for k/M prefixes, e.g. bytes) as a
    ``progress(done, total)`` callback; silent with ``-q``."""
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, pipes, CI), so no carriage returns land there
    bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=scale, disable=True if is_quiet() else None, leave=False,
               file=sys.stderr)

    def update(done: int, total_now: int | None) -> None:
        if total_now is not None and bar.total != total_now:
            bar.total = total_now
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def say(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` for summaries, notes and warnings: silent with ``-q``, which means errors only. What a command
    exists to print (``info``, ``models list``, ``prelabel evaluate``, ``ls config``, any ``--json``) uses
    ``click.echo`` (or ``echo_table(always=True)``) and still prints."""
    if not is_quiet():
        click.echo(message, err=err, nl=nl)


def echo_table(rows: list[tuple[str, object]], *, title: str | None = None, always: bool = False) -> None:
    """``key  value`` lines under an optional title; silent with ``-q`` unless ``always`` (the command's product)."""
    if is_quiet() and not always:
        return
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


def engine_options(*, workers: bool = True) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """``--engine``, ``--ray-address``, ``--gpus-per-worker``, ``--cpus-per-worker``, ``--worker-store`` (and
    ``--workers`` unless the command has its own), built into one :class:`animeparse.executor.EngineConfig` that
    the command receives as ``engine_config`` (not checked: the library checks it where the command's order of
    errors wants). A command with its own ``--workers`` (local processes) keeps it, and it sizes the Ray work only
    with ``--engine ray``."""

    def decorate(command: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(command)
        def f(*args: Any, **kwargs: Any) -> object:
            engine = kwargs.pop("engine")
            ray_workers = kwargs.pop("workers") if workers else kwargs.get("workers")
            config = EngineConfig(engine=engine, ray_address=kwargs.pop("ray_address"),
                                  workers=ray_workers if workers or engine == "ray" else None,
                                  gpus_per_worker=kwargs.pop("gpus_per_worker"),
                                  cpus_per_worker=kwargs.pop("cpus_per_worker"),
                                  worker_store=kwargs.pop("worker_store"))
            return command(*args, engine_config=config, **kwargs)

        opts = [
            click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                         help="Run here (local) or spread the work over a Ray cluster (ray; the store must be on a "
                              "filesystem every node mounts). See docs/scaling.md."),
            click.option("--ray-address", default=None, metavar="ADDR",
                         help="Ray cluster to join (host:6379, ray://host:10001, auto); default: start a local "
                              "instance for this run."),
            click.option("--gpus-per-worker", type=click.FloatRange(0), default=0.0, show_default=True,
                         help="GPUs each Ray worker asks for (fractions share a GPU)."),
            click.option("--cpus-per-worker", type=click.FloatRange(0.01), default=0.5, show_default=True,
                         help="CPUs each Ray worker asks for (fractions avoid deadlocks on small machines)."),
            click.option("--worker-store", default=None, metavar="PATH",
                         help="The store's path as Ray workers see it, when the shared filesystem is mounted "
                              "elsewhere there."),
        ]
        if workers:
            opts.append(click.option("--workers", type=click.IntRange(1, 4096), default=None,
                                     help="Ray workers (model replicas); default: sized from the cluster."))
        for opt in reversed(opts):
            f = opt(f)
        return f

    return decorate


class RunOrSubcommand(click.Group):
    """A command that runs itself (``NAME DS [OPTIONS]``) unless its first word names one of its subcommands
    (``NAME SUB ...``). Click groups cannot take a positional argument before their subcommands, so the first word
    decides. As a plain command options may follow DS; before a subcommand the command's own options keep their
    defaults and its DS is neither asked for nor shown in the subcommand's usage line. ``usage``: the usage line's
    pieces. ``stray_words``: as a plain command, ``"error"`` refuses words after DS (unexpected extra argument);
    ``"subcommand"`` reads the first as a subcommand name (no such command). The callback checks
    ``ctx.invoked_subcommand``."""

    def __init__(self, *args: Any, usage: Sequence[str] = (), stray_words: str = "error", **kwargs: Any) -> None:
        kwargs.setdefault("invoke_without_command", True)
        super().__init__(*args, **kwargs)
        self.usage_pieces, self.stray_words = list(usage), stray_words

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        sub = bool(args) and args[0] in self.commands
        ctx.meta[_SUBCOMMAND] = sub
        # as a plain command, options may follow DS; as a group, parsing must stop at the subcommand's name
        ctx.allow_interspersed_args = not sub
        ctx.allow_extra_args = sub or self.stray_words == "subcommand"
        rest = super().parse_args(ctx, args)
        if sub:  # DS was not asked for: the callback gets None (and returns, a subcommand being invoked)
            for param in super().get_params(ctx):
                if isinstance(param, click.Argument) and param.name:
                    ctx.params.setdefault(param.name, None)
        return rest

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        if ctx.meta.get(_SUBCOMMAND):
            return [p for p in params if not isinstance(p, click.Argument)]
        return params

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return self.usage_pieces or super().collect_usage_pieces(ctx)


_SUBCOMMAND = "animeparse.cli.subcommand"
