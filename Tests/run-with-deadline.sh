#!/usr/bin/env bash
# Runs a command with a deadline:
#
#   Tests/run-with-deadline.sh SECONDS COMMAND [ARGUMENT...]
#
# If the command (or anything it started) still runs at the deadline, this
# prints what every thread of every process it started waits in (name, state,
# kernel wait channel, top of the kernel stack, and each userfaultfd's
# counters), kills them all and exits 124. Otherwise it exits with the
# command's status.
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
seconds=$1
shift

# A session of its own, so that everything the command starts can be found
# (and killed) by session id.
setsid "$@" &
leader=$!
trap 'pkill -KILL -s "$leader" 2>/dev/null; exit 130' INT TERM

report() {
  echo "run-with-deadline: still running after $seconds s: $*"
  for pid in $(pgrep -s "$leader"); do
    [ -r "/proc/$pid/cmdline" ] || continue
    echo "== process $pid: $(tr '\0' ' ' < "/proc/$pid/cmdline" | cut -c1-200)"
    for task in /proc/"$pid"/task/*; do
      echo "-- thread ${task##*/} $(cat "$task/comm" 2>/dev/null)" \
           "state $(awk '{print $3}' "$task/stat" 2>/dev/null) waits in $(cat "$task/wchan" 2>/dev/null)"
      head -6 "$task/stack" 2>/dev/null | sed 's/^/     /'
    done
    for fd in /proc/"$pid"/fd/*; do
      case "$(readlink "$fd" 2>/dev/null)" in
        *userfaultfd*) echo "-- userfaultfd ${fd##*/}: $(tr '\n\t' '  ' < "/proc/$pid/fdinfo/${fd##*/}")" ;;
      esac
    done
  done
}

deadline=$(( $(date +%s) + seconds ))
while kill -0 "$leader" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    report "$@" >&2
    pkill -KILL -s "$leader" 2>/dev/null
    wait "$leader" 2>/dev/null
    exit 124
  fi
  sleep 1
done
wait "$leader"
