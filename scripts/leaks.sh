# shellcheck shell=bash
# test.sh's leak check: the ttyd and tmux processes a test run left behind, told apart from everyone else's (a
# newcomer's own tmux, the terminals of a sample running beside the tests), so that only the run's own are killed.
# Source it after common.sh. PROC_ROOT (default /proc) points it at a fixture (scripts/selfcheck.sh).
#
# What is the run's:
#   - a process whose environment carries RUN_VAR=RUN_ID (test.sh exports it to `dotnet test` only, so every test host
#     and every process a test starts with the inherited environment has it), or one below such a process;
#   - a process the watcher (leak_watch, every second during the run) saw below such a process;
#   - a process carrying the TtydPorts marker TTYDPORTS_INSTANCE of an instance whose ttyd the watcher saw below such a
#     process, and never below a host outside the run. This is how a leaked tmux server is recognised: it daemonizes
#     (its parent is PID 1 at once), and the library starts ttyd and tmux with an environment of their own (PATH, HOME,
#     the locale, the markers), which RUN_VAR is not part of.
# What is someone else's (reported, left running, no failure): a process with neither marker, or of an instance that was
# there before the run or whose ttyd the watcher saw below a live host outside the run.
# What cannot be told (reported, left running, a failure, as it is most likely the run's): a process of an instance the
# watcher never saw (its host lived less than a second, or the run lost the marker on the way, e.g. a lab host started
# as another user with an environment of its own), or saw both below the run and outside it.
#
# RUN_VAR is not TTYDPORTS_*: the library reads every TTYDPORTS_ variable of a process as a session marker.

PROC_ROOT=${PROC_ROOT:-/proc}
RUN_VAR=TESTRUN_TTYDPORTS
RUN_ID=${RUN_ID:-}

