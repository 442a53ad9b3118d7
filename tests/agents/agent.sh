#!/bin/sh
# A stand-in coding agent for the session tests (tests/it/sessions.rs). It does
# what the runtime cares about in a real agent; the executor profile's `env`
# sets its behaviour:
#   AGENT_LINES    lines of output to print (default 3)
#   AGENT_DELAY    seconds to sleep between lines (default 0)
#   AGENT_EXIT     exit code (default 0)
#   AGENT_TRAP     "int" ignores SIGINT, "int,term" ignores SIGINT and SIGTERM
#   AGENT_STDIN=1  read the prompt from stdin instead of the last argument
#   AGENT_RECORD   append "<session id> <turn>" to this file (runner race test)
#   AGENT_CHILD=1  start a helper first (a long `sleep` that ignores SIGINT
#                  and SIGTERM, so only SIGKILL ends it) and print its pid
# Like Claude Code, it prints its conversation id as JSON (`session_id`) and
# takes `--resume ID` to continue a conversation. It appends the prompt to
# agent-notes.txt in its working directory: the work it leaves behind.
set -u
resume=""
if [ "${1:-}" = "--resume" ]; then
    resume="$2"
    shift 2
fi
if [ "${AGENT_STDIN:-0}" = "1" ]; then
    prompt=$(cat)
else
    prompt="${1:-}"
fi
case "${AGENT_TRAP:-}" in *int*) trap 'echo "agent: got SIGINT, ignoring it"' INT ;; esac
case "${AGENT_TRAP:-}" in *term*) trap 'echo "agent: got SIGTERM, ignoring it"' TERM ;; esac
if [ "${AGENT_CHILD:-0}" = "1" ]; then
    sh -c 'trap "" INT TERM; exec sleep 600' &
    echo "agent: helper pid $!"
fi
conversation="${resume:-conversation-$$}"
echo "{\"type\":\"init\",\"session_id\":\"$conversation\"}"
if [ -n "$resume" ]; then
    echo "agent: resumed conversation $resume"
fi
echo "agent: prompt: $prompt"
echo "agent: working in $(pwd)" >&2
printf '%s\n' "$prompt" >> agent-notes.txt
if [ -n "${AGENT_RECORD:-}" ]; then
    echo "${VK_SESSION_ID} ${VK_TURN}" >> "$AGENT_RECORD"
fi
i=1
while [ "$i" -le "${AGENT_LINES:-3}" ]; do
    echo "agent: line $i"
    if [ "${AGENT_DELAY:-0}" != "0" ]; then
        sleep "$AGENT_DELAY"
    fi
    i=$((i + 1))
done
echo "agent: done" >&2
exit "${AGENT_EXIT:-0}"
