"""``pseudo manga --engine ray``: translations on a Ray actor pool; the driver plans, checks and commits.

:func:`animeparse.pseudo.make_manga` plans the (parent, variant) items and skips those already made exactly as it
does locally, groups them into the same batches, and hands the batches to :class:`RayPseudo`. Each actor loads the
translator once (``load_translator``; a ``torchscript:PATH`` file is checked by SHA-256 against the driver's) and
runs the same :func:`~animeparse.pseudo.translate_batch`, reading the parent store at its path as the workers see
it. The outputs (PNG bytes, carried masks) stream back in order; the driver checks each carried mask pixel for pixel
and commits the batch into the derived store, which only it writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import AnimeparseError
from .actors import BatchWorker, RayPool, ordered_actor_map
from .session import EngineConfig

if TYPE_CHECKING:
    from ..pseudo import BatchContext, PseudoConfig, Translated, _Item
    from ..store import Dataset
    from ..translate.base import Translator

__all__ = ["RayPseudo"]


class RayPseudo(RayPool):
    """Connect to Ray and prove the workers see the parent store ``src`` (and a TorchScript translator file)
    before anything is written; then :meth:`run` batches on an actor pool. ``workers``: the pool size."""

    def __init__(self, src: Dataset, translator: Translator, config: PseudoConfig, engine: EngineConfig) -> None:
        super().__init__(src.root, engine)
        self.src, self.translator, self.config = src, translator, config

    def prepare(self) -> None:
        self.spec = self.translator.name
        path = getattr(self.translator, "path", None)
        if path is not None:  # a file the workers load: where they see it
            there = self.file_on_workers(path, "translator file")
            self.spec = f"{self.translator.name.partition(':')[0]}:{there}"

    def run(self, batches: list[list[_Item]], context: BatchContext) -> Iterator[
            tuple[list[_Item], list[Translated], str]]:
        """Yield ``(batch, translated, worker device)`` per batch, in order."""
        if not batches:
            return
        self.workers = min(self.workers, len(batches))
        spec = {"translator": self.spec, "sha256": self.translator.sha256, "device": self.config.device,
                "context": replace(context, root=self.root)}
        for i, (translated, device) in ordered_actor_map(self.ray, _PseudoWorker, spec, batches, engine=self.engine,
                                                         workers=self.workers, what="pseudo manga"):
            yield batches[i], translated, device


class _PseudoWorker(BatchWorker):
    """One actor: the translator on its device, loaded once; translates a batch of plan items."""

    def setup(self, spec: dict[str, Any]) -> None:
        from ..translate import load_translator

        self.translator = load_translator(spec["translator"], device=spec["device"])
        if self.translator.sha256 != spec["sha256"]:
            raise AnimeparseError(f"the translator a worker loads ({spec['translator']}, SHA-256 "
                                  f"{self.translator.sha256[:12]}) is not the driver's ({spec['sha256'][:12]}); every "
                                  "node must see the same translator file and animeparse version")
        self.context = spec["context"]

    def work(self, task: list[_Item]) -> tuple[list[Translated], str]:
        from ..pseudo import translate_batch

        return translate_batch(self.context, self.translator, task), str(self.translator.device)
