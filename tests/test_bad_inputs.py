"""Malformed inputs through the command line: one line naming what is wrong, every time.

Why generated: each case builds a small valid input (a store, a NeuroX file, a label file,
a spec, a checkpoint, a flag) and breaks one thing in it, the way a careless user, a
buggy exporter or a lying file would. Every case must end with a non-zero exit, exactly
one ``neurotui: error:`` line that names the file, field or flag, no traceback, and
within a few seconds (the budget also catches an allocation sized from a lie, which
takes far longer than that to fail).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurotui.cli import main
from neurotui.store.writer import write_store

SITES = [("enc.l0", 4), ("enc.l1", 3)]
WIDTH = 7
#: seconds any one bad input may take, import costs included
BUDGET_S = 10.0


def good_store(path: Path, *, fill: float | None = None) -> Path:
    """A small valid store: 6 sentences, 2 sites, a label task and summaries."""
    rng = np.random.default_rng(0)
    tokens = [[f"w{i}{j}" for j in range(2 + i % 3)] for i in range(6)]
    acts = [rng.normal(size=(len(t), WIDTH)).astype(np.float32) for t in tokens]
    if fill is not None:
        acts = [np.full_like(a, fill) for a in acts]
    labels = {"pos": [["N" if j % 2 else "V" for j in range(len(t))] for t in tokens]}
    return write_store(path, tokens, acts, SITES, labels=labels, metadata={"model": {}})


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``neurotui argv`` in-process; return stderr after checking the contract."""
    capsys.readouterr()
    start = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code not in (0, None), f"{argv} exited 0; stderr: {err!r}"
    lines = [ln for ln in err.splitlines() if ln.startswith("neurotui: error:")]
    assert len(lines) == 1, f"{argv}: expected one error line, got {err!r}"
    assert "Traceback" not in err, err
    assert elapsed < BUDGET_S, f"{argv} took {elapsed:.1f} s"
    return lines[0]


# -- 1. stores whose datasets lie --------------------------------------------------------
def _replace(f: h5py.File, name: str, **kwargs: object) -> None:
    attrs = dict(f[name].attrs)
    del f[name]
    ds = f.create_dataset(name, **kwargs)  # type: ignore[arg-type]
    for key, value in attrs.items():
        ds.attrs[key] = value


def declare_huge(f: h5py.File) -> None:
    """10⁹ tokens declared (chunked datasets, nothing written), offsets agreeing."""
    total = 10**9
    offsets = f["sentences/offsets"][()]
    offsets[-1] = total
    _replace(f, "sentences/offsets", data=offsets)
    for name, size in SITES:
        _replace(f, f"activations/{name}", shape=(total, size), dtype="f4", chunks=(1024, size))
    _replace(f, "tokens/offsets", shape=(total + 1,), dtype="i8", chunks=(4096,))
    del f["summary"], f["labels"]


def string_activations(f: h5py.File) -> None:
    shape = f["activations/enc.l0"].shape
    _replace(f, "activations/enc.l0", data=np.full(shape, b"x", dtype="S3"))


def float_offsets(f: h5py.File) -> None:
    _replace(f, "sentences/offsets", data=f["sentences/offsets"][()].astype(np.float64) + 0.5)


def decreasing_token_offsets(f: h5py.File) -> None:
    ends = f["tokens/offsets"][()]
    ends[2], ends[3] = ends[3], ends[2]
    _replace(f, "tokens/offsets", data=ends)


def token_offsets_past_end(f: h5py.File) -> None:
    ends = f["tokens/offsets"][()]
    ends[-1] += 50
    _replace(f, "tokens/offsets", data=ends)


def non_utf8_tokens(f: h5py.File) -> None:
    text = f["tokens/utf8"][()]
    text[:2] = [0xFF, 0xFE]
    _replace(f, "tokens/utf8", data=text)


def short_summary(f: h5py.File) -> None:
    for name in ("stats", "examples", "rows"):
        _replace(f, f"summary/{name}", data=f[f"summary/{name}"][()][:-2])


