#!/bin/sh
# Lock (or restore) CPU frequencies for benchmarking. POSIX sh; toybox / busybox compatible.
# Usage: sh tune.sh lock|reset|status STATE_FILE
#   lock   : save each CPU's governor and min/max, then governor=performance and min=max=cpuinfo_max
#   reset  : restore what lock saved, then remove STATE_FILE
#   status : print each CPU's governor and min/max
# Output, one line per step: "cpuN ok ..." / "cpuN unavailable: REASON" / "cpuN restored ...".
# HARNESS_SYSFS replaces /sys (tests use a fake tree).
op=${1:-status}; state=${2:-/tmp/harness-tune.state}
sys=${HARNESS_SYSFS:-/sys}
found=0
rd() { head -n 1 "$1" 2>/dev/null; }
wr() { printf '%s\n' "$2" > "$1" 2>/dev/null; }

if [ "$op" = lock ] && [ ! -f "$state" ]; then
  : > "$state" 2>/dev/null || { echo "all unavailable: cannot write $state"; exit 3; }
  for c in "$sys"/devices/system/cpu/cpu[0-9]*; do
    f="$c/cpufreq"; [ -d "$f" ] || continue
    echo "${c##*/} $(rd "$f/scaling_governor") $(rd "$f/scaling_min_freq") $(rd "$f/scaling_max_freq")" >> "$state"
  done
fi
for c in "$sys"/devices/system/cpu/cpu[0-9]*; do
  f="$c/cpufreq"; [ -d "$f" ] || continue
  found=1; n=${c##*/}
  case "$op" in
    status)
      echo "$n status governor=$(rd "$f/scaling_governor") min=$(rd "$f/scaling_min_freq") max=$(rd "$f/scaling_max_freq") top=$(rd "$f/cpuinfo_max_freq")";;
    lock)
      top=$(rd "$f/cpuinfo_max_freq")
      if ! wr "$f/scaling_governor" performance; then echo "$n unavailable: cannot set the governor (not root?)"; continue; fi
      wr "$f/scaling_max_freq" "$top"; wr "$f/scaling_min_freq" "$top"
      g=$(rd "$f/scaling_governor"); lo=$(rd "$f/scaling_min_freq"); hi=$(rd "$f/scaling_max_freq")
      if [ "$g" = performance ] && [ "$lo" = "$top" ] && [ "$hi" = "$top" ]; then
        echo "$n ok governor=performance min=$lo max=$hi"
      else
        echo "$n unavailable: read back governor=$g min=$lo max=$hi (wanted performance, $top)"
      fi;;
    reset)
      line=$(grep "^$n " "$state" 2>/dev/null)
      if [ -z "$line" ]; then echo "$n unavailable: nothing saved for it"; continue; fi
      set -- $line
      wr "$f/scaling_min_freq" "$3"; wr "$f/scaling_max_freq" "$4"; wr "$f/scaling_min_freq" "$3"
      wr "$f/scaling_governor" "$2"
      echo "$n restored governor=$(rd "$f/scaling_governor") min=$(rd "$f/scaling_min_freq") max=$(rd "$f/scaling_max_freq")";;
  esac
done
[ "$op" = reset ] && rm -f "$state"
if [ "$found" != 1 ]; then
  [ "$op" = lock ] && rm -f "$state"
  echo "all unavailable: no cpufreq in $sys/devices/system/cpu (a VM or an emulator?)"; exit 3
fi
exit 0
