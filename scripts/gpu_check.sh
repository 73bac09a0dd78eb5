#!/usr/bin/env bash
# One prepared measurement of DIFFA decoding on a GPU: LLaDA-8B's shape in random bf16 weights, every
# decoding mode at batch 1, 8 and 32 against exact decoding at batch 1, one forward pass against the H200
# lower bounds, the attention kernel, compiled layers, peak memory and versions. Writes gpu_check.json
# and gpu_check.md into --output. It ends within --budget seconds (default 450: on one H200 it ends
# within 8 minutes, start of Python included); steps that no longer fit are skipped and say so, and
# the files are written after every measurement. --smoke runs the same steps with tiny models on a
# CPU (default budget 90 s; about 30 s on two idle cores).
#
#   bash scripts/gpu_check.sh --output results/bench/h200 [--smoke] [--budget SECONDS]
#
# Python: $DIFFA_EVAL_PYTHON if set, else .venv/bin/python, else python3, whichever has torch and
# transformers (and, without --smoke, a CUDA device); the repository is put on PYTHONPATH, so nothing
# needs installing. Without any, `make setup` builds .venv first (a few minutes; needs the package index).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

output=""
smoke=""
budget=""
while [ $# -gt 0 ]; do
    case "$1" in
        --output) output="${2:-}"; shift 2 ;;
        --output=*) output="${1#--output=}"; shift ;;
        --smoke) smoke="--smoke"; shift ;;
        --budget) budget="${2:-}"; shift 2 ;;
        --budget=*) budget="${1#--budget=}"; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$output" ]; then
    echo "gpu_check: --output DIR is required" >&2
    exit 2
fi
if [ -z "$budget" ]; then
    budget=$([ -n "$smoke" ] && echo 90 || echo 450)
fi
mkdir -p "$output" || exit 2

usable() {
    # torch and transformers import, and without --smoke torch sees a CUDA device.
    local check="import torch, transformers, numpy"
    [ -z "$smoke" ] && check="$check; assert torch.cuda.is_available()"
    "$1" -c "$check" >/dev/null 2>&1
}

python=""
setup="found"
for candidate in "${DIFFA_EVAL_PYTHON:-}" .venv/bin/python python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && usable "$candidate"; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ] && [ ! -x .venv/bin/python ]; then
    echo "gpu_check: no Python with torch and transformers; running make setup" >&2
    setup_started=$(date +%s)
    make setup >&2 || { echo "gpu_check: make setup failed" >&2; exit 1; }
    setup="make setup took $(( $(date +%s) - setup_started )) s"
    usable .venv/bin/python && python=.venv/bin/python
fi
if [ -z "$python" ]; then
    echo "gpu_check: no Python with torch, transformers and$([ -z "$smoke" ] && echo ' a CUDA device') found" >&2
    exit 1
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export GPU_CHECK_SETUP="$python ($setup)"
export PYTHONUNBUFFERED=1

# The steps get what is left of the budget less a margin for Python's start and the last files (20 s; the
# smoke's 10 s); at the deadline
# the process is told to stop (it records the step in progress as stopped and writes its files), and
# killed 15 s later. A crash (a killed or failed process) resumes at the next step while a minute is left.
deadline=$(( started + ${budget%.*} ))
margin=$([ -n "$smoke" ] && echo 10 || echo 20)
resume=""
for attempt in 1 2 3; do
    left=$(( deadline - $(date +%s) ))
    [ "$left" -le 30 ] && break
    timeout --signal=TERM --kill-after=15 "$left" \
        "$python" scripts/gpu_check.py --output "$output" $smoke --budget $(( left - margin )) $resume
    status=$?
    if [ "$status" -eq 0 ]; then
        echo "gpu_check: wrote $output/gpu_check.json and $output/gpu_check.md"
        exit 0
    fi
    echo "gpu_check: attempt $attempt ended with status $status" >&2
    [ "$status" -eq 124 ] && break
    [ $(( deadline - $(date +%s) )) -lt 60 ] && break
    resume="--resume"
done
[ -f "$output/gpu_check.json" ] && echo "gpu_check: partial results in $output/gpu_check.json and gpu_check.md"
exit 1
