# lease.sh - a lease on this device, kept on the device (host side: harness/lease.py).
# POSIX sh: Android's mksh + toybox, Debian dash + coreutils, busybox ash. Run as one command:
#   sh -c "$(cat lease.sh)" lease OP DIR EPOCH TOKEN HOLDER TTL
#
# DIR holds one symlink per lease epoch, named by a number; its target is "HOLDER EXPIRES TOKEN"
# (EXPIRES: the first second, by this device's `date +%s`, at which the lease is free; 0 =
# released). The highest number is the current lease. Only the creator of an epoch ever
# rewrites it (renew, release: temp link + rename, atomic); taking over creates the next
# number with `ln -s`, which fails when the name exists: of two racing takers, one wins and
# nothing of anyone else's is ever removed. A taker re-reads the epoch it replaces AFTER its
# claim and backs off if that came back to life; a renewer checks for a newer epoch AFTER its
# write. So either the taker sees the renewal, or the renewer sees the claim (and reports lost).
#
# Prints now=, epoch=, lease= (the current epoch's target), state=; exits 0 acquired /
# renewed / released / read, 3 busy, 4 lost (not ours any more), 2 error.
op=$1 d=$2 n=$3 tok=$4 who=$5 ttl=$6
mkdir -p "$d" || exit 2
top() {
  t=0
  for e in "$d"/*; do
    e=${e##*/}
    case $e in ''|*[!0-9]*) continue ;; esac
    if [ "$e" -gt "$t" ]; then t=$e; fi
  done
  echo "$t"
}
expires() {
  set -- $1
  case ${2-} in ''|*[!0-9]*) echo 0 ;; *) echo "$2" ;; esac
}
ours() {
  set -- $1
  [ "${3-}" = "$tok" ]
}
link() {
  rm -f "$d/.tmp.$tok"
  ln -s "$who $1 $tok" "$d/.tmp.$tok" && mv -f "$d/.tmp.$tok" "$d/$n"
}
say() {
  echo "now=$now"
  echo "epoch=$1"
  echo "lease=$2"
  echo "state=$3"
  exit "$4"
}
current() {
  m=$(top)
  c=
  if [ "$m" -gt 0 ]; then c=$(readlink "$d/$m" 2>/dev/null); fi
}
now=$(date +%s) || exit 2
case $op in
read)
  current
  say "$m" "$c" read 0 ;;
acquire)
  i=0
  while [ "$i" -lt 8 ]; do
    i=$((i + 1))
    now=$(date +%s)
    current
    if [ "$m" -gt 0 ]; then
      if [ -z "$c" ]; then continue; fi
      if [ "$now" -lt "$(expires "$c")" ]; then say "$m" "$c" busy 3; fi
    fi
    n=$((m + 1))
    x=$((now + ttl))
    ln -s "$who $x $tok" "$d/$n" 2>/dev/null || continue
    if [ "$(top)" -ne "$n" ]; then rm -f "$d/$n"; continue; fi
    if [ "$m" -gt 0 ]; then
      p=$(readlink "$d/$m" 2>/dev/null)
      now=$(date +%s)
      if [ -n "$p" ] && [ "$now" -lt "$(expires "$p")" ]; then
        rm -f "$d/$n"
        say "$m" "$p" busy 3
      fi
    fi
    for e in "$d"/*; do
      e=${e##*/}
      case $e in ''|*[!0-9]*) continue ;; esac
      if [ "$e" -lt "$m" ]; then rm -f "$d/$e"; fi
    done
    say "$n" "$who $x $tok" acquired 0
  done
  current
  say "$m" "$c" busy 3 ;;
renew|release)
  c=$(readlink "$d/$n" 2>/dev/null)
  if ! ours "$c"; then current; say "$m" "$c" lost 4; fi
  if [ "$(top)" -ne "$n" ]; then
    link 0
    current
    say "$m" "$c" lost 4
  fi
  x=0
  if [ "$op" = renew ]; then x=$((now + ttl)); fi
  link "$x" || exit 2
  if [ "$(top)" -ne "$n" ]; then
    link 0
    current
    say "$m" "$c" lost 4
  fi
  if [ "$op" = renew ]; then say "$n" "$who $x $tok" renewed 0; fi
  say "$n" "$who 0 $tok" released 0 ;;
esac
echo "lease.sh: unknown operation '$op'" >&2
exit 2
