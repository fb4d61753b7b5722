"""The fast conversion path: raw sentence reads, up-front chunk allocation, raw band writes.

Every test compares the fast path with plain h5py reads and writes of the same data, so a
wrong offset, a lost partial chunk or a sentence split badly across two bands shows up as
a numeric difference.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import neurotui.store as ns
from neurotui.errors import DataError
from neurotui.store.convert import convert
from neurotui.store.neurox import NeuroXHDF5Store
from neurotui.store.rawwrite import RawBandWriter
from neurotui.store.writer import _FLUSH_ROWS, StoreWriter

LAYERS, HIDDEN = 6, 64  # chunks of 512 rows × 64 float32 columns: 32 pages each


def neurox_file(path: Path, seed: int = 3) -> tuple[Path, list[list[str]], np.ndarray]:
    """A NeuroX hdf5 file of ~5,000 token rows (sentences of 1…80 words), built by hand."""
    rng = np.random.default_rng(seed)
    lengths = [int(x) for x in rng.integers(1, 81, size=120)]
    tokens = [[f"s{i}w{j}" for j in range(n)] for i, n in enumerate(lengths)]
    acts = [rng.normal(size=(LAYERS, n, HIDDEN)).astype(np.float32) for n in lengths]
    with h5py.File(path, "w") as f:
        for i, a in enumerate(acts):
            f.create_dataset(str(i), data=a)
        ds = f.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype())
        ds[0] = json.dumps({" ".join(t): str(i) for i, t in enumerate(tokens)})
    flat = np.concatenate([np.swapaxes(a, 0, 1).reshape(a.shape[1], -1) for a in acts])
    return path, tokens, flat


def direct_io_works(folder: Path) -> bool:
    from neurotui.store.rawwrite import DIRECT_FILESYSTEMS, filesystem_type

    if filesystem_type(folder) not in DIRECT_FILESYSTEMS:
        return False
    probe = folder / "probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT)
    except (OSError, AttributeError):
        return False
    os.close(fd)
    probe.unlink()
    return True


def read_back(path: Path) -> tuple[list[list[str]], np.ndarray, dict[str, np.ndarray]]:
    with ns.open(path) as store:
        tokens = [store.tokens(i) for i in range(store.sentences)]
        acts = np.concatenate([store.activations(i) for i in range(store.sentences)])
        s = store.summary
        assert s is not None
        parts = {
            "mean": s.stats.mean,
            "std": s.stats.std,
            "min": s.stats.min,
            "max": s.stats.max,
            "quantiles": s.stats.quantiles,
            "top_rows": s.top_rows,
            "top_values": s.top_values,
            "bottom_rows": s.bottom_rows,
            "bottom_values": s.bottom_values,
        }
    return tokens, acts, parts


@pytest.mark.parametrize("mode", ["direct", "page-cache", "h5py"])
def test_fast_neurox_conversion_equals_the_h5py_path(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch, mode: str
) -> None:
    src, tokens, flat = neurox_file(tmp_path / "nx.hdf5")
    assert flat.shape[0] > 2 * _FLUSH_ROWS  # sentences straddle the writer's bands
    if mode == "page-cache":
        monkeypatch.setenv("NEUROTUI_NO_DIRECT_IO", "1")
    if mode == "h5py":
        monkeypatch.setenv("NEUROTUI_NO_RAW_WRITES", "1")
        monkeypatch.setenv("NEUROTUI_NO_RAW_READS", "1")
    calls = {"raw_writes": 0, "raw_reads": 0}
    direct: set[bool] = set()
    write, raw_fd = RawBandWriter.write, NeuroXHDF5Store._raw_fd

    def counting_write(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["raw_writes"] += 1
        direct.add(self.direct)
        return write(self, *args, **kwargs)

    def counting_fd(self):  # type: ignore[no-untyped-def]
        calls["raw_reads"] += 1
        return raw_fd(self)

    monkeypatch.setattr(RawBandWriter, "write", counting_write)
    monkeypatch.setattr(NeuroXHDF5Store, "_raw_fd", counting_fd)
    out = convert(src, tmp_path / "ours.h5")
    if mode == "h5py":
        assert calls == {"raw_writes": 0, "raw_reads": 0}
    else:
        assert calls["raw_writes"] > 0 and calls["raw_reads"] > 0
        # direct I/O exactly when asked for and the file system takes it
        assert direct == {mode == "direct" and direct_io_works(tmp_path)}

    got_tokens, got_acts, got_summary = read_back(out)
    assert got_tokens == tokens
    np.testing.assert_array_equal(got_acts, flat)
    # The summary computed on the way equals one computed afterwards from the file.
    with ns.open(out) as store:
        again = store.compute_summary()
    np.testing.assert_allclose(got_summary["mean"], flat.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got_summary["max"], flat.max(0))
    np.testing.assert_array_equal(got_summary["top_rows"], again.top_rows)
    np.testing.assert_array_equal(got_summary["bottom_values"], again.bottom_values)
    np.testing.assert_array_equal(got_summary["quantiles"], again.stats.quantiles)
    assert not list(tmp_path.glob("*.tmp-*"))


def test_fast_and_plain_paths_write_the_same_store(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    src, _, _ = neurox_file(tmp_path / "nx.hdf5", seed=5)
    fast = read_back(convert(src, tmp_path / "fast.h5"))
    monkeypatch.setenv("NEUROTUI_NO_RAW_WRITES", "1")
    monkeypatch.setenv("NEUROTUI_NO_RAW_READS", "1")
    plain = read_back(convert(src, tmp_path / "plain.h5"))
    assert fast[0] == plain[0]
    np.testing.assert_array_equal(fast[1], plain[1])
    for key in fast[2]:
        np.testing.assert_array_equal(fast[2][key], plain[2][key], err_msg=key)


def test_float16_output_from_float32_neurox(tmp_path: Path) -> None:
    src, _, flat = neurox_file(tmp_path / "nx.hdf5", seed=6)
    out = convert(src, tmp_path / "half.h5", dtype="float16")
    with ns.open(out) as store:
        assert str(store.dtype) == "float16"
        got = np.concatenate([store.activations(i) for i in range(store.sentences)])
    np.testing.assert_array_equal(got, flat.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize(
    ("rows", "extra"), [(2 * _FLUSH_ROWS + 100, -1), (2 * _FLUSH_ROWS + 100, 1), (30, 1)]
)
def test_announced_rows_must_match(tmp_path: Path, rows: int, extra: int) -> None:
    # 30 rows are fewer than a chunk: the store stays growable, the count still holds.
    target = tmp_path / "x.h5"
    rng = np.random.default_rng(0)
    with (
        pytest.raises(DataError, match="created for"),
        StoreWriter(target, [("a", 8), ("b", 8)], rows=rows) as w,
    ):
        done = 0
        while done < rows + extra:
            n = min(50, rows + extra - done)
            w.add([f"t{j}" for j in range(n)], rng.normal(size=(n, 16)).astype(np.float32))
            done += n
        w.finish()
    assert list(tmp_path.iterdir()) == []  # no store, no temporary file


def test_chunks_are_allocated_up_front_and_page_aligned(tmp_path: Path) -> None:
    from neurotui.store.rawchunks import chunk_map
    from neurotui.store.rawwrite import PAGE

    src, _, _ = neurox_file(tmp_path / "nx.hdf5", seed=7)
    out = convert(src, tmp_path / "ours.h5", summary=False)
    with h5py.File(out, "r") as f:
        for name in f["activations"]:
            ds = f["activations"][name]
            assert ds.maxshape == ds.shape  # fixed size: every chunk exists
            cmap = chunk_map(ds)
            assert cmap is not None
            assert not (cmap.offsets % PAGE).any()
            assert (np.diff(cmap.offsets) == cmap.chunk_bytes).all()  # back to back


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_mixed_raw_and_h5py_sites_with_announced_rows(tmp_path: Path, dtype: str) -> None:
    # "wide" is chunked in column bands (1,100 > 1,024 columns), so h5py writes it while
    # the raw writer takes the others in the same bands; float16 × 5 columns makes chunks
    # that are not whole pages (no direct I/O for that site).
    from neurotui.store.writer import write_store

    rng = np.random.default_rng(9)
    sites = [("a", 5), ("wide", 1100), ("b", 7)]
    lengths = [int(x) for x in rng.integers(1, 60, size=100)]
    tokens = [[f"t{i}_{j}" for j in range(n)] for i, n in enumerate(lengths)]
    acts = [rng.normal(size=(n, 1112)).astype(np.float32) for n in lengths]
    total = sum(lengths)
    with StoreWriter(
        tmp_path / "fixed.h5", sites, dtype=dtype, expected_tokens=total, rows=total
    ) as w:
        for t, a in zip(tokens, acts, strict=True):
            w.add(t, a)
        fixed = w.finish()
    growing = write_store(tmp_path / "growing.h5", tokens, acts, sites, dtype=dtype)
    a, b = read_back(fixed), read_back(growing)
    assert a[0] == b[0] == tokens
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[1], np.concatenate(acts).astype(dtype).astype(np.float32))
    for key in a[2]:
        np.testing.assert_array_equal(a[2][key], b[2][key], err_msg=key)
    with h5py.File(fixed, "r") as f:
        assert all(f["activations"][n].maxshape == (total, s) for n, s in sites)


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import errno

    from neurotui.errors import StoreError
    from neurotui.store import rawchunks

    src, _, _ = neurox_file(tmp_path / "nx.hdf5", seed=8)

    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rawchunks.os, "pwritev", full)
    with pytest.raises(StoreError, match=r"ours\.h5: cannot write the store \(No space left"):
        convert(src, tmp_path / "ours.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nx.hdf5"]
