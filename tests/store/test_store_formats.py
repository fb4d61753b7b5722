"""NeuroX hdf5/json files, format detection from content, token and label files."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import neurotui.store as ns
from neurotui.errors import DataError, StoreError
from neurotui.store.convert import convert
from neurotui.store.detect import detect_format
from neurotui.store.labels import (
    labels_for_tokens,
    read_conll,
    read_parallel_labels,
    read_sentences,
)
from neurotui.store.neurox import write_neurox_hdf5
from neurotui.store.writer import write_store

LAYERS, HIDDEN = 3, 4


def sentences(n: int = 12, seed: int = 0) -> tuple[list[list[str]], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    toks = [[f"w{i}x{j}" for j in range(int(rng.integers(1, 7)))] for i in range(n)]
    acts = [rng.normal(size=(LAYERS, len(t), HIDDEN)).astype(np.float32) for t in toks]
    return toks, acts


def neurox_columns(a: np.ndarray) -> np.ndarray:
    """NeuroX's documented reshaping: (layers, tokens, hidden) → tokens × (layer-major)."""
    return np.swapaxes(a, 0, 1).reshape(a.shape[1], -1)


def build_neurox_hdf5(
    path: Path,
    toks: list[list[str]],
    acts: list[np.ndarray],
    order: list[int] | None = None,
    mapping: dict | None = None,
) -> Path:
    """A NeuroX-layout file written by hand (h5py only), like NeuroX's writer does."""
    with h5py.File(path, "w") as f:
        for i, a in enumerate(acts):
            f.create_dataset(str(i), data=a)
        if mapping is None:
            mapping = {}
            for i in order or range(len(toks)):
                text, key, n = " ".join(toks[i]), " ".join(toks[i]), 1
                while key in mapping:
                    n += 1
                    key = f"{text} (Occurrence {n})"
                mapping[key] = str(i)
        ds = f.create_dataset("sentence_to_index", (1,), dtype=h5py.special_dtype(vlen=str))
        ds[0] = json.dumps(mapping)
    return path


def build_neurox_json(path: Path, toks: list[list[str]], acts: list[np.ndarray]) -> Path:
    with path.open("w") as fh:
        for i, (t, a) in enumerate(zip(toks, acts, strict=True)):
            feats = [
                {
                    "token": w,
                    "layers": [
                        {"index": k, "values": [round(float(v), 8) for v in a[k, j]]}
                        for k in range(a.shape[0])
                    ],
                }
                for j, w in enumerate(t)
            ]
            fh.write(json.dumps({"linex_index": i, "features": feats}) + "\n")
    return path


def test_hand_built_neurox_hdf5_opens_with_identical_numbers(tmp_path: Path) -> None:
    toks, acts = sentences()
    order = [3, 0, 1, 2, *range(4, len(toks))]  # the mapping's order is the sentence order
    path = build_neurox_hdf5(tmp_path / "acts.hdf5", toks, acts, order=order)
    with ns.open(path) as store:
        assert store.format == "neurox-hdf5"
        assert store.sentences == len(toks)
        assert store.layer_names == ["layer0", "layer1", "layer2"]
        assert store.neuron_count == LAYERS * HIDDEN
        assert store.neuron_name(5) == "layer1:1"
        for pos, i in enumerate(order):
            assert store.tokens(pos) == toks[i]
            np.testing.assert_array_equal(store.activations(pos), neurox_columns(acts[i]))
        np.testing.assert_array_equal(store.activations(0, ["layer2"]), acts[order[0]][2])
        everything = np.concatenate([neurox_columns(acts[i]) for i in order])
        np.testing.assert_allclose(
            store.compute_summary().stats.mean, everything.mean(0), rtol=1e-5
        )
        np.testing.assert_array_equal(store.neuron_values(7), everything[:, 7])


@pytest.mark.parametrize("layers", [1, LAYERS])
def test_neurox_chunks_are_the_generic_chunks(tmp_path: Path, layers: int) -> None:
    """The NeuroX reader's own streaming (one buffer per chunk, raw reads) yields the very
    blocks, at the very sentence boundaries, of the generic per-sentence path."""
    from neurotui.store.base import BaseStore

    toks, acts = sentences(30, seed=3)
    acts = [a[:layers] for a in acts]
    path = build_neurox_hdf5(tmp_path / "acts.hdf5", toks, acts, order=[*range(30)][::-1])
    with ns.open(path) as store:
        for chunk in (1, 7, 50, 65536):
            ours = list(store.iter_chunks(None, chunk))
            generic = list(BaseStore.iter_chunks(store, None, chunk))
            assert [s for s, _ in ours] == [s for s, _ in generic]
            for (_, a), (_, b) in zip(ours, generic, strict=True):
                assert a.dtype == np.float32 and a.flags.c_contiguous
                np.testing.assert_array_equal(a, b)
        everything = np.concatenate([neurox_columns(acts[i]) for i in range(30)[::-1]])
        np.testing.assert_array_equal(np.concatenate([b for _, b in ours]), everything)


