#!/usr/bin/env bash
# Runs the test suite against other dependency versions than the lock's.
#
# Why: a fresh install gets exactly constraints/lock.txt (scripts/setup.sh), which CI tests.
# The ranges in pyproject.toml promise more than that: their lower bounds and their newest
# allowed releases work too. This script proves both, and shows what the next upstream
# release breaks before a user meets it.
#
#   bash scripts/test-versions.sh oldest [PYTEST ARGS]   # every lower bound (constraints/oldest.txt); CI runs it
#   bash scripts/test-versions.sh newest [PYTEST ARGS]   # the newest releases the ranges allow
#   bash scripts/test-versions.sh next   [PYTEST ARGS]   # the newest releases, upper bounds lifted
#   bash scripts/test-versions.sh relock                 # newest allowed → constraints/lock.txt (run newest first)
#
# Each mode works in its own venv (.venv-MODE) layered over .venv (run scripts/setup.sh
# --dev first): it reuses .venv's torch (never the multi-GB CUDA stack on a CPU box) and
# shadows only the packages it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: test-versions.sh oldest|newest|next|relock [pytest args]}
shift || true
[ -x .venv/bin/python ] || { echo "test-versions: run 'bash scripts/setup.sh --dev' first" >&2; exit 2; }
base_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
torch_pin=$(.venv/bin/python -c 'import torch; print("torch==" + torch.__version__)')

layered_venv() {  # $1: folder; a venv that sees .venv's packages after its own
    rm -rf "$1"
    "${PYTHON:-python3}" -m venv "$1"
    local site
    site=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "import site; site.addsitedir('$base_site')" >"$site/_neurotui_base.pth"
}
pip_in() { local venv=$1; shift; "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"; }
requirements() {  # the direct requirements of neurotui[dev]; --uncapped drops upper bounds
    .venv/bin/python - "$@" <<'PY'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
for req in project["dependencies"] + extras["hf"] + extras["scale"] + extras["dev"]:
    if req.startswith("neurotui"):
        continue
    if "--uncapped" in sys.argv:
        req = re.sub(r",?<[^,]*", "", req)
    print(req)
PY
}
run_suite() {  # $1: venv; the rest: pytest arguments
    local v=$1; shift
    echo "test-versions: $mode: $("$v/bin/python" -c 'import transformers, numpy, torch; print("transformers", transformers.__version__, "numpy", numpy.__version__, "torch", torch.__version__)')" >&2
    "$v/bin/python" -m pytest -q -p no:cacheprovider "$@"
}

venv=".venv-$mode"
pins=$(mktemp); trap 'rm -f "$pins"' EXIT
echo "$torch_pin" >"$pins"  # the reused torch stays: pip must not fetch another build
case "$mode" in
oldest)
    layered_venv "$venv"
    pip_in "$venv" -c constraints/oldest.txt -c "$pins" $(requirements)
    run_suite "$venv" "$@" ;;
newest | next)
    layered_venv "$venv"
    flag=""; [ "$mode" = next ] && flag=--uncapped
    pip_in "$venv" --upgrade --upgrade-strategy eager -c "$pins" $(requirements $flag)
    run_suite "$venv" "$@" ;;
relock)
    [ -x .venv-newest/bin/python ] || { echo "test-versions: run 'newest' first" >&2; exit 2; }
    {
        echo "# The exact versions a fresh install gets (scripts/setup.sh installs with -c this file)."
        echo "# Written by 'bash scripts/test-versions.sh relock' from a green 'newest' run; torch is"
        echo "# left to scripts/setup.sh (the CPU build on CPU machines, the user's own on CUDA boxes)."
        .venv-newest/bin/python -m pip freeze --disable-pip-version-check --exclude-editable \
            | grep -viE '^(torch|neurotui|nvidia-|triton)[=@ ]' | grep -v '^-e' | sort -f
    } >constraints/lock.txt.new
    mv constraints/lock.txt.new constraints/lock.txt
    echo "test-versions: wrote constraints/lock.txt" >&2 ;;
*) echo "test-versions: unknown mode '$mode' (oldest, newest, next, relock)" >&2; exit 2 ;;
esac
