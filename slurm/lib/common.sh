# shellcheck shell=bash
# Helpers shared by the submission scripts and the stage scripts: the site file, a reader for the
# flat TOML the job and pipeline files use, and --set overrides.

xomni_die() {
  echo "xomni-slurm: error: $*" >&2
  exit 2
}
xomni_warn() {
  echo "xomni-slurm: warning: $*" >&2
}

# Sources the site file (XOMNI_SITE, default slurm/site.sh).
xomni_load_site() {
  local site="${XOMNI_SITE:-$XOMNI_SLURM_DIR/site.sh}"
  [[ -f "$site" ]] || xomni_die "site file $site not found (set XOMNI_SITE)"
  # shellcheck source=../site.sh
  source "$site"
}

# toml_get FILE KEY: the value of KEY ("section.name" or "name" before any section) in FILE,
# strings unquoted, arrays as written (a multi-line array is joined onto one line). Prints
# nothing and returns 1 when the key is absent. Enough for job and pipeline files: tables,
# dotted table names, strings, numbers, booleans and arrays; not inline tables.
toml_get() {
  local file="$1" key="$2"
  [[ -f "$file" ]] || xomni_die "$file: no such file"
  awk -v want="$key" '
    function strip(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
    # Drop a comment that is not inside a string.
    function uncomment(s,   i, c, q, out) {
      q = ""; out = ""
      for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (q == "" && c == "#") break
        if (q == "" && (c == "\"" || c == "\x27")) q = c
        else if (q != "" && c == q && substr(s, i - 1, 1) != "\\") q = ""
        out = out c
      }
      return out
    }
    function depth(s,   t) { t = s; return gsub(/\[/, "[", t) - gsub(/\]/, "]", t) }
    BEGIN { section = ""; found = 0 }
    {
      line = strip(uncomment($0))
      if (collecting) {
        value = value " " line; open += depth(line)
        if (open <= 0) { print value; found = 1; exit }
        next
      }
      if (line ~ /^\[[^\[]/) { section = strip(substr(line, 2, index(line, "]") - 2)); next }
      eq = index(line, "=")
      if (eq == 0) next
      k = strip(substr(line, 1, eq - 1)); gsub(/"/, "", k)
      full = section == "" ? k : section "." k
      if (full != want) next
      value = strip(substr(line, eq + 1))
      if (value ~ /^\[/ && depth(value) > 0) { collecting = 1; open = depth(value); next }
      if (value ~ /^".*"$/ || value ~ /^\x27.*\x27$/) value = substr(value, 2, length(value) - 2)
      print value; found = 1; exit
    }
    END { exit found ? 0 : 1 }' "$file"
}

# toml_list VALUE: the strings of a TOML array value (as toml_get prints it), one per line.
toml_list() {
  grep -o '"[^"]*"' <<< "$1" | sed 's/^"//; s/"$//'
}

# job_value FILE KEY DEFAULT OVERRIDE...: KEY from the last "--set KEY=V" style override
# (given as KEY=V words), else from FILE, else DEFAULT. Strings are unquoted.
job_value() {
  local file="$1" key="$2" default="$3" v found=""
  shift 3
  for v in "$@"; do
    [[ "${v%%=*}" == "$key" ]] && found="${v#*=}" && found="${found#\"}" && found="${found%\"}"
  done
  if [[ -n "$found" ]]; then
    echo "$found"
  elif ! toml_get "$file" "$key"; then
    echo "$default"
  fi
}

# xomni_train_stage SCRIPT: the run.stage that the job file of a training stage script
# (slurm/stages/SCRIPT.sbatch runs `xomni train`, which picks its trainer by run.stage, default
# "lm") must have; nothing for a script that does not train.
xomni_train_stage() {
  case "$1" in
    lm | siglip | vq | decoder | rl | realism) echo "$1" ;;
    s1 | s2 | s3 | sft) echo lm ;;  # X-Omni stages: LM-stage jobs with backbone "xomni"
  esac
}

# xomni_check_run_stage SCRIPT JOB OVERRIDE...: dies when SCRIPT trains and JOB's run.stage (after
# the KEY=VALUE overrides; default "lm") picks another trainer, naming both. The stage scripts run
# it inside the allocation and submit.sh before sbatch.
xomni_check_run_stage() {
  local script="$1" job="$2" want have
  shift 2
  want=$(xomni_train_stage "$script")
  [[ -n "$want" ]] || return 0
  have=$(job_value "$job" run.stage lm "$@")
  [[ "$have" == "$want" ]] ||
    xomni_die "$job: run.stage = \"$have\" but slurm/stages/$script.sbatch runs the $want stage;" \
      "set run.stage = \"$want\" or submit the job file with the script of its stage"
}

# A positive integer check with a message naming the setting.
require_int() {
  [[ "$2" =~ ^[0-9]+$ ]] || xomni_die "$1 must be a non-negative integer, got '$2'"
}

# xomni_check_layout JOB TASKS NODES OVERRIDE...: whether the job's [parallel] layout, after the
# KEY=VALUE overrides, fits TASKS tasks on NODES nodes; dies naming the job file, the keys and the
# numbers when it does not. The stage scripts run it inside the allocation and submit.sh before
# sbatch, so a layout that cannot fit never waits in the queue. TASKS may be empty (not known at
# submission, e.g. --nodes=2-4): then only the checks that need no task count run; NODES may be
# empty too (then the per-node GPU check is left to the job).
#   tp*cp*pp must divide the tasks (so none of them exceeds the tasks), dp (when set) must match,
#   train.batch_size must split over dp, tp must divide the attention and KV heads, pp needs at
#   least pp layers and untied embeddings (the first stage holds the input embedding, the last
#   the output head), and with GPUs (XOMNI_GPUS_PER_NODE) at most one task per GPU.
# Sets LAYOUT_TP LAYOUT_CP LAYOUT_PP LAYOUT_DP (dp 0 when TASKS is empty and dp is derived).
xomni_check_layout() {
  local job="$1" n="$2" nodes="$3" mp heads kv v batch layers tied per_node
  shift 3
  [[ -f "$job" ]] || xomni_die "job file '$job' not found (from $PWD)"
  LAYOUT_TP=$(job_value "$job" parallel.tp 1 "$@")
  LAYOUT_CP=$(job_value "$job" parallel.cp 1 "$@")
  LAYOUT_PP=$(job_value "$job" parallel.pp 1 "$@")
  LAYOUT_DP=$(job_value "$job" parallel.dp 0 "$@")
  for v in TP CP PP DP; do
    local value="LAYOUT_$v"
    require_int "$job: parallel.${v,,}" "${!value}"
  done
  mp=$((LAYOUT_TP * LAYOUT_CP * LAYOUT_PP))
  ((mp > 0)) || xomni_die "$job: parallel.tp, cp and pp must be at least 1 (tp=$LAYOUT_TP cp=$LAYOUT_CP pp=$LAYOUT_PP)"
  if [[ -n "$n" ]]; then
    ((mp <= n)) ||
      xomni_die "$job: tp*cp*pp = $LAYOUT_TP*$LAYOUT_CP*$LAYOUT_PP = $mp needs at least $mp tasks but the job has $n; ask for a multiple of $mp tasks or change [parallel]"
    ((n % mp == 0)) ||
      xomni_die "$job: tp*cp*pp = $LAYOUT_TP*$LAYOUT_CP*$LAYOUT_PP = $mp does not divide the $n tasks of this job; ask for a multiple of $mp tasks or change [parallel]"
    if ((LAYOUT_DP == 0)); then
      LAYOUT_DP=$((n / mp))
    elif ((LAYOUT_DP * mp != n)); then
      xomni_die "$job: tp*cp*pp*dp = $mp*$LAYOUT_DP = $((mp * LAYOUT_DP)) but the job has $n tasks; set parallel.dp=0 to derive dp"
    fi
    batch=$(job_value "$job" train.batch_size "" "$@")
    if [[ -n "$batch" ]] && ((batch % LAYOUT_DP != 0)); then
      xomni_die "$job: train.batch_size=$batch does not split over dp=$LAYOUT_DP ($n tasks / tp*cp*pp=$mp)"
    fi
  fi
  heads=$(job_value "$job" model.num_attention_heads "" "$@")
  kv=$(job_value "$job" model.num_key_value_heads "" "$@")
  for v in "$heads" "$kv"; do
    if [[ -n "$v" ]] && ((v % LAYOUT_TP != 0)); then
      xomni_die "$job: tp=$LAYOUT_TP does not divide the attention heads (num_attention_heads=${heads:-?}, num_key_value_heads=${kv:-?})"
    fi
  done
  if ((LAYOUT_PP > 1)); then
    # The defaults are the Qwen2 backbone's (plugins/qwen2: 2 layers, tied embeddings).
    layers=$(job_value "$job" model.num_hidden_layers 2 "$@")
    ((LAYOUT_PP <= layers)) ||
      xomni_die "$job: pp=$LAYOUT_PP pipeline stages but model.num_hidden_layers=$layers; every stage needs a layer"
    tied=$(job_value "$job" model.tie_word_embeddings true "$@")
    [[ "$tied" == false ]] ||
      xomni_die "$job: pp=$LAYOUT_PP splits the input embedding (first stage) from the output head (last stage), so they cannot be tied; set model.tie_word_embeddings = false (its default is true)"
  fi
  if [[ -n "$n" && -n "$nodes" ]] && ((${XOMNI_GPUS_PER_NODE:-0} > 0)); then
    per_node=$((n / nodes))
    ((per_node <= XOMNI_GPUS_PER_NODE)) ||
      xomni_die "$per_node tasks per node but only $XOMNI_GPUS_PER_NODE GPUs per node (XOMNI_GPUS_PER_NODE)"
    ((per_node == XOMNI_GPUS_PER_NODE)) ||
      xomni_warn "$per_node tasks per node but XOMNI_GPUS_PER_NODE=$XOMNI_GPUS_PER_NODE; one task per GPU is intended"
    ((LAYOUT_TP <= XOMNI_GPUS_PER_NODE)) ||
      xomni_warn "tp=$LAYOUT_TP spans nodes (GPUs per node: $XOMNI_GPUS_PER_NODE)"
  fi
}

# xomni_check_partition NODES PARTITION: dies when NODES is more than the partition (the cluster's
# default partition when PARTITION is empty) has, or when the partition does not exist. Asks
# sinfo; does nothing where sinfo is not installed or answers nothing (a dry run away from the
# cluster).
xomni_check_partition() {
  local nodes="$1" partition="$2" listing have
  command -v sinfo > /dev/null || return 0
  listing=$(sinfo -h -o '%P %D' 2> /dev/null) || return 0
  [[ -n "$listing" ]] || return 0
  if [[ -z "$partition" ]]; then
    partition=$(awk '$1 ~ /\*$/ {sub(/\*$/, "", $1); print $1; exit}' <<< "$listing")
    [[ -n "$partition" ]] || return 0
  fi
  have=$(awk -v p="$partition" '{sub(/\*$/, "", $1)} $1 == p {found = 1; sum += $2} END {if (found) print sum}' <<< "$listing")
  [[ -n "$have" ]] ||
    xomni_die "partition '$partition' does not exist (sinfo lists: $(awk '{sub(/\*$/, "", $1); print $1}' <<< "$listing" | sort -u | paste -sd ' '))"
  ((nodes <= have)) ||
    xomni_die "--nodes=$nodes but partition '$partition' has $have node(s) (sinfo); ask for at most $have"
}

# xomni_check_submission JOB NODES TASKS PARTITION OVERRIDE...: what submit.sh checks before sbatch
# for a stage that runs on every task: the job file exists, NODES fits the partition, and the
# layout fits TASKS (xomni_check_layout) with the overrides, and for a job array over settings
# (XOMNI_ARRAY_SETS, slurm/scaling_sweep.sh) with each element's settings too. NODES and TASKS
# may be empty when sbatch decides them.
xomni_check_submission() {
  local job="$1" nodes="$2" tasks="$3" partition="$4" i
  shift 4
  [[ -f "$job" ]] || xomni_die "job file '$job' not found (from $PWD)"
  [[ "$nodes" =~ ^[0-9]+$ ]] && xomni_check_partition "$nodes" "$partition"
  if [[ -z "${XOMNI_ARRAY_SETS:-}" ]]; then
    xomni_check_layout "$job" "$tasks" "$nodes" "$@"
    return 0
  fi
  local -a elements kvs
  IFS=';' read -ra elements <<< "$XOMNI_ARRAY_SETS"
  for i in "${!elements[@]}"; do
    IFS=',' read -ra kvs <<< "${elements[i]}"
    (xomni_check_layout "$job" "$tasks" "$nodes" "$@" "${kvs[@]}") ||
      xomni_die "(in array element $i: ${elements[i]})"
  done
}