def example_rows_out_of_range(f: h5py.File) -> None:
    rows = f["summary/rows"][()]
    rows[:, 0] = 10**6
    _replace(f, "summary/rows", data=rows)


def labels_out_of_range(f: h5py.File) -> None:
    codes = f["labels/pos"][()]
    codes[3] = 7
    f["labels/pos"][...] = codes


LYING_STORES: dict[str, tuple[Callable[[h5py.File], None], str]] = {
    "huge": (declare_huge, "declares shape"),
    "string-acts": (string_activations, "enc.l0 holds |S3 values"),
    "float-offsets": (float_offsets, "sentences/offsets holds float64"),
    "decreasing-token-offsets": (decreasing_token_offsets, "token offsets are damaged"),
    "token-offsets-past-end": (token_offsets_past_end, "token offsets run 0"),
    "non-utf8": (non_utf8_tokens, "not valid UTF-8"),
    "short-summary": (short_summary, "summary/stats is"),
    "example-rows": (example_rows_out_of_range, "summary/rows holds row 1000000"),
    "label-codes": (labels_out_of_range, "label task 'pos' uses class code 7"),
}


def lying_store(tmp_path: Path, case: str) -> Path:
    path = good_store(tmp_path / f"{case}.h5")
    with h5py.File(path, "r+") as f:
        LYING_STORES[case][0](f)
    return path


#: commands that read a store's tokens, summaries, labels or activations
STORE_COMMANDS: list[Callable[[Path, Path], list[str]]] = [
    lambda s, tmp: ["top-words", str(s), "0"],
    lambda s, tmp: ["rank", str(s), "--method", "probe", "--task", "pos", "--epochs", "1"],
    lambda s, tmp: ["convert", str(s), str(tmp / "out.h5"), "--to", "neurotui"],
    lambda s, tmp: ["convert", str(s), str(tmp / "out.h5")],  # to NeuroX (no labels)
]


@pytest.mark.parametrize("case", sorted(LYING_STORES))
def test_lying_stores_are_refused_in_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = lying_store(tmp_path, case)
    # example rows and label codes are checked where they are read; the rest at open
    commands = {"example-rows": STORE_COMMANDS[:1], "label-codes": STORE_COMMANDS[1:3]}.get(
        case, STORE_COMMANDS
    )
    for command in commands:
        line = run_cli(command(store, tmp_path), capsys)
        assert str(store) in line and LYING_STORES[case][1] in line, line
        assert not (tmp_path / "out.h5").exists()


def _metadata_sites(sites: list[list[object]]) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        meta = json.loads(f.attrs["metadata"])
        meta["sites"] = sites
        f.attrs["metadata"] = json.dumps(meta)

    return edit


