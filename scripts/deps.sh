#!/usr/bin/env bash
# deps.sh - install what deepsigns needs from Debian, if it is missing.
#   deps.sh          install the build, run and test dependencies
#   deps.sh --check  only report what is missing (exit 1 if anything is)
#   deps.sh --bench  what `make bench` needs besides: python3-torch (the reference) and
#                    the backends bench_gemm measures (oneDNN, libxsmm, BLIS)
set -euo pipefail

pkgs=(build-essential pkg-config libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev libhdf5-dev
      hdf5-tools libgsl-dev zlib1g-dev libfyaml-dev libsodium-dev dataset-fashion-mnist
      python3 python3-h5py python3-numpy python3-matplotlib python3-scipy
      protobuf-c-compiler libprotobuf-c-dev libonnx-dev  # the ONNX reader: protoc-c, its runtime, onnx.proto
      python3-onnx python3-torch  # test_onnx: models made and exported by PyTorch
      clang libclang-rt-dev   # clang and its libFuzzer/sanitizer runtimes: make fuzz, test_fuzz
      valgrind)               # make valgrind
case "${1:-}" in
  --bench) pkgs=(python3-torch libdnnl-dev libxsmm-dev libblis-dev) ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done

if [ "${1:-}" = --check ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "deepsigns: missing Debian packages: ${missing[*]} (run: make deps)" >&2
    exit 1
  fi
  exit 0
fi

[ ${#missing[@]} -eq 0 ] && exit 0
echo "deepsigns: installing ${missing[*]}"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
