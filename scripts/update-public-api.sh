#!/usr/bin/env bash
# Adds every new public symbol of the shipped packages to their PublicAPI.Unshipped.txt (the analyzer's code fix).
set -euo pipefail
cd "$(dirname "$0")/.."
for project in src/*/*.csproj; do
  dotnet format analyzers "$project" --diagnostics RS0016 --severity warn
done
