"""NeuroX activation files, read as they are (lazily) and written the way NeuroX reads them.

Layouts (NeuroX 1.0.x, ``neurox.data.writer`` / ``neurox.data.loader.load_activations``):

* **hdf5**: one float dataset per sentence named by its index, shape
  ``(layers, tokens, hidden)``, plus ``sentence_to_index``: a 1-element variable-length
  string dataset holding a JSON object ``{sentence text: dataset name}``. The loader walks
  that object in order, so *its order is the sentence order*; a repeated sentence is keyed
  ``"<text> (Occurrence N)"``. Columns are layer-major (all of layer 0, then layer 1…).
* **json**: JSON lines, one sentence per line:
  ``{"linex_index": i, "features": [{"token": w, "layers": [{"index": l, "values": […]}…]}…]}``.

Why our own readers: NeuroX's loader reads every sentence into RAM before returning; here
opening reads the mapping (hdf5) or the first line (json), and sentences are read on demand.
Tokens of an hdf5 sentence are the words of its mapping text (NeuroX keeps no other copy).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import DataError, StoreError
from neurotui.store.base import BaseStore, make_sites
from neurotui.store.rawchunks import raw_reads_enabled

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import StoreSite

_OCCURRENCE = re.compile(r" \(Occurrence \d+\)$")
#: what raw sentence reads copy byte for byte (NeuroX writes native float32)
_RAW_DTYPE = np.dtype("<f4")
#: the sentence number NeuroX writes at the head of each JSON line
_LINEX = re.compile(rb'"linex_index"\s*:\s*(-?\d+)')


def _site_pairs(attr: Any, layers: int, hidden: int) -> list[tuple[str, int]]:
    """Site names: ours when the file carries them (written by neurotui), else layerN."""
    if attr is not None:
        try:
            pairs = [(str(n), int(s)) for n, s in json.loads(attr)]
            if sum(s for _, s in pairs) == layers * hidden:
                return pairs
        except (ValueError, TypeError):
            pass
    return [(f"layer{j}", hidden) for j in range(layers)]


def _check_sentence_dataset(dsid: Any, key: str, file_size: int, where: str) -> None:
    """A sentence's activations must be numbers, and really in the file.

    Why: HDF5 stores only the chunks written, so a dataset may declare 10⁹ tokens in a
    few bytes; the readers would size their arrays from that claim.
    """
    if dsid.dtype.kind not in "fiu":
        raise StoreError(f"{where}: dataset {key!r} holds {dsid.dtype} values, not numbers")
    declared = int(np.prod(dsid.shape, dtype=np.float64)) * dsid.dtype.itemsize
    if declared <= file_size:
        return
    if dsid.get_create_plist().get_nfilters() > 0 and dsid.get_storage_size() > 0:
        return
    from neurotui.resources import human_bytes

    raise StoreError(
        f"{where}: dataset {key!r} declares shape {tuple(dsid.shape)} "
        f"({human_bytes(declared)}) but the file holds {human_bytes(file_size)}"
    )


class NeuroXHDF5Store(BaseStore):
    """A NeuroX ``.hdf5`` activations file."""

    format = "neurox-hdf5"

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        self.warnings: list[str] = []
        self._fd = -1  # raw reads (read_sites_into), opened on first use
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open as HDF5 ({exc})") from None
        try:
            self._open()
        except BaseException:
            self._file.close()
            raise

    def _open(self) -> None:
        import h5py

        f, where = self._file, str(self.path)
        if "sentence_to_index" not in f:
            raise StoreError(f"{where}: no 'sentence_to_index' dataset (not a NeuroX file)")
        raw = f["sentence_to_index"]
        try:
            text = raw[0] if raw.shape else raw[()]
        except (ValueError, IndexError, OSError) as exc:
            raise StoreError(f"{where}: 'sentence_to_index' is unreadable ({exc})") from None
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        repeated: list[str] = []

        def pairs_hook(items: list[tuple[str, Any]]) -> dict[str, Any]:
            seen: dict[str, Any] = {}
            for k, v in items:
                if k in seen:
                    repeated.append(k)
                seen[k] = v
            return seen

        try:
            mapping = json.loads(str(text), object_pairs_hook=pairs_hook)
        except ValueError as exc:
            raise StoreError(f"{where}: 'sentence_to_index' is not valid JSON ({exc})") from None
        if not isinstance(mapping, dict):
            raise StoreError(f"{where}: 'sentence_to_index' is not a JSON object")
        if repeated:
            self.warnings.append(
                f"{where}: sentence_to_index repeats {len(repeated)} key(s) such as "
                f"{repeated[0][:40]!r}; the later entry wins, as in NeuroX"
            )
        self._texts = [str(k) for k in mapping]
        self._keys = [str(v) for v in mapping.values()]
        lengths = np.zeros(len(self._keys), dtype=np.int64)
        # Byte offset of each sentence's data when it can be read raw (contiguous native
        # float32 in a plain file), else -1.
        self._data_offsets = np.full(len(self._keys), -1, dtype=np.int64)
        raw_ok = f.driver == "sec2" and sys.byteorder == "little" and raw_reads_enabled()
        layers = hidden = None
        file_size = os.path.getsize(self.path)
        for i, key in enumerate(self._keys):
            try:
                # Low-level open: a third of the cost of f[key] (no object-type probing),
                # which matters with one dataset per sentence.
                dsid = h5py.h5d.open(f.id, key.encode("utf-8"))
                shape = dsid.shape
                if raw_ok and dsid.dtype == _RAW_DTYPE:
                    offset = dsid.get_offset()  # None unless contiguous and allocated
                    if offset is not None:
                        self._data_offsets[i] = offset
            except (KeyError, ValueError, TypeError):
                raise StoreError(
                    f"{where}: sentence_to_index names dataset {key!r} (sentence {i}: "
                    f"{self._texts[i][:40]!r}), which the file lacks"
                ) from None
            if len(shape) != 3:
                raise StoreError(
                    f"{where}: dataset {key!r} has shape {shape}; NeuroX sentences are "
                    "(layers, tokens, hidden)"
                )
            _check_sentence_dataset(dsid, key, file_size, where)
            if layers is None:
                layers, hidden = shape[0], shape[2]
            elif (shape[0], shape[2]) != (layers, hidden):
                raise StoreError(
                    f"{where}: dataset {key!r} (sentence {i}) has shape {shape}, but sentence "
                    f"0 has {layers} layers of {hidden} neurons; sizes must match"
                )
            lengths[i] = shape[1]
        if layers is None or hidden is None:
            raise StoreError(f"{where}: no sentences in sentence_to_index")
        if layers == 0 or hidden == 0:
            raise StoreError(f"{where}: sentences have {layers} layers of {hidden} neurons")
        self._layers, self._hidden = int(layers), int(hidden)
        self._sites = make_sites(_site_pairs(f.attrs.get("neurotui_sites"), layers, hidden), where)
        self._offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._tokens: list[list[str]] = []
        bases: dict[str, int] = {}
        for i, text in enumerate(self._texts):
            words = text.split(" ") if text else []
            n = int(lengths[i])
            if len(words) != n and _OCCURRENCE.search(text):
                words = _OCCURRENCE.sub("", text).split(" ")
            if len(words) != n:
                raise DataError(
                    f"{where}: sentence {i} (dataset {self._keys[i]!r}): its mapping text has "
                    f"{len(words)} words but the activations have {n} rows"
                )
            self._tokens.append(words)
            base = _OCCURRENCE.sub("", text)
            bases[base] = bases.get(base, 0) + 1
        dups = sum(c - 1 for c in bases.values() if c > 1)
        if dups:
            self.warnings.append(f"{where}: {dups} duplicate sentence(s)")

    @property
    def metadata(self) -> dict[str, object]:
        """What the file tells: its layers and their size."""
        return {
            "format": "neurox-hdf5",
            "layers": self._layers,
            "hidden": self._hidden,
            "sites": [[s.name, s.size] for s in self._sites],
        }

    def tokens(self, i: int) -> list[str]:
        """The words of sentence ``i`` (from its mapping text)."""
        return list(self._tokens[self._check_sentence(i)])

    def layers(self, i: int) -> np.ndarray:
        """Sentence ``i`` as stored: ``(layers, tokens, hidden)`` float32."""
        import h5py

        i = self._check_sentence(i)
        dsid = h5py.h5d.open(self._file.id, self._keys[i].encode("utf-8"))
        arr = np.empty(dsid.shape, dtype=np.float32)
        if arr.size:
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, arr)
        return arr

    def iter_chunks(
        self, neurons: Sequence[int] | None = None, chunk_tokens: int = 65536
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Whole-width blocks in corpus order, each read straight into one buffer.

        Why: the generic version makes an array per sentence (one HDF5 dataset open each)
        and then concatenates them — with thousands of sentences that was most of the
        time a probe spent reading a NeuroX file (``bench/bench_startup.py``). Here each
        sentence lands in its rows of the chunk (raw reads where the file allows, see
        :meth:`read_sites_into`). Chunks end at the same sentences as the generic ones;
        a subset of neurons still goes the generic way.
        """
        if neurons is not None:
            yield from super().iter_chunks(neurons, chunk_tokens)
            return
        chunk_tokens = max(1, int(chunk_tokens))
        offsets, count, width = self._offsets, self.sentences, self.neuron_count
        i = 0
        while i < count:
            j = i
            while j < count and offsets[j] - offsets[i] < chunk_tokens:
                j += 1
            base = int(offsets[i])
            block = np.empty((int(offsets[j]) - base, width), dtype=np.float32)
            for k in range(i, j):
                a, b = int(offsets[k]) - base, int(offsets[k + 1]) - base
                if b > a:
                    rows = block[a:b]
                    self.read_sites_into(
                        k, {s.name: rows[:, s.offset : s.offset + s.size] for s in self._sites}
                    )
            yield base, block
            i = j

    def read_sites_into(self, i: int, outs: Mapping[str, np.ndarray]) -> None:
        """Sentence ``i``'s rows of every site into ``outs[site]`` (``(tokens, size)``).

        Why: conversion copies gigabytes; a contiguous float32 sentence is read straight
        into the destination, one ``preadv`` per layer with the interpreter released,
        instead of through a fresh array and a reorder. Anything else goes through h5py.
        """
        i = self._check_sentence(i)
        n = int(self._offsets[i + 1] - self._offsets[i])
        offset = int(self._data_offsets[i])
        dests = [outs[s.name] for s in self._sites]
        raw = (
            offset >= 0
            and n > 0
            and all(s.size == self._hidden for s in self._sites)
            and all(d.dtype == _RAW_DTYPE and d.flags.c_contiguous for d in dests)
        )
        if not raw:
            full = self._raw(i)
            for site, dest in zip(self._sites, dests, strict=True):
                dest[...] = full[:, site.offset : site.offset + site.size]
            return
        layer_bytes = n * self._hidden * _RAW_DTYPE.itemsize
        fd = self._raw_fd()
        for j, dest in enumerate(dests):
            got = os.preadv(fd, [dest.reshape(-1).view(np.uint8).data], offset + j * layer_bytes)
            if got != layer_bytes:
                raise StoreError(
                    f"{self.path}: dataset {self._keys[i]!r} (sentence {i}) is cut short "
                    f"({got} of {layer_bytes} bytes of layer {j}); the file is truncated"
                )

    def _raw_fd(self) -> int:
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def _raw(self, i: int) -> np.ndarray:
        arr = self.layers(i)
        return arr.transpose(1, 0, 2).reshape(arr.shape[1], -1)

    def _sentence(self, i: int, sites: list[StoreSite]) -> np.ndarray:
        full = self._raw(i)
        if len(sites) == len(self._sites):
            return full
        return np.concatenate([full[:, s.offset : s.offset + s.size] for s in sites], axis=1)

    def close(self) -> None:
        """Release the file."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(Exception):
            self._file.close()


class NeuroXJSONStore(BaseStore):
    """A NeuroX JSON-lines activations file: lines indexed once, then read by seeking."""

    format = "neurox-json"

    def __init__(self, path: str | Path, *, cache_lines: int = 8) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        self._fh = self.path.open("rb")
        self._cache: OrderedDict[int, tuple[list[str], np.ndarray]] = OrderedDict()
        self._cache_lines = cache_lines
        self._starts: np.ndarray | None = None
        self._line_no: np.ndarray | None = None
        self._lengths: np.ndarray | None = None
        first = self._fh.readline()
        try:
            obj = json.loads(first)
        except ValueError as exc:
            self._fh.close()
            raise StoreError(f"{self.path}:1: not valid JSON ({exc})") from None
        try:
            toks, acts, sizes = self._decode(obj, 1)
        except BaseException:
            self._fh.close()
            raise
        if not sizes:
            self._fh.close()
            raise StoreError(
                f"{self.path}:1: the first sentence has no tokens ('features' is empty), so "
                "its layers are unknown"
            )
        self._layer_sizes = sizes
        self._sites = make_sites([(f"layer{j}", s) for j, s in enumerate(sizes)], self.path)

    # -- index (built on first need: one fast byte scan, no JSON parsing) -----------
    def _index(self) -> None:
        if self._starts is not None:
            return
        starts: list[int] = []
        line_nos: list[int] = []
        counts: list[int] = []
        self._fh.seek(0)
        pos, line_no = 0, 0
        pending = b""
        block = 1 << 24
        while True:
            chunk = self._fh.read(block)
            if not chunk:
                break
            data = pending + chunk
            base = pos - len(pending)
            cut = data.rfind(b"\n")
            if cut < 0:
                pending, pos = data, pos + len(chunk)
                continue
            for line in data[: cut + 1].split(b"\n")[:-1]:
                line_no += 1
                if line.strip():
                    self._check_index(line, line_no, len(starts))
                    starts.append(base)
                    line_nos.append(line_no)
                    counts.append(line.count(b'"token":'))
                base += len(line) + 1
            pending = data[cut + 1 :]
            pos += len(chunk)
        if pending.strip():
            line_no += 1
            self._check_index(pending, line_no, len(starts))
            starts.append(pos - len(pending))
            line_nos.append(line_no)
            counts.append(pending.count(b'"token":'))
        self._starts = np.asarray(starts, dtype=np.int64)
        self._line_no = np.asarray(line_nos, dtype=np.int64)
        lengths = np.asarray(counts, dtype=np.int64)
        # Lines whose token count the byte scan cannot see (odd spacing) are parsed.
        for i in np.flatnonzero(lengths == 0):
            lengths[i] = len(self._parse(int(i))[0])
        self._lengths = lengths
        self._offsets_cache = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def _check_index(self, line: bytes, line_no: int, expected: int) -> None:
        """NeuroX numbers its lines ``linex_index`` 0, 1, 2…; a gap or a repeat means
        sentences were lost or doubled (a bad merge of files), so every row after it
        would be attributed to the wrong sentence. Only the line's head is searched."""
        found = _LINEX.search(line, 0, 256)
        if found is not None and int(found.group(1)) != expected:
            raise DataError(
                f"{self.path}:{line_no}: linex_index {int(found.group(1))}, expected "
                f"{expected} (sentence indices must run 0, 1, 2… without gaps or repeats)"
            )

    @property
    def _offsets(self) -> np.ndarray:
        self._index()
        return self._offsets_cache

    @_offsets.setter
    def _offsets(self, value: np.ndarray) -> None:  # BaseStore's attribute is writable
        self._offsets_cache = value

    @property
    def sentences(self) -> int:
        """Number of (non-blank) lines."""
        self._index()
        assert self._starts is not None
        return int(self._starts.size)

    # -- parsing -------------------------------------------------------------------
    def _decode(self, obj: Any, line: int) -> tuple[list[str], np.ndarray, list[int]]:
        where = f"{self.path}:{line}"
        if not isinstance(obj, dict) or not isinstance(obj.get("features"), list):
            raise DataError(f"{where}: no 'features' list (not NeuroX JSON activations)")
        tokens: list[str] = []
        rows: list[np.ndarray] = []
        sizes: list[int] | None = getattr(self, "_layer_sizes", None)
        for j, feat in enumerate(obj["features"]):
            try:
                tokens.append(str(feat["token"]))
                layers = feat["layers"]
                vals = [np.asarray(layer["values"], dtype=np.float32) for layer in layers]
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{where}: token {j} is malformed ({exc})") from None
            got = [v.size for v in vals]
            if sizes is None:
                sizes = got
                if not sizes or min(sizes) == 0:
                    raise DataError(f"{where}: token {j} has no activation values")
            elif got != sizes:
                raise DataError(
                    f"{where}: token {j} has layers of sizes {got}, expected {sizes} "
                    "(mismatched hidden sizes)"
                )
            rows.append(np.concatenate(vals))
        if sizes is None:
            sizes = []
        width = sum(sizes)
        acts = np.vstack(rows) if rows else np.zeros((0, width), dtype=np.float32)
        return tokens, acts, sizes

    def _parse(self, i: int) -> tuple[list[str], np.ndarray]:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        self._index()
        assert self._starts is not None and self._line_no is not None
        self._fh.seek(int(self._starts[i]))
        raw = self._fh.readline()
        line = int(self._line_no[i])
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise DataError(f"{self.path}:{line}: not valid JSON ({exc})") from None
        tokens, acts, _ = self._decode(obj, line)
        if self._lengths is not None and len(tokens) != int(self._lengths[i]):
            raise DataError(
                f"{self.path}:{line}: {len(tokens)} tokens, the index counted "
                f"{int(self._lengths[i])}"
            )
        self._cache[i] = (tokens, acts)
        if len(self._cache) > self._cache_lines:
            self._cache.popitem(last=False)
        return tokens, acts

    # -- contract ------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, object]:
        """What the file tells: its layers and their sizes."""
        return {
            "format": "neurox-json",
            "layers": len(self._layer_sizes),
            "sites": [[s.name, s.size] for s in self._sites],
        }

    def tokens(self, i: int) -> list[str]:
        """The tokens of sentence ``i``."""
        return list(self._parse(self._check_sentence(i))[0])

    def _sentence(self, i: int, sites: list[StoreSite]) -> np.ndarray:
        acts = self._parse(i)[1]
        if len(sites) == len(self._sites):
            return acts.copy()
        return np.concatenate([acts[:, s.offset : s.offset + s.size] for s in sites], axis=1)

    def close(self) -> None:
        """Release the file."""
        self._fh.close()


