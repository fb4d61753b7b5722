"""Lose nothing, say why: the data-loss cases of issue 16 and the writes around them.

Each test first builds the situation that lost data (a damaged notes file, a full disk
during an append, a store behind a symlink, a private or read-only store, a killed write)
and then checks that nothing is lost and the user is told in one line.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neurotui.atomicfile as af
import neurotui.store as ns
from neurotui.cli import main
from neurotui.errors import CheckpointError, NeurotuiError, StoreError
from neurotui.intervene import log
from neurotui.store.writer import write_store
from neurotui.tui.notes import NeuronNotes, notes_path_for

TOKENS = [["the", "cat", "sleeps"], ["a", "dog", "eats", "bread"], ["she", "runs"]]
POS = ["DT NN VBZ", "DT NN VBZ NN", "PRP VBZ"]


def make_store(path: Path, *, labels: bool = False) -> Path:
    rng = np.random.default_rng(0)
    acts = [rng.standard_normal((len(t), 6)).astype(np.float32) for t in TOKENS]
    tags = {"pos": [row.split() for row in POS]} if labels else None
    return write_store(path, TOKENS, acts, [("enc", 6)], labels=tags)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "acts.h5")


@pytest.fixture
def pos_file(tmp_path: Path) -> Path:
    path = tmp_path / "text.pos"
    path.write_text("\n".join(POS) + "\n")
    return path


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single ``neurotui: error:`` line a failed command printed (and nothing else)."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("neurotui: error: "), err
    assert "Traceback" not in err
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


# -- A. notes ---------------------------------------------------------------------------
def test_damaged_notes_file_is_kept_aside_never_overwritten(tmp_path: Path, store: Path) -> None:
    path = notes_path_for(store)
    assert path is not None
    notes = NeuronNotes(path)
    for n in range(200):
        notes.set(n, f"name {n}", f"hand-written note {n}")
    damaged = path.read_bytes().replace(b'"name 7"', b'"name 7"\x01', 1)  # one stray byte
    path.write_bytes(damaged)

    from neurotui.tui.session import OpenStore

    with ns.open(store) as opened_store:
        opened = OpenStore.wrap(opened_store)
    assert opened.notes.warning and str(path) in opened.notes.warning
    assert opened.notes.items() == []
    assert path.read_bytes() == damaged  # opening changed nothing

    opened.notes.set(3, "new", "")
    aside = opened.notes.kept_aside
    assert aside is not None and aside.name.startswith(path.name + ".corrupt-")
    assert aside.read_bytes() == damaged  # all 200 notes are still there
    assert [n for n, _ in NeuronNotes(path).items()] == [3]
    assert opened.notes.warning is None
    opened.notes.set(4, "newer", "")  # later saves are ordinary saves
    assert aside.read_bytes() == damaged and len(list(tmp_path.glob("*.corrupt-*"))) == 1


def test_notes_save_on_a_full_disk_keeps_the_old_notes(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = notes_path_for(store)
    notes = NeuronNotes(path)
    notes.set(1, "kept", "")
    before = path.read_bytes()
    fake_full_disk(monkeypatch)
    with pytest.raises(StoreError, match=rf"{path}: cannot write \(No space left on device\)"):
        notes.set(2, "lost?", "")
    assert path.read_bytes() == before and leftovers(tmp_path) == []


# -- B. intervention log -----------------------------------------------------------------
def fake_full_disk(monkeypatch: pytest.MonkeyPatch, *, after: int = 0) -> None:
    """``os.write`` writes a few bytes, then fails with ENOSPC (a disk filling up)."""
    real = os.write
    budget = [after]

    def write(fd: int, data: bytes) -> int:
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real(fd, bytes(data)[: budget[0]])
        budget[0] -= n
        return n

    monkeypatch.setattr(os, "write", write)


def test_log_append_on_a_full_disk_is_all_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.jsonl"
    log.append({"kind": "translate", "k": 0}, path)
    before = path.read_bytes()
    with monkeypatch.context() as m:
        fake_full_disk(m, after=25)  # a partial line reaches the disk, then it is full
        with pytest.raises(NeurotuiError, match=rf"{path}: cannot append .*No space left"):
            log.append({"kind": "translate", "k": 1, "text": "x" * 200}, path)
    assert path.read_bytes() == before
    for k in (2, 3):
        log.append({"kind": "translate", "k": k}, path)
    warnings: list[str] = []
    assert [r["k"] for r in log.read(path, warnings)] == [0, 2, 3] and warnings == []


def test_replay_reports_and_skips_a_damaged_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.jsonl"
    log.append({"kind": "translate", "model": "m", "k": 0}, path)
    with open(path, "ab") as fh:
        fh.write(b'{"kind": "translate", "mod')  # the old append's partial line
    log.append({"kind": "translate", "model": "m", "k": 2}, path)
    with open(path, "ab") as fh:
        fh.write(b'{"kind": "transl')  # a torn last line
    assert main(["replay", str(path), "--list"]) == 0
    out, err = capsys.readouterr()
    assert "line    1" in out and "line    3" in out
    assert f"{path}:2: damaged line skipped" in err
    assert f"{path}:4: damaged line skipped: last line cut short" in err


# -- C. symlinks -------------------------------------------------------------------------
def test_label_through_a_symlink_updates_the_real_store(
    tmp_path: Path, store: Path, pos_file: Path
) -> None:
    link = tmp_path / "link.h5"
    link.symlink_to(store.name)
    assert main(["label", str(link), "--task", "pos", str(pos_file)]) == 0
    assert link.is_symlink() and os.readlink(link) == store.name
    with ns.open(store) as s:
        assert "pos" in s.label_tasks
    assert leftovers(tmp_path) == []


def test_every_atomic_writer_follows_symlinks(tmp_path: Path) -> None:
    from neurotui.intervene.spec import save_spec
    from neurotui.models.checkpoint import atomic_write_bytes
    from neurotui.tui.notes import write_json_atomic

    for k, write in enumerate(
        (
            lambda p: atomic_write_bytes(p, b"weights"),
            lambda p: save_spec(str(p), []),
            lambda p: write_json_atomic(p, {"neurons": {}}),
            lambda p: af.write_text(p, "text"),
        )
    ):
        real, link = tmp_path / f"real{k}", tmp_path / f"link{k}"
        real.write_text("old")
        link.symlink_to(real)
        write(link)
        assert link.is_symlink() and real.read_text() != "old"


# -- D. permissions ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", [0o640, 0o600, 0o664])
def test_a_rewrite_keeps_the_mode(tmp_path: Path, store: Path, pos_file: Path, mode: int) -> None:
    store.chmod(mode)
    assert main(["label", str(store), "--task", "pos", str(pos_file)]) == 0
    assert stat.S_IMODE(store.stat().st_mode) == mode
    notes = tmp_path / "n.json"
    notes.write_text("{}")
    notes.chmod(mode)
    from neurotui.tui.notes import write_json_atomic

    write_json_atomic(notes, {"neurons": {}})
    assert stat.S_IMODE(notes.stat().st_mode) == mode


def test_a_read_only_store_is_refused_in_one_line(
    tmp_path: Path, store: Path, pos_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.chmod(0o444)
    before = store.read_bytes()
    assert main(["label", str(store), "--task", "pos", str(pos_file)]) == 2
    line = one_error_line(capsys)
    assert str(store) in line and "read-only" in line
    assert store.read_bytes() == before and stat.S_IMODE(store.stat().st_mode) == 0o444
    assert leftovers(tmp_path) == []
    ckpt = tmp_path / "config.json"
    ckpt.write_text("{}")
    ckpt.chmod(0o444)
    from neurotui.models.checkpoint import write_json

    with pytest.raises(CheckpointError, match="read-only"):
        write_json(ckpt, {"a": 1})


# -- 8. leftovers and signals ------------------------------------------------------------
def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_temporary_never_opens_as_a_store(tmp_path: Path, store: Path) -> None:
    stale = af.temp_sibling(store)
    legacy = tmp_path / "acts.h5.tmp-0badc0de"
    for leftover in (stale, legacy):
        shutil.copyfile(store, leftover)  # a complete, valid HDF5 store under a temp name
        with pytest.raises(StoreError, match="temporary file"):
            ns.open(leftover)


def test_the_next_write_removes_stale_temporaries(
    tmp_path: Path, store: Path, pos_file: Path
) -> None:
    pid = dead_pid()
    stale = tmp_path / f"acts.h5.tmp-{pid}-{af._host_tag()}0123abcd"
    alive = tmp_path / f"acts.h5.tmp-{os.getppid()}-{af._host_tag()}0123abcd"
    other = tmp_path / f"other.h5.tmp-{pid}-{af._host_tag()}0123abcd"
    for path in (stale, alive, other):
        shutil.copyfile(store, path)
    assert main(["label", str(store), "--task", "pos", str(pos_file)]) == 0
    assert not stale.exists()  # its writer is dead: removed
    assert alive.exists() and other.exists()  # a live writer's, another target's: kept


def test_sigterm_cleans_up_like_ctrl_c(
    tmp_path: Path,
    store: Path,
    pos_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import neurotui.store.edit as edit

    real = edit.annotate_file

    def killed(tmp: Path, **kwargs: object) -> None:
        real(tmp, **kwargs)
        assert leftovers(tmp_path)  # the temporary exists now
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(edit, "annotate_file", killed)
    before = store.read_bytes()
    previous = signal.getsignal(signal.SIGTERM)
    assert main(["label", str(store), "--task", "pos", str(pos_file)]) == 128 + signal.SIGTERM
    assert "terminated" in capsys.readouterr().err
    assert leftovers(tmp_path) == [] and store.read_bytes() == before
    assert signal.getsignal(signal.SIGTERM) == previous  # restored for the caller


# -- 9. disk full ------------------------------------------------------------------------
def test_label_on_a_full_disk_is_one_line_and_loses_nothing(
    tmp_path: Path,
    store: Path,
    pos_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def copy_half(src: str | Path, dst: str | Path) -> None:
        Path(dst).write_bytes(Path(src).read_bytes()[:1000])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(shutil, "copyfile", copy_half)
    before = store.read_bytes()
    assert main(["label", str(store), "--task", "pos", str(pos_file)]) == 2
    line = one_error_line(capsys)
    assert str(store) in line and "No space left on device" in line and "unchanged" in line
    assert store.read_bytes() == before and leftovers(tmp_path) == []


def test_convert_to_neurox_on_a_full_disk(
    tmp_path: Path,
    store: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import h5py

    real = h5py.Group.create_dataset
    calls = [0]

    def create_dataset(self, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(errno.ENOSPC, "Can't write data (file write failed)")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)
    out = tmp_path / "out.hdf5"
    assert main(["convert", str(store), str(out), "--to", "neurox-hdf5"]) == 2
    line = one_error_line(capsys)
    assert str(out) in line and "No space left on device" in line
    assert not out.exists() and leftovers(tmp_path) == []


def test_h5py_close_time_failures_are_raised_not_printed(tmp_path: Path) -> None:
    """HDF5 reports a full disk while closing objects, in ``__dealloc__``: caught, not lost."""
    from neurotui.store.atomic import atomic_path

    class Closing:
        def __del__(self) -> None:
            raise RuntimeError("Can't decrement id ref count (file write failed: errno = 28)")

    target = tmp_path / "out.h5"
    with pytest.raises(StoreError, match="No space left on device"), atomic_path(target) as tmp:
        tmp.write_bytes(b"data")
        obj = Closing()
        del obj  # the error is "ignored" by Python: the block must still fail
    assert not target.exists() and leftovers(tmp_path) == []


def test_rank_name_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = make_store(tmp_path / "acts.h5", labels=True)

    def copy_none(src: str | Path, dst: str | Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(shutil, "copyfile", copy_none)
    before = store.read_bytes()
    argv = ["rank", str(store), "--method", "probeless", "--task", "pos", "--name", "r"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("neurotui: error:") == 1 and "Traceback" not in err
    assert f"{store}: cannot write (No space left on device)" in err
    assert store.read_bytes() == before and leftovers(tmp_path) == []


def test_spec_and_checkpoint_writes_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neurotui.intervene.spec import SpecError, save_spec
    from neurotui.models.checkpoint import atomic_write_bytes

    spec, weights = tmp_path / "spec.json", tmp_path / "model.safetensors"
    spec.write_text(json.dumps({"interventions": []}))
    weights.write_bytes(b"old weights")
    fake_full_disk(monkeypatch, after=3)
    with pytest.raises(SpecError, match=rf"{spec}: cannot write .*unchanged"):
        save_spec(str(spec), [])
    with pytest.raises(CheckpointError, match=rf"{weights}: cannot write"):
        atomic_write_bytes(weights, b"new weights" * 100)
    assert weights.read_bytes() == b"old weights" and leftovers(tmp_path) == []


def on_tmpfs(size: str) -> Path | None:
    """A fresh small tmpfs (root only), or ``None`` where mounting is not allowed."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return None
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="neurotui-tmpfs-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
    )
    if done.returncode != 0:
        folder.rmdir()
        return None
    return folder


