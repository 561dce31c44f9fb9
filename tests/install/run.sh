#!/bin/sh
# The install test: `cmake --install` a built ae into a fresh prefix, then configure, build and run
# a separate consumer project (find_package(ae), ae::ae) against it; also check the installed
# files and that libae.so exports the public API and none of ae's internals.
# Usage: tests/install/run.sh BUILD_DIR WORK_DIR   (WORK_DIR is emptied first)
set -eu
build=$(cd "$1" && pwd)
work=$2
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "install test: FAIL: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log" >&2; fail "cmake --install $build failed"; }

# Installed layout: public headers under include/ae, each compiling on its own against the prefix
# (so none includes an internal header), the library, the package files, the command.
[ -f "$prefix/include/ae/ae.hpp" ] || fail "no $prefix/include/ae/ae.hpp"
for h in $(cd "$prefix/include" && find . -type f | sort); do
  case "$h" in ./ae/*) ;; *) fail "header installed outside include/ae: $h" ;; esac
  printf '#include <%s>\nint main(void) { return 0; }\n' "${h#./}" > "$work/header_check.cpp"
  c++ -std=c++17 -fsyntax-only -I"$prefix/include" "$work/header_check.cpp" 2> "$work/header_check.log" || {
    cat "$work/header_check.log" >&2; fail "installed header $h does not compile on its own (C++17)"; }
  case "$h" in *.h)
    cp "$work/header_check.cpp" "$work/header_check.c"
    cc -std=c11 -fsyntax-only -I"$prefix/include" "$work/header_check.c" 2> "$work/header_check.log" || {
      cat "$work/header_check.log" >&2; fail "installed C header $h does not compile as C11"; } ;;
  esac
done
libdir=$(dirname "$(find "$prefix" -name 'libae.so' | head -n 1)")
[ -n "$libdir" ] && [ -e "$libdir/libae.so" ] || fail "no libae.so under $prefix"
[ -f "$libdir/cmake/ae/aeConfig.cmake" ] || fail "no $libdir/cmake/ae/aeConfig.cmake"
[ -f "$libdir/cmake/ae/aeConfigVersion.cmake" ] || fail "no aeConfigVersion.cmake"
[ -x "$prefix/bin/ae" ] || fail "no $prefix/bin/ae"

# Exported symbols: ae::Autoencoder's members are there; internals (planner, trainer, kernels) are not.
symbols=$work/exported.txt
nm -D --defined-only "$libdir/libae.so" | c++filt > "$symbols"
for want in 'ae::Autoencoder::create(' 'ae::Autoencoder::load(' 'ae::Autoencoder::train(' 'ae::Autoencoder::encode(' \
            'ae::Autoencoder::decode(' 'ae::Autoencoder::save(' 'ae::Autoencoder::~Autoencoder()'; do
  grep -qF "$want" "$symbols" || fail "libae.so does not export $want"
done
for unwanted in 'ae::make_plan' 'ae::build_graph' 'ae::parse_spec' 'ae::Model::' 'ae::train(' 'ae::cpu::' 'ae::read_idx' \
                'ae::AtomicFile' 'ae::load_model_file' 'dnnl_' 'nlohmann::'; do
  if grep -F "$unwanted" "$symbols" | grep -q .; then
    fail "libae.so exports internal symbols: $(grep -F "$unwanted" "$symbols" | head -n 3 | tr '\n' ';')"
  fi
done
echo "libae.so exports $(grep -c ' [TWVBDR] ' "$symbols") symbols with namespace ae: $(grep -c 'ae::' "$symbols")"

# The consumer project, configured against the prefix only.
cmake -S "$here/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  > "$work/configure.log" 2>&1 || { cat "$work/configure.log" >&2; fail "configuring the consumer failed"; }
cmake --build "$work/consumer" > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "building the consumer failed"; }
grep -q "$prefix" "$work/consumer/CMakeCache.txt" || fail "the consumer did not find ae under $prefix"

"$work/consumer/app" "$work/model.safetensors" > "$work/app.out" 2> "$work/app.err" || {
  cat "$work/app.out" "$work/app.err" >&2; fail "the consumer app failed"; }
cat "$work/app.out"
grep -qx "spec 16-12t-4-12t-16s" "$work/app.out" || fail "app printed no spec line"
grep -qx "codes 1024 = 256 x 4" "$work/app.out" || fail "app's code shape is wrong"
grep -qx "reloaded identical" "$work/app.out" || fail "saved and reloaded model encodes differently"
grep -qx "ok" "$work/app.out" || fail "app did not finish"
[ ! -s "$work/app.err" ] || { cat "$work/app.err" >&2; fail "app wrote to stderr"; }

# The installed command reads what the library wrote.
"$prefix/bin/ae" info --model "$work/model.safetensors" > "$work/info.out" || fail "installed ae info failed"
grep -q "spec: 16-12t-4-12t-16s" "$work/info.out" || fail "ae info does not show the spec: $(cat "$work/info.out")"
grep -q "steps: 200" "$work/info.out" || fail "ae info does not show 200 steps"

echo "install test: ok ($prefix)"