# -- writing NeuroX hdf5 ----------------------------------------------------------------
def write_neurox_hdf5(
    store: BaseStore,
    out: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``store`` as a NeuroX ``.hdf5`` file that ``load_activations`` reads.

    Sites of equal size become NeuroX layers ``(sites, tokens, size)``; otherwise the
    sentence is one "layer" holding every column, which NeuroX reads in the same column
    order. Our site names ride along in a root attribute NeuroX ignores.
    """
    import h5py

    from neurotui.store.atomic import atomic_path, ensure_free_space

    out = Path(out)
    sizes = {s.size for s in store.sites}
    layered = len(sizes) == 1
    size = store.sites[0].size
    mapping: dict[str, str] = {}
    total = store.sentences
    # data + per-sentence HDF5 objects (~0.5 KiB measured) + the sentence text index
    needed = store.total_tokens * store.neuron_count * 4
    ensure_free_space(out, needed + total * 1024 + store.total_tokens * 24 + (1 << 16))
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        for i in range(total):
            toks = store.tokens(i)
            for t in toks:
                if not t or any(ch.isspace() for ch in t):
                    raise DataError(
                        f"{store.path}: sentence {i} has token {t!r}; NeuroX keeps tokens as "
                        "space-separated text, so tokens cannot be empty or contain spaces"
                    )
            acts = store.activations(i)
            if layered:
                data = acts.reshape(len(toks), -1, size).transpose(1, 0, 2)
            else:
                data = acts[None, :, :]
            f.create_dataset(str(i), data=np.ascontiguousarray(data, dtype=np.float32))
            text = " ".join(toks)
            key, n = text, 1
            while key in mapping:
                n += 1
                key = f"{text} (Occurrence {n})"
            mapping[key] = str(i)
            if progress is not None:
                progress(i + 1, total)
        ds = f.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype("utf-8"))
        ds[0] = json.dumps(mapping)
        f.attrs["neurotui_sites"] = json.dumps([[s.name, s.size] for s in store.sites])
    return out
