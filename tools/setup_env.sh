#!/usr/bin/env bash
# Creates .venv and installs the OpenMMLab 2.0 stack + mogavision on today's PyTorch.
# Idempotent: a second run checks each step and skips what is already in place.
# The slow source builds (mmcv with ops, xtcocotools) are cached as wheels outside the
# repository, keyed by torch version and CUDA flavour, in ${MOGAVISION_WHEEL_CACHE}.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

PYTHON="${PYTHON:-python3.11}"
VENV="${VENV:-$REPO_ROOT/.venv}"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMENGINE_VERSION=0.10.7
MMCV_VERSION=2.1.0
MMDET_VERSION=3.3.0
MMSEG_VERSION=1.2.2
MMPOSE_VERSION=1.3.2
MMPRETRAIN_VERSION=1.2.0
XTCOCOTOOLS_VERSION=1.14.3
# OpenCV 4.x, not 5: OpenCV 5's cv2.warpAffine gives other pixels for the same matrix, which moves
# top-down pose inputs (docs/getting_started.md, support matrix). Also pinned in requirements/runtime.txt.
OPENCV_VERSION=4.14.0.94
MAX_JOBS="${MAX_JOBS:-$(nproc)}"

STEP="start"
step() { STEP="$1"; printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$1"; }
on_error() {
  local rc=$?
  printf '\n!! setup failed during step: %s (exit %s)\n' "$STEP" "$rc" >&2
  printf '!! %s\n' "${FIX_HINT:-Read the output above; re-running tools/setup_env.sh resumes where it stopped.}" >&2
  exit "$rc"
}
trap on_error ERR

step "virtual environment ($VENV)"
FIX_HINT="Needs $PYTHON with the venv module (Debian: apt-get install python3-venv). Set PYTHON=... to use another interpreter."
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  echo "created $VENV"
else
  echo "exists: $("$VENV/bin/python" --version)"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
# torch 2.14 needs setuptools>=77; setuptools 82 removed pkg_resources, which mmcv's build and
# mmengine's cross-package `_base_` inheritance import. Every install step carries this pin.
SETUPTOOLS_PIN='setuptools>=77,<82'
# pip warns about every missing local index directory; keep the log readable.
pip_install() { "${PIP[@]}" install "$@" "$SETUPTOOLS_PIN" 2>&1 | { grep -v "^WARNING: Location 'file://" || true; }; return "${PIPESTATUS[0]}"; }

# is_installed NAME VERSION: true when the venv has exactly that distribution version.
is_installed() {
  "$PY" - "$1" "$2" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
except PackageNotFoundError:
    sys.exit(1)
PYEOF
}

step "build tools (setuptools<82 keeps pkg_resources for mmcv and mmengine, wheel, cython)"
FIX_HINT="pip could not reach the package index; check network/proxy settings."
if ! "$PY" -c "import pkg_resources, wheel, Cython, ninja, numpy" 2>/dev/null; then
  pip_install -q wheel 'cython<3.2' ninja 'numpy>=1.26,<3'
else
  echo "present"
fi

step "torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION"
FIX_HINT="torch $TORCH_VERSION must be resolvable by pip (PyPI or a local wheel directory)."
if is_installed torch "$TORCH_VERSION" && is_installed torchvision "$TORCHVISION_VERSION"; then
  echo "present"
else
  echo "installing (a CUDA build of several GB; it also runs on CPU-only machines)"
  pip_install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

step "mmengine $MMENGINE_VERSION"
is_installed mmengine "$MMENGINE_VERSION" && echo present || pip_install -q "mmengine==$MMENGINE_VERSION"

CUDA_TAG="$("$PY" - <<'PYEOF'
import os, shutil, torch
with_cuda = (torch.cuda.is_available() or os.environ.get('FORCE_CUDA') == '1') and shutil.which('nvcc')
print(f"cu{torch.version.cuda.replace('.', '')}" if with_cuda and torch.version.cuda else 'cpu')
PYEOF
)"
WHEEL_CACHE="${MOGAVISION_WHEEL_CACHE:-$HOME/.cache/mogavision/wheels}/torch-$TORCH_VERSION-$CUDA_TAG-py$("$PY" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
mkdir -p "$WHEEL_CACHE"

step "mmcv $MMCV_VERSION with compiled ops ($CUDA_TAG; wheel cache $WHEEL_CACHE)"
FIX_HINT="The mmcv source build failed. It needs gcc/g++ with C++20 and the Python headers; delete $WHEEL_CACHE/mmcv-* and re-run to rebuild."
if is_installed mmcv "$MMCV_VERSION" && "$PY" -c "import mmcv.ops" 2>/dev/null; then
  echo "present"
