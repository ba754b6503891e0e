#!/bin/sh
# Device facts for harness, as key=value lines. POSIX sh; toybox / busybox compatible.
# Usage: sh device_facts.sh [all|thermal]
# Keys are stable (the host parser reads them); a fact that cannot be read is left out.
mode=${1:-all}

rd() { [ -r "$1" ] && head -n 1 "$1" 2>/dev/null | tr -d '\000'; }
# rl FILE: its first line into $v with the shell's own read (no process: a phone has dozens of
# thermal zones, read twice per run); false when it is missing, unreadable or empty
rl() { v=; IFS= read -r v 2>/dev/null < "$1"; [ -n "$v" ]; }

thermal() {
  for z in "${HARNESS_SYSFS:-/sys}"/class/thermal/thermal_zone*; do
    [ -d "$z" ] || continue
    rl "$z/temp" || continue
    t=$v
    rl "$z/type" || v=unknown
    echo "thermal.${z##*/}=$v:$t"
  done
  rl "${HARNESS_SYSFS:-/sys}"/class/power_supply/battery/temp && echo "battery.temp=$v"
  if command -v dumpsys >/dev/null 2>&1; then
    s=$(dumpsys thermalservice 2>/dev/null | grep -m 1 'Thermal Status:' | sed 's/.*Thermal Status: *//')
    [ -n "$s" ] && echo "thermal.status=$s"
  fi
  if command -v vcgencmd >/dev/null 2>&1; then
    t=$(vcgencmd get_throttled 2>/dev/null | cut -d= -f2)
    [ -n "$t" ] && echo "rpi.throttled=$t"
  fi
}

if [ "$mode" = thermal ]; then
  thermal
  exit 0
fi

# one uname: kernel name, node name, release and machine, in that order (none has a space)
u=$(uname -s -n -r -m 2>/dev/null)
set -- $u
echo "uname.m=${4:-}"
echo "uname.s=${1:-}"
echo "uname.r=${3:-}"
echo "hostname=${2:-}"
m=$(rd /proc/device-tree/model)
[ -n "$m" ] && echo "dt.model=$m"
m=$(rd /sys/class/dmi/id/product_name)
[ -n "$m" ] && echo "dmi.product=$m"
if [ -r /etc/os-release ]; then
  p=$(grep '^PRETTY_NAME=' /etc/os-release | head -n 1 | cut -d= -f2- | tr -d '"')
  [ -n "$p" ] && echo "os.pretty=$p"
fi
g=$(getconf GNU_LIBC_VERSION 2>/dev/null | cut -d' ' -f2)
[ -n "$g" ] && echo "glibc=$g"
for p in python3 python; do  # --version: no interpreter start-up (2-4 ms of CPU, not 25-60 ms)
  if command -v "$p" >/dev/null 2>&1; then
    v=$("$p" --version 2>&1)
    case "$v" in
      "Python "[0-9]*) echo "python=${v#Python }";;
      *) echo "python=";;
    esac
    break
  fi
done
if command -v getprop >/dev/null 2>&1; then
  # one getprop listing ("[key]: [value]" lines), the keys harness reads picked by one sed
  getprop 2>/dev/null | sed -n -E 's/^\[(ro\.product\.model|ro\.product\.manufacturer|ro\.soc\.model|ro\.board\.platform|ro\.product\.cpu\.abilist|ro\.build\.version\.sdk|ro\.build\.fingerprint|ro\.kernel\.qemu|ro\.boot\.qemu|ro\.hardware)\]: \[(.+)\]$/prop.\1=\2/p'
fi
if [ -r /proc/cpuinfo ]; then
  c=$(grep -m 1 -i '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  [ -z "$c" ] && c=$(grep -m 1 -i '^Hardware' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  [ -n "$c" ] && echo "cpu.model=$c"
  grep -i '^CPU part' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' | sort | uniq -c | \
    while read -r n part; do echo "cpu.part.$part=$n"; done
fi
n=$(grep -c '^processor' /proc/cpuinfo 2>/dev/null)
[ -n "$n" ] && echo "cpu.cores=$n"
for c in "${HARNESS_SYSFS:-/sys}"/devices/system/cpu/cpu[0-9]*; do
  [ -d "$c/cpufreq" ] || continue
  f=$(rd "$c/cpufreq/cpuinfo_max_freq")
  g=$(rd "$c/cpufreq/scaling_governor")
  echo "cpufreq.${c##*/}=${f:-}:${g:-}"
  echo "cpuscaling.${c##*/}=$(rd "$c/cpufreq/scaling_min_freq"):$(rd "$c/cpufreq/scaling_max_freq")"
done
if [ -r /sys/class/power_supply/battery/capacity ]; then
  echo "battery.level=$(rd /sys/class/power_supply/battery/capacity)"
fi
thermal
