#!/usr/bin/env bash
# What the benchmark scenarios need beyond .NET: ttyd (scripts/install-ttyd.sh) and, for the comparison with the
# seed's Python reconstruction, Debian's python3-psutil for /usr/bin/python3 (no PyPI here). Runs as root; safe
# to run again.
set -euo pipefail
SCRIPT_NAME=install-bench-deps
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$(dirname "${BASH_SOURCE[0]}")/install-ttyd.sh"
if ! /usr/bin/python3 -c 'import psutil' 2>/dev/null; then
    require_root
    apt_install python3 python3-psutil
fi
/usr/bin/python3 -c 'import psutil' || die "python3-psutil is installed but /usr/bin/python3 cannot import psutil"
log "ready: $(ttyd --version 2>&1 | head -n1), psutil $(/usr/bin/python3 -c 'import psutil; print(psutil.__version__)')"
