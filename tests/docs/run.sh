#!/usr/bin/env bash
# Keeps the README's flag tables true program by program: every flag that a
# program's --help lists must be in that program's own table in README.md, and
# every flag that table names must be in that program's --help. A flag named
# in another program's table does not count. Ends with "N passed, M failed".
#
# Where the tables are: each daemon's is the table under its "### riskpipe-X"
# heading (flags in the first column); riskctl's is the command table under
# "## riskctl", one row per subcommand, whose first cell starts with the
# subcommand's name and whose other cells name its flags.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${RISKPIPE_BIN:-$PWD/bin}
passed=0
failed=0

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# Prints the lines of README.md under the heading $1 (exact text), up to the
# next heading of the same or a higher level. Lines inside ``` fences are never
# headings (shell comments there start with '#').
section() {
    awk -v h="$1" '
        /^```/ { fence = !fence }
        !fence && /^#+ / {
            level = length($1)
            if (on && level <= on) exit
            if ($0 == h) { on = level; next }
        }
        on' README.md
}

# The flags of an option listing (the "  --name VALUE  text" lines of --help),
# one per line, sorted, without --help itself.
help_flags() {
    grep -oE -- '^  --[a-z][a-z-]*' <<<"$1" | sed 's/^ *//' | grep -vx -- '--help' | sort -u
}

# Compares the flags a program's --help lists ($2) with those its README table
# names ($3), both sorted, one per line; $1 names the program in messages.
# Records one result per direction.
compare() {
    local name=$1 help=$2 table=$3 only
    only=$(comm -23 <(echo "$help") <(echo "$table") | xargs)
    if [ -z "$only" ]; then pass "$name: every --help flag is in its README table"
    else fail "$name" "--help lists $only, missing from its own README table"; fi
    only=$(comm -13 <(echo "$help") <(echo "$table") | xargs)
    if [ -z "$only" ]; then pass "$name: every flag of its README table is in its --help"
    else fail "$name" "its README table names $only, which its --help does not list"; fi
}

# Runs "$@ --help" and sets HELP to its flags; fails the check (returns 1)
# when the command exits non-zero or lists no flag, which would make compare
# vacuous.
read_help() {
    local name=$1 out
    shift
    if ! out=$("$@" --help 2>&1); then
        fail "$name" "--help exited non-zero"
        return 1
    fi
    HELP=$(help_flags "$out")
    if [ -z "$HELP" ]; then
        fail "$name" "--help lists no flags (has its format changed?)"
        return 1
    fi
}

for b in riskpipe-state riskpipe-mapper riskpipe-reducer; do
    read_help "$b" "$BIN/$b" || continue
    rows=$(section "### $b" | grep -E '^\| `--')
    if [ -z "$rows" ]; then
        fail "$b" "README.md has no flag table under \"### $b\""
        continue
    fi
    table=$(grep -oE '^\| `--[a-z][a-z-]*`' <<<"$rows" | grep -oE -- '--[a-z-]+' | sort -u)
    compare "$b" "$HELP" "$table"
done

cmds=$("$BIN/riskctl" --help | awk '/^  [a-z]+ /{ print $1 }' | sort -u)
if [ -z "$cmds" ]; then
    fail "riskctl" "riskctl --help lists no subcommands"
fi
ctl_rows=$(section "## riskctl" | grep -E '^\| `[a-z]+')
for c in $cmds; do
    read_help "riskctl $c" "$BIN/riskctl" "$c" || continue
    row=$(grep -E "^\| \`$c[\` ]" <<<"$ctl_rows")
    n=$(grep -c . <<<"$row")
    if [ "$n" -ne 1 ]; then
        fail "riskctl $c" "want one row for \`$c\` in the README's riskctl table, found $n"
        continue
    fi
    table=$(grep -oE '`--[a-z][a-z-]*`' <<<"$row" | tr -d '`' | sort -u)
    compare "riskctl $c" "$HELP" "$table"
done
# and no row documents a subcommand that does not exist
documented=$(grep -oE '^\| `[a-z]+' <<<"$ctl_rows" | grep -oE '[a-z]+' | sort -u)
extra=$(comm -13 <(echo "$cmds") <(echo "$documented") | xargs)
if [ -z "$extra" ]; then pass "riskctl: every command row of the README names a subcommand"
else fail "riskctl" "the README's table has rows for $extra, not in riskctl --help"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