@pytest.mark.parametrize(
    ("sites", "expected"),
    [
        ([["enc.l0", 4], ["enc.l0", 3]], "site 'enc.l0' appears twice"),
        ([["enc.l0", 7], ["enc.l1", 0]], "site 'enc.l1' has size 0"),
        ([], "metadata lists no sites"),
    ],
)
def test_bad_site_lists_name_the_store(
    sites: list[list[object]], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = good_store(tmp_path / "s.h5")
    with h5py.File(store, "r+") as f:
        _metadata_sites(sites)(f)
    line = run_cli(["info", str(store)], capsys)
    assert f"{store}: " in line and (expected in line or "no sites" in line), line


# -- 1. NeuroX files ----------------------------------------------------------------------
def neurox_json_line(index: int | None, words: list[str], layers: int = 2) -> str:
    features = [
        {
            "token": w,
            "layers": [{"index": k, "values": [0.5, -1.0, float(j)]} for k in range(layers)],
        }
        for j, w in enumerate(words)
    ]
    obj: dict[str, object] = {"features": features}
    if index is not None:
        obj = {"linex_index": index, **obj}
    return json.dumps(obj)


def write_neurox_json(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


NEUROX_JSON: dict[str, tuple[list[str], str]] = {
    "no-features": (
        [neurox_json_line(0, []), neurox_json_line(1, ["a", "b"])],
        ":1: the first sentence has no tokens",
    ),
    "index-gap": (
        [neurox_json_line(0, ["a"]), neurox_json_line(2, ["b", "c"])],
        ":2: linex_index 2, expected 1",
    ),
    "index-repeat": (
        [neurox_json_line(0, ["a"]), neurox_json_line(1, ["b"]), neurox_json_line(1, ["c"])],
        ":3: linex_index 1, expected 2",
    ),
}


@pytest.mark.parametrize("case", sorted(NEUROX_JSON))
def test_bad_neurox_json_is_refused(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, expected = NEUROX_JSON[case]
    path = write_neurox_json(tmp_path / f"{case}.json", lines)
    for argv in (["info", str(path)], ["convert", str(path), str(tmp_path / "out.h5")]):
        line = run_cli(argv, capsys)
        assert f"{path}{expected}" in line, line
    assert not (tmp_path / "out.h5").exists()


def test_good_neurox_json_without_indices_still_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_neurox_json(
        tmp_path / "ok.json", [neurox_json_line(None, ["a"]), neurox_json_line(None, ["b", "c"])]
    )
    assert main(["info", str(path)]) == 0


def write_neurox_hdf5(path: Path, datasets: dict[str, dict[str, object]], texts: list[str]) -> Path:
    with h5py.File(path, "w") as f:
        for key, kwargs in datasets.items():
            f.create_dataset(key, **kwargs)  # type: ignore[arg-type]
        mapping = json.dumps({t: str(i) for i, t in enumerate(texts)})
        f.create_dataset("sentence_to_index", data=[mapping], dtype=h5py.string_dtype())
    return path


@pytest.mark.parametrize(
    ("datasets", "expected"),
    [
        (
            {
                "0": {"data": np.zeros((2, 2, 3), "f4")},
                "1": {"shape": (2, 10**9, 3), "dtype": "f4", "chunks": (1, 1024, 3)},
            },
            "dataset '1' declares shape (2, 1000000000, 3)",
        ),
        (
            {
                "0": {"data": np.full((2, 2, 3), b"x", "S2")},
                "1": {"data": np.zeros((2, 1, 3), "f4")},
            },
            "dataset '0' holds |S2 values",
        ),
    ],
)
def test_lying_neurox_hdf5_is_refused(
    datasets: dict[str, dict[str, object]],
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_neurox_hdf5(tmp_path / "x.hdf5", datasets, ["a b", "c"])
    line = run_cli(["top-words", str(path), "0"], capsys)
    assert str(path) in line and expected in line, line


# -- 2. NaN and Inf ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["--method", "variance"],
        ["--method", "probe", "--task", "pos", "--epochs", "1"],
        ["--method", "probeless", "--task", "pos"],
    ],
)
def test_a_store_of_nan_is_not_ranked(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = good_store(tmp_path / "nan.h5", fill=float("nan"))
    line = run_cli(["rank", str(store), *argv], capsys)
    assert f"{store}: site enc.l0 has no finite activation value" in line, line


def test_a_site_of_nan_without_a_summary_is_not_ranked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """NeuroX files have no stored summary: the check happens while values are read."""
    store = good_store(tmp_path / "nan.h5", fill=float("nan"))
    assert main(["convert", str(store), str(tmp_path / "nan.hdf5")]) == 0
    line = run_cli(
        [
            "rank",
            str(tmp_path / "nan.hdf5"),
            "--method",
            "probe",
            "--labels",
            str(_pos_file(tmp_path)),
        ],
        capsys,
    )
    assert "site enc.l0 has no finite activation value" in line, line


def _pos_file(tmp_path: Path) -> Path:
    path = tmp_path / "pos.txt"
    lines = [" ".join("N" if j % 2 else "V" for j in range(2 + i % 3)) for i in range(6)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"site": "enc.l0", "neurons": [1], "op": "set", "value": float("nan")}, "[0].value: nan"),
        (
            {"site": "enc.l0", "neurons": [1], "op": "scale", "value": float("inf")},
            "[0].value: inf",
        ),
        (
            {"site": "enc.l0", "neurons": [1, 2], "op": "add", "value": [1.0, float("-inf")]},
            "[0].value: -inf",
        ),
    ],
)
def test_non_finite_spec_values_are_refused(
    spec: dict[str, object], field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps([spec]))  # Python writes NaN/Infinity, and reads them back
    line = run_cli(["translate", "no-such-model", "x", "--intervene", str(path)], capsys)
    assert f"{path}: spec{field} is not a finite number" in line, line


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "nanσ", "1e999"])
def test_non_finite_clamps_are_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = run_cli(["translate", "no-such-model", "x", "--clamp", f"enc.l0:1={value}"], capsys)
    assert "--clamp" in line and "is not a finite number" in line, line


