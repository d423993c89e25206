#!/usr/bin/env bash
# Runs a command with a deadline:
#
#   Tests/run-with-deadline.sh SECONDS COMMAND [ARGUMENT...]
#
# If the command (or anything it started) still runs at the deadline, this
# prints what every thread of every process it started waits in (name, state,
# kernel wait channel, top of the kernel stack, and each userfaultfd's
# counters), kills them all and exits 124. Processes the command leaves behind
# when it ends are reported and killed too, and fail the run (exit 125), since
# they would hold its output open. Otherwise it exits with the command's status.
#
# Why, beside the tests' own watchdog: a process can hang so that nothing in
# it can report. A thread stuck inside fork() (a userfaultfd FORK event nobody
# reads) holds glibc's allocator locks, and every thread that allocates, the
# watchdog included, waits behind it. /proc still answers from outside.
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 SECONDS COMMAND [ARGUMENT...]" >&2
  exit 64
fi
for tool in pgrep pkill setsid; do
  command -v "$tool" > /dev/null || { echo "$0: needs $tool (procps, util-linux)" >&2; exit 69; }
done
seconds=$1
shift

# A session of its own, so that everything the command starts can be found
# (and killed) by session id. Run from make or a script (no job control), the
# background job is no process group leader, so setsid execs in place and $!
# is the session's id.
setsid "$@" &
leader=$!

kill_all() {
  pkill -KILL -s "$leader" 2> /dev/null
  kill -KILL "$leader" 2> /dev/null
}
trap 'kill_all; exit 130' INT
trap 'kill_all; exit 143' TERM
trap 'kill_all; exit 129' HUP

report() {
  echo "run-with-deadline: $1: ${*:2}"
  for pid in $(pgrep -s "$leader"); do
    [ -r "/proc/$pid/cmdline" ] || continue
    echo "== process $pid: $(tr '\0' ' ' < "/proc/$pid/cmdline" | cut -c1-200)"
    for task in /proc/"$pid"/task/*; do
      # The state follows the parenthesised name, which may hold spaces.
      state=$(sed 's/.*) //' "$task/stat" 2> /dev/null | cut -d' ' -f1)
      echo "-- thread ${task##*/} $(cat "$task/comm" 2> /dev/null)" \
           "state $state waits in $(cat "$task/wchan" 2> /dev/null)"
      head -6 "$task/stack" 2> /dev/null | sed 's/^/     /'
    done
    for fd in /proc/"$pid"/fd/*; do
      case "$(readlink "$fd" 2> /dev/null)" in
        *userfaultfd*) echo "-- userfaultfd ${fd##*/}: $(tr '\n\t' '  ' < "/proc/$pid/fdinfo/${fd##*/}")" ;;
      esac
    done
  done
}

deadline=$(( $(date +%s) + seconds ))
while kill -0 "$leader" 2> /dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    report "still running after $seconds s" "$@" >&2
    kill_all
    wait "$leader" 2> /dev/null
    exit 124
  fi
  sleep 1
done
wait "$leader"
status=$?

# What the command left behind: a few seconds to end, then reported and killed.
for _ in 1 2 3 4 5; do
  pgrep -s "$leader" > /dev/null || exit "$status"
  sleep 1
done
report "left running after the command ended (status $status)" "$@" >&2
kill_all
[ "$status" -ne 0 ] && exit "$status"
exit 125
