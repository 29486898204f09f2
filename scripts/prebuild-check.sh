#!/usr/bin/env bash
# Checks a prebuild directory (default prebuilds/linux-x64): every DT_NEEDED of the addon and of
# each library shipped beside it is either allowed from the system (scripts/prebuild-allow.json)
# or a file in the directory; the addon's RUNPATH starts with $ORIGIN and each shipped library's
# is $ORIGIN. Prints the newest glibc / libstdc++ symbol versions the files need and their sizes.
# --cpu also disassembles everything and counts AVX2 / AVX-512 instructions (slow: ~1 min).
# Exit 1 with one line per problem when the directory breaks a rule.
set -euo pipefail
cd "$(dirname "$0")/.."

cpu=0
dir=prebuilds/linux-x64
for a in "$@"; do
  case $a in
    --cpu) cpu=1 ;;
    *) dir=$a ;;
  esac
done
shopt -s nullglob
addons=("$dir"/*.node)
if [ ${#addons[@]} != 1 ]; then echo "prebuild-check: expected one .node file in $dir, found ${#addons[@]}" >&2; exit 1; fi
addon=${addons[0]}
allowed=$(node -p "require('./scripts/prebuild-allow.json').system.join('|')")

problems=0
problem() { echo "prebuild-check: $*" >&2; problems=$((problems + 1)); }
runpath() { readelf -d "$1" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p'; }

files=("$addon")
for f in "$dir"/*.so*; do files+=("$f"); done
for f in "${files[@]}"; do
  while read -r name; do
    if [[ $name =~ ^($allowed)$ ]] || [ -f "$dir/$name" ]; then continue; fi
    problem "$(basename "$f") needs $name, which is neither allowed from the system nor shipped in $dir"
  done < <(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done
rp=$(runpath "$addon")
[[ $rp == '$ORIGIN' || $rp == '$ORIGIN:'* ]] || problem "$(basename "$addon") RUNPATH is '$rp', not \$ORIGIN first"
for f in "${files[@]:1}"; do
  rp=$(runpath "$f")
  [ "$rp" = '$ORIGIN' ] || problem "$(basename "$f") RUNPATH is '$rp', not \$ORIGIN"
done
[ $problems = 0 ] || exit 1

newest() { for f in "${files[@]}"; do objdump -T "$f"; done | grep -o "$1[0-9.]*" | sort -uV | tail -1; }
echo "prebuild-check: $dir OK: $(basename "$addon") + $((${#files[@]} - 1)) shipped libraries, $(du -shL "$dir" | cut -f1) on disk"
echo "prebuild-check: needs $(newest 'GLIBC_2\.'), $(newest 'GLIBCXX_'), $(newest 'CXXABI_')"
for f in "${files[@]}"; do printf '  %-34s %8s KiB\n' "$(basename "$f")" $(( $(stat -c %s "$f") / 1024 )); done
if [ $cpu = 1 ]; then
  for f in "${files[@]}"; do
    d=$(objdump -d --no-show-raw-insn "$f")
    printf '  %-34s ymm %7d  zmm %7d instructions\n' "$(basename "$f")" "$(grep -c '%ymm' <<<"$d" || true)" "$(grep -c '%zmm' <<<"$d" || true)"
  done
fi