def test_neurox_hdf5_written_by_us_reads_back_like_neurox(tmp_path: Path) -> None:
    toks, acts = sentences()
    toks[5] = list(toks[2])  # a duplicate sentence
    acts[5] = (
        acts[5][:, : len(toks[5])]
        if acts[5].shape[1] >= len(toks[5])
        else np.resize(acts[5], (LAYERS, len(toks[5]), HIDDEN))
    )
    flat = [neurox_columns(a) for a in acts]
    sites = [("enc.l0", HIDDEN), ("enc.l1", HIDDEN), ("dec.l0", HIDDEN)]
    ours = write_store(tmp_path / "ours.h5", toks, flat, sites)
    out = convert(ours, tmp_path / "nx.hdf5", to="neurox-hdf5")
    with h5py.File(out, "r") as f:  # NeuroX's own reading steps
        mapping = json.loads(f["sentence_to_index"][0])
        keys = list(mapping)
        assert keys[5] == " ".join(toks[5]) + " (Occurrence 2)"
        loaded = [neurox_columns(np.asarray(f[v])) for v in mapping.values()]
    for a, b in zip(loaded, flat, strict=True):
        np.testing.assert_array_equal(a, b)
    with ns.open(out) as store:
        assert store.layer_names == ["enc.l0", "enc.l1", "dec.l0"]  # names ride along
        assert store.tokens(5) == toks[5]
        assert any("duplicate" in w for w in store.warnings)


def test_unequal_site_sizes_become_one_neurox_layer(tmp_path: Path) -> None:
    toks, _ = sentences(4)
    rng = np.random.default_rng(0)
    flat = [rng.normal(size=(len(t), 7)).astype(np.float32) for t in toks]
    with ns.MemoryStore(toks, flat, [("a", 3), ("b", 4)]) as mem:
        out = write_neurox_hdf5(mem, tmp_path / "nx.hdf5")
    with h5py.File(out, "r") as f:
        assert f["0"].shape == (1, len(toks[0]), 7)
    with ns.open(out) as store:
        assert store.layer_names == ["a", "b"]
        np.testing.assert_array_equal(store.activations(2), flat[2])


def test_neurox_mapping_naming_a_missing_dataset(tmp_path: Path) -> None:
    toks, acts = sentences(3)
    mapping = {" ".join(t): str(i) for i, t in enumerate(toks)}
    mapping["ghost sentence"] = "17"
    path = build_neurox_hdf5(tmp_path / "a.hdf5", toks, acts, mapping=mapping)
    with pytest.raises(StoreError, match="names dataset '17'.*which the file lacks"):
        ns.open(path)


def test_neurox_mismatched_hidden_sizes(tmp_path: Path) -> None:
    toks, acts = sentences(4)
    acts[2] = np.zeros((LAYERS, len(toks[2]), HIDDEN + 1), dtype=np.float32)
    path = build_neurox_hdf5(tmp_path / "a.hdf5", toks, acts)
    with pytest.raises(StoreError, match="dataset '2' .*sizes must match"):
        ns.open(path)
    toks, acts = sentences(4)
    acts[1] = np.zeros((LAYERS + 1, len(toks[1]), HIDDEN), dtype=np.float32)
    path = build_neurox_hdf5(tmp_path / "b.hdf5", toks, acts)
    with pytest.raises(StoreError, match="4 layers|sizes must match"):
        ns.open(path)


def test_neurox_tokens_must_match_rows(tmp_path: Path) -> None:
    toks, acts = sentences(3)
    mapping = {" ".join(t) + " extra": str(i) for i, t in enumerate(toks)}
    path = build_neurox_hdf5(tmp_path / "a.hdf5", toks, acts, mapping=mapping)
    with pytest.raises(DataError, match="sentence 0 .*words but the activations have"):
        ns.open(path)


def test_neurox_json_is_read_lazily_and_converts(tmp_path: Path) -> None:
    toks, acts = sentences()
    path = build_neurox_json(tmp_path / "acts.json", toks, acts)
    with ns.open(path) as store:
        assert store.format == "neurox-json"
        assert store._starts is None  # nothing indexed yet: only the first line was read
        np.testing.assert_allclose(store.activations(4), neurox_columns(acts[4]), atol=1e-7)
        assert store.tokens(4) == toks[4]
        assert store.sentences == len(toks)
        assert store.total_tokens == sum(map(len, toks))
    out = convert(path, tmp_path / "ours.h5")
    with ns.open(out) as ours, ns.open(path) as nx:
        for i in range(len(toks)):
            np.testing.assert_array_equal(ours.activations(i), nx.activations(i))
        assert ours.metadata["converted_from"]["format"] == "neurox-json"
        assert ours.stats is not None


def test_neurox_json_mismatched_sizes_name_the_line(tmp_path: Path) -> None:
    toks, acts = sentences(5)
    path = build_neurox_json(tmp_path / "acts.json", toks, acts)
    lines = path.read_text().splitlines()
    obj = json.loads(lines[3])
    obj["features"][0]["layers"][1]["values"].append(0.5)
    lines[3] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")
    with (
        ns.open(path) as store,
        pytest.raises(DataError, match=r"acts.json:4: token 0 has layers of sizes"),
    ):
        store.activations(3)