def test_real_full_disk_on_a_small_tmpfs(tmp_path: Path) -> None:
    """The real thing where it can be had: a full tmpfs, in a child process (its stderr is
    the user's), for label, convert to NeuroX and rank --name."""
    disk = on_tmpfs("1m")
    if disk is None:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        rng = np.random.default_rng(0)
        toks = [[f"w{j}" for j in range(20)] for _ in range(150)]
        acts = [rng.standard_normal((20, 64)).astype(np.float32) for _ in toks]
        labels = {"pos": [["XY"[j % 2] for j in range(20)] for _ in toks]}
        store = write_store(disk / "s.h5", toks, acts, [("enc", 64)], labels=labels)
        before = store.read_bytes()
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (shutil.disk_usage(disk).free - 200_000))
        (tmp_path / "lab").write_text("\n".join(" ".join(r) for r in labels["pos"]) + "\n")
        runs = (
            ["label", str(store), "--task", "t2", str(tmp_path / "lab")],
            ["convert", str(store), str(disk / "o.hdf5"), "--to", "neurox-hdf5"],
            ["rank", str(store), "--method", "probeless", "--task", "pos", "--name", "r"],
        )
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        for argv in runs:
            done = subprocess.run(
                [sys.executable, "-m", "neurotui", *argv], capture_output=True, text=True, env=env
            )
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
            assert done.returncode == 2 and len(lines) == 1, (argv, done.stderr[-2000:])
            assert lines[0].startswith("neurotui: error: ") and "No space left" in lines[0]
            assert store.read_bytes() == before
            assert sorted(p.name for p in disk.iterdir()) == ["filler", "s.h5"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)
        disk.rmdir()