# _stat PID: sets _STATE, _PPID and _START (field 22 of /proc/PID/stat: with the pid, a process's identity) of PID; fails
# when it is gone. No subshell: the watcher runs this for every ttyd and tmux every second.
_stat() {
    local line="" rest fields
    # The whole file: comm may hold a newline (prctl), and a first line alone would be the fields it forged.
    { read -r -d '' line <"$PROC_ROOT/$1/stat" || [[ -n $line ]]; } 2>/dev/null || return 1
    rest=${line##*) }   # comm, in parentheses, may hold spaces, parentheses and newlines: the fields start after the last ") "
    read -ra fields <<<"$rest"
    _STATE=${fields[0]}
    _PPID=${fields[1]}
    _START=${fields[19]}
}

# _env PID NAME: sets _VALUE to NAME's value in PID's environment (empty when it has none or it cannot be read).
_env() {
    local entry entries=()
    _VALUE=""
    { mapfile -d '' -t entries <"$PROC_ROOT/$1/environ"; } 2>/dev/null || return 0
    for entry in "${entries[@]}"; do
        if [[ $entry == "$2="* ]]; then _VALUE=${entry#*=}; return 0; fi
    done
}

# _instance PID: sets _INSTANCE to PID's TTYDPORTS_INSTANCE when it is a name the library could have given (its id rule:
# letters, digits, '.', '_', '-', at most 64), else "-": a value is written into line-based files and read back as
# words, so a newline or a space in it could forge a line of its own ("run PID:START ...") and have root kill that pid.
_instance() {
    _env "$1" TTYDPORTS_INSTANCE
    if [[ $_VALUE =~ ^[A-Za-z0-9._-]{1,64}$ ]]; then _INSTANCE=$_VALUE; else _INSTANCE=-; fi
}

# term_processes: every live ttyd and tmux process (by name: a zombie has exited), one "PID:START" a line. A name with a
# newline is nobody's terminal (the library's are "ttyd" and "tmux: server" / "tmux: client"): skipped.
term_processes() {
    local p comm
    for p in "$PROC_ROOT"/[0-9]*; do
        comm=""
        { read -r -d '' comm <"$p/comm" || [[ -n $comm ]]; } 2>/dev/null || continue
        comm=${comm%$'\n'}
        [[ $comm == *$'\n'* ]] && continue
        [[ $comm == ttyd || $comm == tmux* ]] || continue
        _stat "${p##*/}" || continue
        [[ $_STATE == Z ]] && continue
        echo "${p##*/}:$_START"
    done
}

# below_run PID: PID or one of its ancestors carries RUN_VAR=RUN_ID.
below_run() {
    local pid=$1 n=0
    [[ -n $RUN_ID ]] || return 1
    while [[ $pid =~ ^[0-9]+$ ]] && (( pid > 1 && n++ < 100 )); do
        _env "$pid" "$RUN_VAR"
        [[ $_VALUE == "$RUN_ID" ]] && return 0
        _stat "$pid" || return 1
        pid=$_PPID
    done
    return 1
}

# leak_instances FILE: "before INSTANCE" for each instance of the ttyd and tmux processes running now (those of a sample
# started before the run), appended to the watcher's FILE.
leak_instances() {
    local key
    for key in $(term_processes); do
        _instance "${key%%:*}"
        if [[ $_INSTANCE != - ]]; then echo "before - $_INSTANCE"; fi
    done >>"$1"
}

# leak_watch_once FILE: one look at the machine: "run PID:START INSTANCE" for a ttyd or tmux below the run, "other
# PID:START INSTANCE" for a ttyd of an instance below a live host outside it; each line once per watcher (_SEEN).
declare -A _SEEN=()
leak_watch_once() {
    local key pid comm line instance
    for key in $(term_processes); do
        pid=${key%%:*}
        [[ -n ${_SEEN[run $key]:-} ]] && continue
        _instance "$pid"
        instance=$_INSTANCE
        if below_run "$pid"; then
            line="run $key $instance"
        else
            # A ttyd's parent is the host that started it, as long as that lives; a tmux server's is PID 1 at once.
            comm=""
            { read -r -d '' comm <"$PROC_ROOT/$pid/comm" || [[ -n $comm ]]; } 2>/dev/null || continue
            [[ $comm == $'ttyd\n' && $instance != - ]] || continue
            _stat "$pid" || continue
            (( _PPID > 1 )) || continue
            line="other $key $instance"
        fi
        if [[ -z ${_SEEN[$line]:-} ]]; then
            _SEEN[$line]=1
            [[ $line == run* ]] && _SEEN[run $key]=1
            echo "$line" >>"$1"
        fi
    done
}

# leak_watch FILE: leak_watch_once every second until killed (test.sh starts it in the background beside the run).
leak_watch() {
    while :; do
        leak_watch_once "$1"
        sleep 1
    done
}

# leak_classify BEFORE FILE: each ttyd or tmux process running now that BEFORE (term_processes before the run) does
# not list, as "run PID:START", "other PID:START" or "unknown PID:START", with its instance ("-" for none): see the top.
leak_classify() {
    local before=$1 file=$2 key pid instance
    local -A was=() run_keys=() run_instances=() other_instances=()
    while read -r key; do [[ -n $key ]] && was[$key]=1; done <"$before"
    while read -r kind key instance; do
        # Only lines this file's writers make (three words, a PID:START key): anything else is ignored, never believed.
        [[ $key =~ ^(-|[0-9]+:[0-9]+)$ && $instance =~ ^[A-Za-z0-9._-]{1,64}$ ]] || continue
        case $kind in
            run) run_keys[$key]=1; [[ $instance == - ]] || run_instances[$instance]=1 ;;
            other|before) other_instances[$instance]=1 ;;
        esac
    done <"$file"
    for key in $(term_processes); do
        [[ -n ${was[$key]:-} ]] && continue
        pid=${key%%:*}
        _instance "$pid"
        instance=$_INSTANCE
        if [[ -n ${run_keys[$key]:-} ]] || below_run "$pid"; then
            echo "run $key $instance"
        elif [[ $instance == - ]]; then
            echo "other $key $instance"
        elif [[ -n ${run_instances[$instance]:-} && -z ${other_instances[$instance]:-} ]]; then
            echo "run $key $instance"
        elif [[ -n ${other_instances[$instance]:-} && -z ${run_instances[$instance]:-} ]]; then
            echo "other $key $instance"
        else
            echo "unknown $key $instance"   # an instance never seen, or seen both in the run and outside it
        fi
    done
}

# still_same KEY: the process PID:START still runs (the pid was not given to another process meanwhile).
still_same() { _stat "${1%%:*}" && [[ $_START == "${1#*:}" && $_STATE != Z ]]; }