# -- 4. numbers out of range on the command line ----------------------------------------
BAD_FLAGS: list[tuple[list[str], str]] = [
    (["top-words", "s.h5", "0", "-k", "-3"], "argument -k: must be 1 or more"),
    (["top-words", "s.h5", "0", "--window", "-1"], "argument --window: must be 0 or more"),
    (["top-words", "s.h5", "0", "--min-count", "-2"], "argument --min-count"),
    (["rank", "s.h5", "--method", "variance", "--top", "-1"], "argument --top"),
    (["rank", "s.h5", "--method", "probe", "--epochs", "-2"], "argument --epochs"),
    (["rank", "s.h5", "--method", "probe", "--l1", "nan"], "argument --l1: 'nan' is not a finite"),
    (["rank", "s.h5", "--method", "probe", "--l2", "-1"], "argument --l2: must be 0 or more"),
    (["evaluate", "s.h5", "--ranking", "r", "--task", "t", "--percents", "150"], "--percents"),
    (["evaluate", "s.h5", "--ranking", "r", "--task", "t", "--percents", "0"], "--percents"),
    (["evaluate", "s.h5", "--ranking", "r", "--task", "t", "--percents", "10", "-5"], "--percents"),
    (["translate", "m", "x", "--max-len", "-1"], "argument --max-len"),
    (["translate", "m", "x", "--count", "-1"], "argument -n/--count"),
    (["translate", "m", "x", "--batch-size", "0"], "argument --batch-size: must be 1 or more"),
    (["translate", "m", "x", "--beam", "0"], "argument --beam"),
    (["score", "m", "--limit", "-5"], "argument --limit"),
    (["ablate", "m", "--limit", "-5"], "argument --limit"),
    (["control", "m", "--task", "tense", "--limit", "-1"], "argument --limit"),
    (["extract", "m", "t.txt", "-o", "o.h5", "--batch-size", "0"], "argument --batch-size"),
    (["train", "--out", "o", "--epochs", "-1"], "argument --epochs"),
    (["train", "--out", "o", "--hidden", "0"], "argument --hidden"),
    (["train", "--out", "o", "--dropout", "1.5"], "argument --dropout"),
    (["replay", "log.jsonl", "--line", "0"], "argument --line"),
    (["top-words", "s.h5", "0", "-k", "three"], "argument -k: 'three' is not a whole number"),
]


@pytest.mark.parametrize(
    ("argv", "expected"), BAD_FLAGS, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_out_of_range_flags_are_refused_naming_the_flag(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = run_cli(argv, capsys)
    assert expected in line and f"{argv[0]}: " in line, line


# -- 5. files the user cannot read -------------------------------------------------------
@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Path]:
    """Make a path unreadable as for a non-root user (the tests may run as root, which
    reads any file whatever its mode)."""
    import builtins
    import io

    blocked: set[str] = set()
    real_open = io.open

    def guarded(file: object, *args: object, **kwargs: object) -> object:
        if isinstance(file, (str, Path)) and str(Path(file).resolve()) in blocked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(io, "open", guarded)
    monkeypatch.setattr(builtins, "open", guarded)

    def block(path: Path) -> Path:
        blocked.add(str(path.resolve()))
        return path

    return block


def test_an_unreadable_store_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unreadable: Callable[[Path], Path]
) -> None:
    store = unreadable(good_store(tmp_path / "s.h5"))
    for argv in (["info", str(store)], ["top-words", str(store), "0"]):
        line = run_cli(argv, capsys)
        assert f"{store}: permission denied" in line, line


