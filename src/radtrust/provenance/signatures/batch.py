"""Signing and verifying many files on every core: input -> output planning and a process pool.

Private keys are not picklable (and must not travel), so each worker process loads the signer once from a
:class:`SignerSpec` (paths + password) in its initializer. PKCS#11 sessions stay in one process (``jobs=1``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radtrust.errors import Error, UsageError

_STATE: dict[str, Any] = {}  # per worker process: the loaded signer or trust configuration


@dataclass(frozen=True)
class SignerSpec:
    """Where a signer comes from (picklable): key file or pkcs11: URI, certificate, chain, password."""

    key: str
    cert: str | None = None
    chain: str | None = None
    password: bytes | None = field(default=None, repr=False)

    def load(self) -> Any:
        from radtrust.provenance.signatures.keys import load_signer

        return load_signer(self.key, self.cert, self.chain, password=self.password)


@dataclass(frozen=True)
class TrustSpec:
    """Trust anchors, intermediates, CRLs (paths), a policy file and the verification time (picklable)."""

    trust: tuple[str, ...]
    chain: tuple[str, ...] = ()
    crls: tuple[str, ...] = ()
    policy: str | None = None
    at: dt.datetime | None = None

    def load(self) -> Any:
        from radtrust.provenance.signatures.keys import load_certificates
        from radtrust.provenance.signatures.policy import default_policy, load_policy
        from radtrust.provenance.signatures.trust import load_crls
        from radtrust.provenance.signatures.verify import TrustConfig

        trust = [c for p in self.trust for c in load_certificates(p)]
        if not trust:
            raise UsageError("no trust anchors given (--trust)")
        return TrustConfig(trust, [c for p in self.chain for c in load_certificates(p)],
                           [c for p in self.crls for c in load_crls(p)],
                           load_policy(self.policy) if self.policy else default_policy(), self.at)


def plan_outputs(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] | None,
                 in_place: bool) -> list[tuple[Path, Path]]:
    """(input, output) pairs: ``out`` mirrors paths relative to each input folder; in place writes back."""
    from radtrust.io import iter_files

    if in_place == (out is not None):
        raise UsageError("give exactly one of --out DIR and --in-place")
    pairs = []
    for raw in inputs:
        root = Path(raw)
        if not root.exists():
            raise UsageError(f"{root}: no such file or folder")
        for path in iter_files([root]):
            if in_place:
                pairs.append((path, path))
            else:
                rel = path.relative_to(root) if root.is_dir() else Path(path.name)
                pairs.append((path, Path(out) / rel))  # type: ignore[arg-type]
    outs = [o for _, o in pairs]
    if len(set(outs)) != len(outs):
        raise UsageError("two inputs would be written to the same output path; sign folders separately")
    if not in_place:  # --out inside or over the inputs must not replace them: that is what --in-place says
        from radtrust.io.atomic import refuse_overwrite

        refuse_overwrite(outs, [src for src, _ in pairs], option="--out")
    return pairs


def _init(spec: Any) -> None:
    _STATE["obj"] = spec.load()


def _call(args: tuple[Callable[..., Any], Any]) -> Any:
    fn, item = args
    try:
        return fn(_STATE["obj"], item)
    except Error as exc:
        return exc


def map_files(fn: Callable[[Any, Any], Any], spec: Any, items: Iterable[Any], jobs: int = 1) -> Iterator[Any]:
    """Apply ``fn(loaded_spec, item)`` to each item, in order; radtrust errors are yielded, not raised."""
    items = list(items)
    if jobs <= 1 or len(items) < 2:
        obj = spec.load()
        for item in items:
            try:
                yield fn(obj, item)
            except Error as exc:
                yield exc
        return
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(spec,)) as pool:
        yield from pool.map(_call, [(fn, item) for item in items], chunksize=max(1, len(items) // (jobs * 8)))


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
