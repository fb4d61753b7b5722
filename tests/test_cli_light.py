"""The CLI's help must stay fast: it may import neither torch nor textual."""

from __future__ import annotations

import subprocess
import sys


def test_help_imports_neither_torch_nor_textual() -> None:
    code = (
        "import sys\n"
        "from neurotui.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'textual', 'h5py', 'transformers', 'sklearn') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: neurotui" in out.stdout
    assert "HEAVY=\n" in out.stdout, out.stdout


def test_version_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "neurotui", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.startswith("neurotui ")