@pytest.mark.parametrize("name", ["acts.json", "acts.txt", "acts"])
def test_content_decides_not_the_extension(tmp_path: Path, name: str) -> None:
    toks, acts = sentences(3)
    ours = write_store(
        tmp_path / name, toks, [neurox_columns(a) for a in acts], [("x", LAYERS * HIDDEN)]
    )
    assert detect_format(ours) == "neurotui"
    nx = build_neurox_json(tmp_path / "nx.h5", toks, acts)
    assert detect_format(nx) == "neurox-json"
    h = build_neurox_hdf5(tmp_path / "nx.json", toks, acts)
    assert detect_format(h) == "neurox-hdf5"


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"", "empty file"),
        (b"hello world\n", "not an activation store"),
        (b'{"foo": 1}\n', "not NeuroX activations"),
        (b"\x89HDF\r\n\x1a\n" + b"\0" * 100, "truncated or damaged HDF5"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: bytes, pattern: str) -> None:
    path = tmp_path / "x.h5"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=pattern) as err:
        ns.open(path)
    assert "\n" not in str(err.value)


def test_foreign_hdf5_and_missing_file(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("weights", data=[1, 2, 3])
    with pytest.raises(StoreError, match="neither a neurotui store nor NeuroX"):
        ns.open(tmp_path / "other.h5")
    with pytest.raises(StoreError, match="no such file"):
        ns.open(tmp_path / "missing.h5")


# -- token and label files --------------------------------------------------------------
def test_parallel_label_mismatches_name_file_and_line(tmp_path: Path) -> None:
    text = tmp_path / "a.en"
    text.write_text("the cat sleeps\na dog\n")
    toks = read_sentences(text)
    good = tmp_path / "a.pos"
    good.write_text("DT NN VBZ\nDT NN\n")
    assert read_parallel_labels(good, [len(t) for t in toks]) == [["DT", "NN", "VBZ"], ["DT", "NN"]]
    short = tmp_path / "b.pos"
    short.write_text("DT NN VBZ\nDT\n")
    with pytest.raises(DataError, match=r"b.pos:2: 1 labels but sentence 1 has 2 tokens"):
        labels_for_tokens(short, toks)
    fewer = tmp_path / "c.pos"
    fewer.write_text("DT NN VBZ\n")
    with pytest.raises(DataError, match=r"c.pos: 1 sentences of labels, expected 2"):
        labels_for_tokens(fewer, toks)
    blank = tmp_path / "d.en"
    blank.write_text("the cat\n\nsleeps\n")
    with pytest.raises(DataError, match=r"d.en:2: empty line"):
        read_sentences(blank)


def test_conll_columns(tmp_path: Path) -> None:
    path = tmp_path / "a.conllu"
    path.write_text(
        "# sent_id = 1\n1\tThe\tthe\tDET\n2-3\tdon't\t_\t_\n2\tdo\tdo\tAUX\n3\tn't\tnot\tPART\n\n"
        "1\tDogs\tdog\tNOUN\n2\tbark\tbark\tVERB\n"
    )
    conll = read_conll(path, 4)
    assert conll.tokens == [["The", "do", "n't"], ["Dogs", "bark"]]
    assert conll.labels == [["DET", "AUX", "PART"], ["NOUN", "VERB"]]
    warnings: list[str] = []
    rows = labels_for_tokens(
        path, [["The", "do", "not"], ["Dogs", "bark"]], conll_column=4, warnings=warnings
    )
    assert rows[0] == ["DET", "AUX", "PART"] and warnings[0].split(": ")[0].endswith("a.conllu:5")
    with pytest.raises(DataError, match=r"a.conllu:7: 2 labels but sentence 1 has 3 tokens"):
        labels_for_tokens(path, [["The", "do", "n't"], ["Dogs", "bark", "!"]], conll_column=4)
    with pytest.raises(DataError, match=r"a.conllu:2: 4 columns, need at least 9"):
        read_conll(path, 9)


def test_converting_nan_and_inf_warns_and_excludes_them(tmp_path: Path) -> None:
    toks, acts = sentences()
    acts[4][1, 0, 2] = np.nan
    acts[6][2, 0, 3] = np.inf
    src = build_neurox_hdf5(tmp_path / "bad.hdf5", toks, acts)
    warnings: list[str] = []
    out = convert(src, tmp_path / "ours.h5", warnings=warnings)
    assert len(warnings) == 1
    assert "2 NaN/Inf activation values" in warnings[0] and "ours.h5" in warnings[0]
    with ns.open(out) as store:
        assert int(store.stats.nonfinite.sum()) == 2
        assert store.stats.nonfinite[HIDDEN + 2] == 1  # layer1:2
        everything = np.concatenate([neurox_columns(a) for a in acts])
        finite = everything[:, HIDDEN + 2][np.isfinite(everything[:, HIDDEN + 2])]
        assert store.stats.mean[HIDDEN + 2] == pytest.approx(finite.mean(), rel=1e-5)
