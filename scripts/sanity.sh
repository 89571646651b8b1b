#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of the collection laid out as
# ansible_collections/regops/registry, offline.
# ansible-test downloads a pip bootstrap script from a host this machine cannot
# reach; it looks first in ~/.ansible/test/cache/get_pip_<version>.py, so a
# stand-in there installs pip from the Python's own ensurepip instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
python=${PYTHON:-$root/.venv/bin/python}
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
pip_version=$("$python" - <<'PY'
from types import SimpleNamespace
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(SimpleNamespace(version='3'))['pip'])
PY
)
standin=$cache/get_pip_${pip_version//./_}.py
cat > "$standin" <<'PY'
# Offline stand-in for get-pip.py (written by scripts/sanity.sh): pip from ensurepip, then what was asked.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
if args:
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
PY

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/regops/registry
mkdir -p "$dest"
# Only what git would ship (tracked, or new and not ignored).
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
done | (cd "$root" && xargs -0 cp --parents -t "$dest")
cd "$dest"
git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm sanity
"$(dirname "$python")/ansible-test" sanity --local --python "$pyver" --color no "$@"
