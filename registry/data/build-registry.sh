#!/usr/bin/env bash
#
# build-registry.sh - builds a DE-NORD registry document from agencies.tsv.
#
# Usage: build-registry.sh REGISTRY_TOOL OUT.xml [TSV]
#
#   REGISTRY_TOOL  path to the secsrv-registry binary
#   OUT.xml        registry document to create (replaced if it exists)
#   TSV            member list; defaults to agencies.tsv next to this script
#
# The whole TSV is checked before the tool is run, so a malformed line never
# leaves a half-built registry behind. Errors are reported as TSV:LINE: message.
# Set REGISTRY_VALIDITY_DAYS to pass --validity-days to init.

set -euo pipefail

readonly INSTANCE="DE-NORD"
readonly HEADER=$'class\tcode\tstate\tname\tsubsystems'
readonly ID_RE="^[A-Za-z0-9'()+,.=?-]+\$"

prog=${0##*/}

usage() {
    echo "usage: $prog REGISTRY_TOOL OUT.xml [TSV]" >&2
    exit 2
}

die() {
    echo "$prog: $*" >&2
    exit 1
}

[[ $# -eq 2 || $# -eq 3 ]] || usage
tool=$1
out=$2
tsv=${3:-"$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/agencies.tsv"}

[[ -x $tool ]] || die "$tool: not an executable file"
[[ -r $tsv ]] || die "$tsv: cannot read"
[[ -n $out ]] || usage

# Member classes in the order they are added; description per class.
classes=(GOV MUN JUS COM)
declare -A class_desc=(
    [GOV]="Landesbehörden und Ministerien"
    [MUN]="Kommunen (Gemeinden, Städte, Kreise)"
    [JUS]="Gerichte und Staatsanwaltschaften"
    [COM]="Öffentliche IT-Dienstleister"
)

# Parsed members, one entry per data line (parallel arrays).
m_line=() m_class=() m_code=() m_state=() m_name=() m_subs=()
declare -A seen=()
errors=0

# Byte-wise match in the C locale, so no locale widens A-Z to accented letters.
is_id() {
    local LC_ALL=C
    [[ $1 =~ $ID_RE ]]
}

bad() { # LINE MESSAGE
    echo "$tsv:$1: $2" >&2
    errors=$((errors + 1))
}

lineno=0
# Lines are split by hand: with IFS set to a tab, read would merge adjacent
# tabs and an empty column would shift the others instead of being reported.
while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    line=${line%$'\r'}
    [[ -z ${line//[[:space:]]/} || $line == '#'* ]] && continue
    if [[ $line == "$HEADER" ]]; then
        continue
    fi

    tabs=${line//[^$'\t']/}
    if ((${#tabs} != 4)); then
        bad "$lineno" "expected 5 tab-separated columns, found $((${#tabs} + 1))"
        continue
    fi
    rest=$line
    cols=()
    for _i in 1 2 3 4; do
        cols+=("${rest%%$'\t'*}")
        rest=${rest#*$'\t'}
    done
    cols+=("$rest")
    class=${cols[0]} code=${cols[1]} state=${cols[2]} name=${cols[3]} subs=${cols[4]}

    empty=""
    for i in 0 1 2 3 4; do
        if [[ -z ${cols[i]//[[:space:]]/} ]]; then
            empty=$i
            break
        fi
    done
    if [[ -n $empty ]]; then
        names=(class code state name subsystems)
        bad "$lineno" "empty field '${names[empty]}'"
        continue
    fi

    if [[ -z ${class_desc[$class]+x} ]]; then
        bad "$lineno" "unknown member class '$class' (expected ${classes[*]})"
        continue
    fi
    if ! is_id "$code"; then
        bad "$lineno" "member code '$code' contains characters outside A-Z a-z 0-9 '()+,-.=?"
        continue
    fi
    if [[ $state != SH && $state != MV ]]; then
        bad "$lineno" "state must be SH or MV, not '$state'"
        continue
    fi
    if [[ $class == MUN ]]; then
        want=01
        [[ $state == MV ]] && want=13
        if [[ ! $code =~ ^[0-9]{8}$ || ${code:0:2} != "$want" ]]; then
            bad "$lineno" "MUN code '$code' must be an 8-digit AGS starting with $want for $state"
            continue
        fi
    fi
    if [[ -n ${seen[$class/$code]+x} ]]; then
        bad "$lineno" "duplicate member $class/$code (first on line ${seen[$class/$code]})"
        continue
    fi

    IFS=, read -r -a sublist <<<"$subs"
    [[ $subs == *, ]] && sublist+=("")
    declare -A subseen=()
    subok=1
    for s in "${sublist[@]}"; do
        if [[ -z $s ]]; then
            bad "$lineno" "empty subsystem code in '$subs'"
            subok=0
            break
        fi
        if ! is_id "$s"; then
            bad "$lineno" "subsystem code '$s' contains characters outside A-Z a-z 0-9 '()+-.=? (comma separates subsystems)"
            subok=0
            break
        fi
        if [[ -n ${subseen[$s]+x} ]]; then
            bad "$lineno" "duplicate subsystem '$s'"
            subok=0
            break
        fi
        subseen[$s]=1
    done
    unset subseen
    ((subok)) || continue

    seen[$class/$code]=$lineno
    m_line+=("$lineno")
    m_class+=("$class")
    m_code+=("$code")
    m_state+=("$state")
    m_name+=("$name")
    m_subs+=("$subs")
done <"$tsv"

((errors == 0)) || die "$tsv: $errors malformed line(s), registry not built"
((${#m_code[@]} > 0)) || die "$tsv: no members"

# Build into a temporary file next to OUT and move it into place at the end.
out_dir=$(dirname -- "$out")
tmp=$(mktemp "$out_dir/.${out##*/}.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
rm -f -- "$tmp" # init creates the file

init_args=(init --instance "$INSTANCE")
if [[ -n ${REGISTRY_VALIDITY_DAYS:-} ]]; then
    init_args+=(--validity-days "$REGISTRY_VALIDITY_DAYS")
fi
"$tool" -f "$tmp" "${init_args[@]}" || die "$tool init failed"

for c in "${classes[@]}"; do
    "$tool" -f "$tmp" add member-class "$c" "${class_desc[$c]}" ||
        die "$tool: adding member class $c failed"
done

subsystems=0
for i in "${!m_code[@]}"; do
    id="${m_class[i]}/${m_code[i]}"
    where="$tsv:${m_line[i]}"
    "$tool" -f "$tmp" add member "$id" --name "${m_name[i]}" --state "${m_state[i]}" ||
        die "$where: adding member $id failed"
    IFS=, read -r -a sublist <<<"${m_subs[i]}"
    for s in "${sublist[@]}"; do
        "$tool" -f "$tmp" add subsystem "$id/$s" ||
            die "$where: adding subsystem $id/$s failed"
        subsystems=$((subsystems + 1))
    done
done

mv -f -- "$tmp" "$out"
trap - EXIT
echo "$prog: $out: ${#m_code[@]} members, $subsystems subsystems (instance $INSTANCE)"
