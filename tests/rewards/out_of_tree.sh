#!/usr/bin/env bash
# Out-of-tree plugins: install this build into a temporary prefix; build the example reward
# (rewards/examples/contrast) on its own as its header says, and again from a C++ project, both
# with find_package(xomni COMPONENTS abi), which must look up neither MPI nor OpenMP; build a
# C++ component plugin with the full find_package(xomni) as docs/PLUGINS.md shows; and run the
# installed xomni on them: reward scores from a job file by path and by name (XOMNI_PLUGIN_PATH)
# checked against the example's closed form, `xomni plugins`, which must search only the
# installed tree and never this build tree, and the "not found" hint.
# usage: out_of_tree.sh <cmake> <xomni build dir> <xomni source dir>
set -euo pipefail
cmake_bin=$1 build=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$cmake_bin" --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
configure() {  # configure <log name> <cmake args...>
  "$cmake_bin" "${@:2}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    > "$tmp/$1.log" 2>&1 || { echo "FAIL: configuring $1"; cat "$tmp/$1.log"; exit 1; }
}
build() {  # build <log name> <build dir>
  "$cmake_bin" --build "$2" > "$tmp/$1.log" 2>&1 || { echo "FAIL: building $1"; cat "$tmp/$1.log"; exit 1; }
}
no_mpi_or_openmp() {  # no_mpi_or_openmp <build dir>: the ABI alone looks nothing else up
  ! grep -qE '^(MPI|OpenMP)_' "$1/CMakeCache.txt" ||
    { echo "FAIL: find_package(xomni COMPONENTS abi) looked up MPI or OpenMP in $1"; exit 1; }
}
# The example on its own, exactly as its CMakeLists.txt says.
configure contrast -S "$src/rewards/examples/contrast" -B "$tmp/build/contrast"
build contrast_build "$tmp/build/contrast"
no_mpi_or_openmp "$tmp/build/contrast"
# The example from a C++ project: still only the ABI.
configure cxx_reward -S "$src/tests/rewards/out_of_tree" -B "$tmp/build_cxx" \
  -DXOMNI_EXAMPLE_DIR="$src/rewards/examples/contrast"
build cxx_reward_build "$tmp/build_cxx"
no_mpi_or_openmp "$tmp/build_cxx"
test -f "$tmp/build_cxx/contrast/libxomni_reward_contrast.so" ||
  { echo "FAIL: the C++ project did not build the example"; exit 1; }
plugin="$tmp/build/contrast/libxomni_reward_contrast.so"
test -f "$plugin" || { echo "FAIL: $plugin was not built"; exit 1; }
# The example must have compiled against the installed header, not the source tree's.
grep -q "$tmp/prefix/include" "$tmp/build/contrast/CMakeFiles/xomni_reward_contrast.dir/flags.make" ||
  { echo "FAIL: the example did not use the installed include folder"; exit 1; }
xomni="$tmp/prefix/bin/xomni"

# A 2x1 PPM, red | blue: luminance 0.299 and 0.114, so with scale = 2 the score is
# 2 * |0.299 - 0.114| / 2 = 0.185, mean luminance 0.2065, RMS contrast 0.0925.
printf 'P6\n2 1\n255\n\xff\x00\x00\x00\x00\xff' > "$tmp/rb.ppm"
check() {  # check <output> <name> <expected>
  local got
  got=$(awk -v n="$2" '$1 == n {print $2}' <<< "$1")
  awk -v g="$got" -v e="$3" 'BEGIN { d = g - e; if (g == "" || d > 1e-5 || d < -1e-5) exit 1 }' ||
    { echo "FAIL: $2 = '$got', expected $3"; echo "$1"; exit 1; }
}
run() {  # run <job file> <expected "contrast" score> [env...]
  local out
  out=$(env "${@:3}" "$xomni" reward score "$1" --image "$tmp/rb.ppm" --prompt "anything") ||
    { echo "FAIL: xomni reward score $1"; exit 1; }
  echo "$out"
  check "$out" total 0.185
  check "$out" contrast "$2"
  check "$out" contrast.mean_luminance 0.2065
  check "$out" contrast.rms_contrast 0.0925
}
# By path (relative to the job file's folder).
mkdir -p "$tmp/jobs"
cat > "$tmp/jobs/by_path.toml" <<TOML
[[rewards]]
plugin = "../build/contrast/libxomni_reward_contrast.so"
weight = 1.0
config = "scale = 2"
TOML
run "$tmp/jobs/by_path.toml" 0.185
# A bare file name beside the job file, from a relative job path in the working directory:
# dlopen() never searches the working directory for a name without '/', so it must be opened as
# "./red.so" (the installed libraries' RUNPATH has no empty entry to hide that).
cp "$plugin" "$tmp/jobs/red.so"
cat > "$tmp/jobs/bare.toml" <<TOML
[[rewards]]
plugin = "red.so"
label = "contrast"
config = "scale = 2"
TOML
(cd "$tmp/jobs" && run bare.toml 0.185)
# By name through XOMNI_PLUGIN_PATH, which comes first on the search path.
cat > "$tmp/jobs/by_name.toml" <<TOML
[[rewards]]
plugin = "contrast"
weight = 0.5
[rewards.config]
scale = 4
TOML
# weight 0.5 * (4 * 0.0925): the same total, a different reward score.
run "$tmp/jobs/by_name.toml" 0.37 XOMNI_PLUGIN_PATH="$tmp/build/contrast"
listing=$(XOMNI_PLUGIN_PATH="$tmp/build/contrast" "$xomni" plugins)
grep -E "^reward +contrast +1\.0\.0 +$plugin\$" <<< "$listing" > /dev/null ||
  { echo "FAIL: xomni plugins does not list $plugin first"; echo "$listing"; exit 1; }
