#!/usr/bin/env bash
# Out-of-tree reward plugin: install this build into a temporary prefix, build the example reward
# (rewards/examples/contrast) with a CMake project that knows only find_package(xomni), and run
# the installed xomni on it from a reward job file, by path and by name (XOMNI_PLUGIN_PATH).
# The printed scores are checked against the example's closed form.
# usage: out_of_tree.sh <cmake> <xomni build dir> <xomni source dir>
set -euo pipefail
cmake_bin=$1 build=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$cmake_bin" --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
"$cmake_bin" -S "$src/tests/rewards/out_of_tree" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" -DXOMNI_EXAMPLE_DIR="$src/rewards/examples/contrast" \
  > "$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
"$cmake_bin" --build "$tmp/build" > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
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
echo "PASS"
