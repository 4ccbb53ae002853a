#!/usr/bin/env bash
# Sets up (or updates) the project's virtual environment. Idempotent: `make` calls it only when
# pyproject.toml, the ament package's setup.py or docker/apt-packages.txt changed since the last run.
#   1. Debian packages from docker/apt-packages.txt: installed when running as root, else one line says what to run.
#   2. .venv with the core + extras (cpu, sim, train, dev) and the ament package (editable).
#   3. ROS 2 Jazzy wheels only when `import rclpy` fails, so a sourced system ROS 2 is used as is.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$here/.venv}"
extras="${RSTACK_EXTRAS:-cpu,sim,train,dev}"
cd "$here"

missing=()
while read -r pkg; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < docker/apt-packages.txt
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
    fi
fi

py="${PYTHON:-python3}"
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "setup: Python >= 3.10 is needed ($py is $("$py" -V 2>&1))" >&2; exit 1; }
[[ -x "$venv/bin/python" ]] || { echo "setup: creating $venv"; "$py" -m venv "$venv"; }
pip() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v -e "is ignored: it is neither a file nor a directory" >&2); }

echo "setup: installing the stack into $venv (extras: $extras)"
pip install -e ".[${extras}]" -e ros2_ws/src/rstack
if "$venv/bin/python" -c 'import rclpy' 2>/dev/null; then
    echo "setup: using rclpy from $("$venv/bin/python" -c 'import rclpy, os; print(os.path.dirname(rclpy.__file__))')"
else
    echo "setup: no rclpy found; installing the ROS 2 Jazzy wheels"
    pip install -e ".[ros]"
fi
"$venv/bin/python" -c 'import rclpy, franky, onnxruntime' || { echo "setup: the environment is incomplete (see above)" >&2; exit 1; }
echo "setup: done"
