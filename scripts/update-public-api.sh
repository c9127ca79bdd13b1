#!/usr/bin/env bash
# Brings src/*/PublicAPI.Unshipped.txt in line with the code: drops symbols that no longer exist (RS0017) and
# adds new public symbols (RS0016, through the analyzer's code fix). Review the diff before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
for project in src/*/*.csproj; do
  dir=$(dirname "$project")
  # RS0017 names the stale line exactly; remove it.
  dotnet build "$project" -p:TreatWarningsAsErrors=false 2>/dev/null \
    | grep -oP "RS0017: Symbol '\K.*(?=' is part of the declared API)" | sort -u \
    | while IFS= read -r symbol; do
        python3 -c 'import sys; p, s = sys.argv[1], sys.argv[2]; lines = open(p).read().split("\n"); open(p, "w").write("\n".join(l for l in lines if l != s))' "$dir/PublicAPI.Unshipped.txt" "$symbol"
      done
  dotnet format analyzers "$project" --diagnostics RS0016 --severity warn
done