# Without XOMNI_PLUGIN_PATH the installed xomni finds its own installed plugins first.
installed="$tmp/prefix/lib/xomni/plugins/libxomni_reward_contrast.so"
grep -E "^reward +contrast +1\.0\.0 +$installed\$" <<< "$("$xomni" plugins)" > /dev/null ||
  { echo "FAIL: the installed xomni does not find $installed"; "$xomni" plugins; exit 1; }
# Libraries that cannot be used are listed with the reason, not a crash.
bad=$(XOMNI_PLUGIN_PATH="$build/tests/plugins/test_plugins" "$xomni" plugins)
for want in "reward ABI version 999 but this xomni uses version 1" \
            "not a plugin: exports neither xomni_component_plugin nor xomni_reward_plugin"; do
  grep -qF "$want" <<< "$bad" || { echo "FAIL: xomni plugins does not say '$want'"; echo "$bad"; exit 1; }
done
# The installed xomni searches only XOMNI_PLUGIN_PATH and its own tree: never this build tree.
listing=$("$xomni" plugins)
if grep -qF "$build" <<< "$listing"; then
  echo "FAIL: the installed xomni searches the build tree $build"; echo "$listing"; exit 1
fi
grep -qF "$tmp/prefix/lib/xomni/plugins (beside libxomni_plugins.so)" <<< "$listing" ||
  { echo "FAIL: the installed xomni does not search its own plugin folder"; echo "$listing"; exit 1; }
# A plugin that is not found: the hint names the installed folder and how to give a path.
cat > "$tmp/jobs/missing.toml" <<TOML
[[rewards]]
plugin = "nosuch"
TOML
if err=$("$xomni" reward score "$tmp/jobs/missing.toml" --image "$tmp/rb.ppm" --prompt x 2>&1); then
  echo "FAIL: a missing plugin was accepted"; exit 1
fi
for want in "$tmp/prefix/lib/xomni/plugins (beside libxomni_plugins.so)" \
            "e.g. \"./libxomni_reward_nosuch.so\""; do
  grep -qF "$want" <<< "$err" || { echo "FAIL: the error does not say '$want'"; echo "$err"; exit 1; }
done
if grep -qF "$build" <<< "$err"; then
  echo "FAIL: the error names the build tree"; echo "$err"; exit 1
fi

# A C++ component plugin with the full package (C++ libraries, MPI, OpenMP), as PLUGINS.md shows.
configure component -S "$src/tests/plugins/out_of_tree_component" -B "$tmp/build_component" \
  -DXOMNI_FAKE_PLUGIN_SOURCE="$src/tests/plugins/fake_component_plugin.cpp"
build component_build "$tmp/build_component"
component="$tmp/build_component/libxomni_text_tokenizer_fake.so"
listing=$(XOMNI_PLUGIN_PATH="$tmp/build_component" "$xomni" plugins)
grep -qE "^text_tokenizer +fake +0\.1 +$component\$" <<< "$listing" ||
  { echo "FAIL: xomni plugins does not list $component"; echo "$listing"; exit 1; }
# Usable: no note (a line indented under the row) says why it is not.
note=$(awk -v f="$component" 'found {print; exit} $NF == f {found = 1}' <<< "$listing")
if grep -qE '^ {16}' <<< "$note"; then
  echo "FAIL: the installed xomni cannot use $component: $note"; exit 1
fi
echo "PASS"