def test_an_unreadable_label_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unreadable: Callable[[Path], Path]
) -> None:
    store = good_store(tmp_path / "s.h5")
    labels = unreadable(_pos_file(tmp_path))
    line = run_cli(["label", str(store), "--task", "x", str(labels)], capsys)
    assert f"{labels}: cannot read (Permission denied)" in line, line
    line = run_cli(["rank", str(store), "--method", "probe", "--labels", str(labels)], capsys)
    assert f"{labels}: cannot read (Permission denied)" in line, line


@pytest.mark.skipif(
    not Path("/usr/bin/setpriv").exists() or __import__("os").geteuid() != 0,
    reason="needs root and setpriv to run as another user",
)
def test_unreadable_files_as_a_real_other_user(tmp_path: Path) -> None:
    """The same, for real: a mode-0600 store read by ``nobody``."""
    import os
    import subprocess
    import sys

    os.chmod(tmp_path, 0o755)
    store = good_store(tmp_path / "s.h5")
    os.chmod(store, 0o600)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env["HOME"] = env["XDG_CACHE_HOME"] = str(tmp_path)
    out = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable]
        + ["-m", "neurotui", "info", str(store)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if "Permission denied" in out.stderr and "neurotui" not in out.stderr:
        pytest.skip("this interpreter is not readable by nobody")
    if "No module named neurotui" in out.stderr:  # a checkout under a 0700 folder (mktemp -d)
        pytest.skip("this checkout is not readable by nobody")
    assert out.returncode == 2, out.stderr
    assert (
        out.stderr.strip()
        == f"neurotui: error: {store}: permission denied (cannot read this store)"
    )


# -- checkpoints ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LSTM seq2seq checkpoint (safetensors + config.json), as `train` writes it."""
    import torch

    from neurotui.data.synthetic import generate
    from neurotui.models.checkpoint import save_checkpoint
    from neurotui.models.seq2seq import Seq2SeqConfig, Seq2SeqModel
    from neurotui.models.vocab import Vocab

    examples = generate(20, seed=4)
    torch.manual_seed(0)
    src = Vocab.build([e.src for e in examples])
    tgt = Vocab.build([e.tgt for e in examples])
    sizes = {"emb": 8, "enc_hidden": 6, "enc_layers": 1, "dec_hidden": 8, "dec_layers": 1}
    config = {"neurotui_format": 1, "kind": "lstm-seq2seq", **sizes, "dropout": 0.0}
    cfg = Seq2SeqConfig(len(src), len(tgt), **sizes, dropout=0.0)
    folder = tmp_path_factory.mktemp("models") / "tiny-s2s"
    save_checkpoint(
        folder, config, Seq2SeqModel(cfg), {"vocab.src.json": src, "vocab.tgt.json": tgt}
    )
    (folder / "sentence.txt").write_text(examples[0].src)
    return folder


def copy_model(model: Path, tmp_path: Path, **config: object) -> Path:
    """A copy of ``model`` with some config.json fields changed."""
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(model, folder)
    data = json.loads((folder / "config.json").read_text())
    data.update(config)
    (folder / "config.json").write_text(json.dumps(data))
    return folder


# -- 10. messages that name what is wrong -------------------------------------------------
@pytest.fixture(scope="module")
def logged_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One logged translate record (a line of JSON)."""
    log = tmp_path_factory.mktemp("log") / "runs.jsonl"
    sentence = (tiny_model / "sentence.txt").read_text()
    argv = ["translate", str(tiny_model), sentence, "--device", "cpu", "--max-len", "4"]
    assert main([*argv, "--ablate", "enc.l0.fw:0-2", "--log", str(log)]) == 0
    return log.read_text().splitlines()[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r.update(interventions=[{"neurons": [1], "op": "bogus"}]),
            ":1: intervention: op 'bogus' is not one of",
        ),
        (lambda r: r.pop("interventions"), ":1: translate record lacks field 'interventions'"),
    ],
)
def test_replay_errors_name_the_log_and_line(
    change: Callable[[dict[str, object]], object],
    expected: str,
    logged_run: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    record = json.loads(logged_run)
    change(record)
    log = tmp_path / "runs.jsonl"
    log.write_text(json.dumps(record) + "\n")
    line = run_cli(["replay", str(log), "--device", "cpu"], capsys)
    assert f"{log}{expected}" in line, line


def test_hf_weights_that_do_not_fit_the_config_say_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config.json whose d_model/hidden_size disagrees with the weights."""
    tf = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    config = tf.BertConfig(
        vocab_size=30,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=20,
        max_position_embeddings=16,
    )
    folder = tmp_path / "bert"
    tf.BertModel(config).save_pretrained(folder)
    data = json.loads((folder / "config.json").read_text())
    data["hidden_size"] = 32
    (folder / "config.json").write_text(json.dumps(data))
    line = run_cli(["translate", str(folder), "a b", "--device", "cpu"], capsys)
    assert "above report" not in line
    assert "model.safetensors: weight " in line and "config.json makes it" in line, line


# -- 7. the app ------------------------------------------------------------------------------
KEYMAPS: list[tuple[str, str]] = [
    ('"neurons.pin" = "p"\n"analysis.jump" = "p"\n', "key 'p' is bound to both"),
    ('"neurons.pin" = "q"\n', "neurons.pin: key 'q' quits the app"),
    ('"app.quit" = "ctrl+q"\n', "app.quit: keep 'q'"),
    ('"neurons.pin" = "ctrl+nosuchkey"\n', "neurons.pin: 'ctrl+nosuchkey' is not a key"),
    ('"neurons.pin" = "F2"\n', "neurons.pin: 'F2' is not a key"),
]


@pytest.mark.parametrize(("body", "expected"), KEYMAPS)
def test_bad_keymaps_are_refused_at_start(
    body: str,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    keymap = tmp_path / "config" / "neurotui" / "keymap.toml"
    keymap.parent.mkdir(parents=True)
    keymap.write_text("[keys]\n" + body)
    store = good_store(tmp_path / "s.h5")
    # were the keymap accepted, the app would start: make that return at once instead
    monkeypatch.setattr("neurotui.tui.app.NeurotuiApp.run", lambda self, **kw: None)
    line = run_cli([str(store)], capsys)
    assert f"{keymap}: " in line and expected in line, line


def test_model_flag_wins_over_the_store_model(tmp_path: Path) -> None:
    import neurotui.store as ns
    from neurotui.tui.screens.runner_mode import model_name_of
    from neurotui.tui.session import OpenStore

    path = write_store(
        tmp_path / "s.h5",
        [["a"]],
        [np.zeros((1, WIDTH), "f4")],
        SITES,
        metadata={"model": {"name": "synth-en-fr-1"}},
    )
    with ns.open(path) as store:
        opened = OpenStore.wrap(store)
        assert model_name_of(opened) == "synth-en-fr-1"
        assert model_name_of(opened, "synth-en-fr-2") == "synth-en-fr-2"


@pytest.mark.parametrize(
    ("case", "keys"), [("non-utf8", ["down", "down"]), ("label-codes", ["L", "L"]), ("huge", [])]
)
def test_the_app_says_what_is_wrong_with_a_bad_store(
    case: str, keys: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.testing import settle, sync

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store = lying_store(tmp_path, case)
    shown: list[str] = []

    @sync
    async def flow() -> None:
        app = NeurotuiApp([store], device="cpu")
        real_notify = app.notify
        app.notify = lambda msg, **kw: (shown.append(str(msg)), real_notify(msg, **kw))  # type: ignore[method-assign]
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            for key in keys:
                await pilot.press(key)
                await settle(pilot)
            assert app.is_running

    flow()
    assert not any("internal error" in m for m in shown), shown
    assert any(str(store) in m and LYING_STORES[case][1] in m for m in shown), shown


# -- 3. sizes that cannot fit ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("enc_hidden", 10**9, "needs more than 8 EiB"),
        ("enc_hidden", 10**5, "needs about"),
        ("dec_hidden", 12_000, "config.json"),
        ("emb", 2**31, "needs about"),
    ],
)
def test_checkpoint_configs_that_cannot_fit_are_refused_before_allocating(
    field: str,
    value: int,
    expected: str,
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import resource

    folder = copy_model(tiny_model, tmp_path, **{field: value})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    line = run_cli(["translate", str(folder), "a", "--device", "cpu"], capsys)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert str(folder) in line and "config.json" in line and expected in line, line
    assert grown_mib < 500, f"grew {grown_mib:.0f} MiB before refusing"


def test_memory_refusal_says_what_it_needs_and_what_there_is(
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("neurotui.resources.available_memory", lambda: 1024)
    line = run_cli(["translate", str(tiny_model), "a", "--device", "cpu"], capsys)
    assert "needs about" in line and "1.00 KiB is available" in line, line


def test_a_beam_that_cannot_fit_is_refused(
    tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = run_cli(
        ["translate", str(tiny_model), "a b", "--beam", "100000000000", "--device", "cpu"], capsys
    )
    assert "--beam 100000000000 needs about" in line and "is available" in line, line


HUGE_RANGE = "enc.l0.fw:0-99999999999"  # 10¹¹ neurons: 4.37 TiB once expanded


@pytest.mark.parametrize(
    ("flag", "value"), [("--ablate", HUGE_RANGE), ("--clamp", HUGE_RANGE + "=1")]
)
def test_a_neuron_range_that_cannot_fit_is_refused_before_expanding(
    flag: str, value: str, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    argv = ["translate", str(tiny_model), "a b", flag, value, "--device", "cpu", "--no-log"]
    line = run_cli(argv, capsys)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert f"{flag} '{value}' (100,000,000,000 neurons) needs about 4.37 TiB" in line, line
    assert "is available" in line, line
    assert grown_mib < 200, f"grew {grown_mib:.0f} MiB before refusing"


def test_neuron_ranges_are_sized_together_and_against_the_memory_there_is(
    tiny_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from neurotui.intervene.flags import NEURON_BYTES, parse_ablate

    assert parse_ablate("s:0-3,7,5-5").neurons == (0, 1, 2, 3, 7, 5)  # what fits still expands
    monkeypatch.setattr("neurotui.resources.available_memory", lambda: 20 * NEURON_BYTES)
    assert len(parse_ablate("s:0-9,20-29").neurons) == 20  # exactly what there is
    argv = ["translate", str(tiny_model), "a b", "--device", "cpu", "--no-log"]
    line = run_cli([*argv, "--ablate", "enc.l0.fw:0-9,20-30"], capsys)  # 21 neurons, two spans
    assert "(21 neurons) needs about 1008 B of memory, and 960 B is available" in line, line


def test_ablate_refuses_more_neurons_than_the_model_has_before_ranking(
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import neurotui.intervene.workflows as workflows

    def no_ranking(*args: object, **kwargs: object) -> None:
        raise AssertionError("the ranking was looked up before the step counts were checked")

    monkeypatch.setattr(workflows, "ablation_ranking", no_ranking)
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("a b\n")
    ref.write_text("a b\n")
    argv = ["ablate", str(tiny_model), "--src", str(src), "--ref", str(ref), "--no-log"]
    argv += ["--ranking", str(tmp_path / "r.json"), "--steps", "1,100000000000", "--device", "cpu"]
    line = run_cli(argv, capsys)
    assert "--steps: 100,000,000,000 neurons asked but model" in line, line