else
  if ! ls "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    BUILD_DIR="$(mktemp -d)"
    echo "no cached wheel: building mmcv from its sdist in $BUILD_DIR (~25 min on 2 cores)"
    "${PIP[@]}" download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
    tar -xzf "$BUILD_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD_DIR"
    SRC="$BUILD_DIR/mmcv-$MMCV_VERSION"
    # ATen of torch >= 2.6 requires C++20; mmcv 2.1.0 hard-codes c++14/c++17.
    sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    export MMCV_WITH_OPS=1 MAX_JOBS
    [ "$CUDA_TAG" != cpu ] && export FORCE_CUDA=1
    echo "compiling with MAX_JOBS=$MAX_JOBS; progress [done/total] below"
    ( cd "$SRC" && "${PIP[@]}" wheel --no-build-isolation --no-deps -v . -w "$BUILD_DIR/dist" ) 2>&1 \
      | tee "$BUILD_DIR/build.log" \
      | awk '/\[[0-9]+\/[0-9]+\]/ { match($0, /\[[0-9]+\/[0-9]+\]/); print "  mmcv build " substr($0, RSTART, RLENGTH); fflush() }
                                     /error:/ { print; fflush() }'
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "see $BUILD_DIR/build.log" >&2; false; }
    cp "$BUILD_DIR"/dist/mmcv-*.whl "$WHEEL_CACHE/"
    rm -rf "$BUILD_DIR"
  else
    echo "using cached wheel"
  fi
  pip_install -q --no-deps "$WHEEL_CACHE"/mmcv-"$MMCV_VERSION"-*.whl
  pip_install -q addict packaging pillow pyyaml yapf "opencv-python==$OPENCV_VERSION"
fi

step "xtcocotools $XTCOCOTOOLS_VERSION built against the installed numpy"
FIX_HINT="The xtcocotools source build failed; it needs gcc, cython and numpy. Delete $WHEEL_CACHE/xtcocotools-* and re-run."
NUMPY_MAJOR="$("$PY" -c 'import numpy; print(numpy.__version__.split(".")[0])')"
XTC_CACHE="$WHEEL_CACHE/numpy$NUMPY_MAJOR"
mkdir -p "$XTC_CACHE"
if is_installed xtcocotools "$XTCOCOTOOLS_VERSION" && "$PY" -c "import xtcocotools.coco" 2>/dev/null; then
  echo "present"
else
  if ! ls "$XTC_CACHE"/xtcocotools-*.whl >/dev/null 2>&1; then
    "${PIP[@]}" wheel -q --no-binary xtcocotools --no-build-isolation --no-deps "xtcocotools==$XTCOCOTOOLS_VERSION" -w "$XTC_CACHE"
  fi
  pip_install -q --no-deps --force-reinstall "$XTC_CACHE"/xtcocotools-*.whl
fi

step "mmdet $MMDET_VERSION, mmsegmentation $MMSEG_VERSION, mmpretrain $MMPRETRAIN_VERSION, mmpose $MMPOSE_VERSION"
FIX_HINT="pip could not install the toolboxes; see the pip error above."
if is_installed mmdet "$MMDET_VERSION" && is_installed mmsegmentation "$MMSEG_VERSION" \
   && is_installed mmpretrain "$MMPRETRAIN_VERSION" && is_installed mmpose "$MMPOSE_VERSION"; then
  echo "present"
else
  pip_install -q "mmdet==$MMDET_VERSION" "mmsegmentation==$MMSEG_VERSION" "mmpretrain==$MMPRETRAIN_VERSION" \
    "mmcv==$MMCV_VERSION" "mmengine==$MMENGINE_VERSION" "torch==$TORCH_VERSION"
  # mmpose lists chumpy (SMPL only) whose setup.py no longer builds: install without deps.
  # pip's resolver then reports "mmpose 1.3.2 requires chumpy, which is not installed": expected.
  pip_install -q --no-deps "mmpose==$MMPOSE_VERSION"
fi

step "mogavision (editable) with runtime, test and optional requirements"
FIX_HINT="pip could not install mogavision's requirements; see the pip error above."
pip_install -q -r requirements/runtime.txt -r requirements/tests.txt -r requirements/optional.txt
# Checked from / so that the repository's own folder does not shadow the install.
if (cd / && MOGAVISION_SKIP_ENV_CHECK=1 "$PY" -c "import mogavision, os, sys; sys.exit(0 if os.path.dirname(mogavision.__file__).startswith('$REPO_ROOT') else 1)") 2>/dev/null; then
  echo "mogavision already installed in editable mode"
else
  pip_install -q --no-deps --no-build-isolation -e .
fi

step "check: versions, compiled ops, toolbox imports"
FIX_HINT="An installed package does not import; the message above names it."
"$PY" -c "import mogavision; mogavision.check_environment(verbose=True)"
printf '\nsetup done. Activate with: source %s/bin/activate\n' "$VENV"