# -- 6. text-file details ----------------------------------------------------------------
def test_a_byte_order_mark_is_not_part_of_the_first_label(tmp_path: Path, store: Path) -> None:
    from neurotui.analysis.data import read_label_file
    from neurotui.store.labels import read_conll, read_parallel_labels
    from neurotui.textfiles import read_lines

    bom = "\ufeff"
    parallel = tmp_path / "bom.pos"
    parallel.write_text(bom + "\r\n".join(POS) + "\r\n", encoding="utf-8")
    rows = read_parallel_labels(parallel, [len(t) for t in TOKENS])
    assert rows[0] == ["DT", "NN", "VBZ"]
    assert read_label_file(parallel, np.array([len(t) for t in TOKENS]))[0][0] == "DT"
    assert read_lines(parallel)[0] == "DT NN VBZ"
    conll = tmp_path / "bom.conll"
    conll.write_text(bom + "1\tthe\tDT\n2\tcat\tNN\n", encoding="utf-8")
    assert read_conll(conll, 3).tokens == [["the", "cat"]]
    assert main(["label", str(store), "--task", "pos", str(parallel)]) == 0
    with ns.open(store) as s:
        assert s.labels("pos")[0] == ["DT", "NN", "VBZ"]


def test_a_huge_one_line_label_file_is_refused_in_bounded_memory(
    tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import resource

    huge = tmp_path / "huge.pos"
    with open(huge, "wb") as fh:
        chunk = b"X " * (1 << 19)  # 1 MiB
        for _ in range(100):
            fh.write(chunk)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(["label", str(store), "--task", "pos", str(huge)]) == 2
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    line = one_error_line(capsys)
    assert f"{huge}:1: line longer than 1 MiB" in line
    assert grown_mib < 50, f"peak memory grew by {grown_mib:.0f} MiB"
