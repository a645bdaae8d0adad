# Sourced by scripts/demo and scripts/test: make .venv with parnrn[mpi,test] installed.
# Re-installs only when pyproject.toml changed. PARNRN_PYTHON picks the interpreter.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
    "${PARNRN_PYTHON:-python3}" -m venv "$venv"
fi
stamp="$venv/.parnrn-installed"
if [ ! -f "$stamp" ] || ! cmp -s "$root/pyproject.toml" "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[mpi,test]"
    cp "$root/pyproject.toml" "$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
