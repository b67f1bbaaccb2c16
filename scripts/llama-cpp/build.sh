#!/usr/bin/env bash
# Build the llama.cpp reference tools (CPU only) from the llama-cpp-python sdist,
# which vendors llama.cpp in vendor/llama.cpp. Idempotent: re-running reuses the
# downloaded sdist, the extracted tree and the cmake build dir.
#
# Env: LLAMA_CPP_PY_VERSION (default 0.3.36), THIRD_PARTY (default <repo>/third_party),
#      JOBS (default 2).
set -euo pipefail

VERSION="${LLAMA_CPP_PY_VERSION:-0.3.36}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
THIRD_PARTY="${THIRD_PARTY:-$REPO/third_party}"
JOBS="${JOBS:-2}"
DL="$THIRD_PARTY/dl"
SRC_ROOT="$THIRD_PARTY/llama_cpp_python-$VERSION"
SRC="$SRC_ROOT/vendor/llama.cpp"
BUILD="$THIRD_PARTY/llama.cpp-build"
TARGETS=(llama-server llama-bench llama-tokenize llama-quantize)

# sha256 of the pinned default sdist; set SDIST_SHA256= to skip the check.
if [[ "$VERSION" == 0.3.36 ]]; then
    : "${SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e}"
fi

mkdir -p "$DL"
SDIST="$DL/llama_cpp_python-$VERSION.tar.gz"
if [[ ! -f "$SDIST" ]]; then
    # `pip download --no-binary :all:` tries to build cmake from source and hangs;
    # install the build backend from wheels and skip build isolation instead.
    python3 -m pip install --quiet scikit-build-core cmake ninja
    python3 -m pip download --no-deps --no-build-isolation \
        --no-binary llama-cpp-python -d "$DL" "llama-cpp-python==$VERSION"
fi
if [[ -n "${SDIST_SHA256:-}" ]]; then
    echo "$SDIST_SHA256  $SDIST" | sha256sum --check --quiet
fi
if [[ ! -d "$SRC" ]]; then
    tar -xzf "$SDIST" -C "$THIRD_PARTY"
fi

# The sdist has no .git, and llama.cpp's build-info.cmake would otherwise walk up
# into *this* repo's git and report our commit. Take the vendored llama.cpp commit
# from the sdist's CHANGELOG ("update llama.cpp to ggml-org/llama.cpp@<hash>").
COMMIT="$(awk -v v="## [$VERSION]" '$0==v{f=1;next} f&&/^## \[/{exit}
    f&&match($0,/llama\.cpp@[0-9a-f]+/){print substr($0,RSTART+10,RLENGTH-10);exit}' \
    "$SRC_ROOT/CHANGELOG.md")"
COMMIT="${COMMIT:-unknown}"
export GIT_CEILING_DIRECTORIES="$THIRD_PARTY"

command -v cmake >/dev/null && command -v ninja >/dev/null || python3 -m pip install --quiet cmake ninja

# LLAMA_CURL is gone in this llama.cpp (deprecated no-op); HTTPS comes from OpenSSL,
# which we turn off. The server web UI would be downloaded from Hugging Face: off.
cmake -S "$SRC" -B "$BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=ON \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_COMMIT="$COMMIT" \
    >"$BUILD.cmake.log" 2>&1 || { cat "$BUILD.cmake.log"; exit 1; }
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"

BIN="$BUILD/bin"
# Our own small greedy/logprob dumper, linked against the static libs just built.
GREEDY="$(dirname "${BASH_SOURCE[0]}")/greedy_ref.cpp"
if [[ ! "$BIN/llama-greedy-ref" -nt "$GREEDY" || "$BUILD/src/libllama.a" -nt "$BIN/llama-greedy-ref" ]]; then
    "${CXX:-g++}" -O2 -std=c++17 -I"$SRC/include" -I"$SRC/ggml/include" "$GREEDY" \
        "$BUILD/src/libllama.a" "$BUILD/ggml/src/libggml.a" "$BUILD/ggml/src/libggml-cpu.a" \
        "$BUILD/ggml/src/libggml-base.a" -fopenmp -lpthread -ldl -o "$BIN/llama-greedy-ref"
fi
# Prints e.g. "version: 0.5.0-dev (build 1, commit 0c1e57098)" and "built with GNU 12.2.0 ...".
BUILD_INFO="$("$BIN/llama-server" --version 2>&1 | tr '\n' ' ' | sed 's/ *$//')"
VERSION_STR="llama-cpp-python $VERSION sdist, vendored llama.cpp $BUILD_INFO"
echo "$VERSION_STR" >"$BUILD/VERSION"

echo "llama.cpp version: $VERSION_STR"
for t in "${TARGETS[@]}" llama-greedy-ref; do echo "$BIN/$t"; done
