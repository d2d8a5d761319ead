# shellcheck shell=bash
# Helpers shared by the submission scripts and the stage scripts: the site file, a reader for the
# flat TOML the job and pipeline files use, and --set overrides.

xomni_die() {
  echo "xomni-slurm: error: $*" >&2
  exit 2
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

# A positive integer check with a message naming the setting.
require_int() {
  [[ "$2" =~ ^[0-9]+$ ]] || xomni_die "$1 must be a non-negative integer, got '$2'"
}
