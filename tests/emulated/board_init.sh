#!/bin/sh
# PID 1 of one emulated SSH board: runs in fresh PID and mount namespaces (unshare --pid --mount
# --fork --kill-child), in the host's network namespace (sshd listens on 127.0.0.1:<its port>).
# Mounts exist only in this mount namespace; then it becomes sshd, without CAP_SYS_BOOT. Killing it
# kills every session of the board (the PID namespace goes with its PID 1).
#
# Environment (set by sshd.py):
#   BOARD_DIR   host folder of the board: etc/ (sshd_config, host key, passwd, group, shadow),
#   BOARD_HOME  host folder bound at /home (the login user's home is /home/USER)
#   BOARD_ROOT  empty: the board is the host's own file system (x86_64); else an arm64 Debian root
#               file system, entered with chroot and run through qemu-user (never with /sys mounted:
#               XNNPACK's CPU detection crashes under qemu when it is)
#   BOARD_JAIL  the no-Python board's tree (busybox), bound at /srv, sshd's ChrootDirectory
#   BOARD_SSHD_CONFIG  sshd_config path as sshd sees it
set -eu

mount --make-rprivate /

if [ -z "${BOARD_ROOT:-}" ]; then
    # The host's file system, with the board's accounts and homes in place of the host's.
    mount -t proc -o nosuid,nodev,noexec proc /proc
    for f in passwd group shadow; do
        mount --bind "$BOARD_DIR/etc/$f" "/etc/$f"
    done
    mount --bind "$BOARD_HOME" /home
    if [ -n "${BOARD_JAIL:-}" ]; then
        # ChrootDirectory needs every path component root-owned and not writable by others (/tmp is):
        # the jail is bound at /srv (root 0755) in this namespace only.
        mount --bind "$BOARD_JAIL" /srv
        for n in null zero urandom tty; do
            mount --bind "/dev/$n" "/srv/dev/$n"
        done
        mount -t proc -o nosuid,nodev,noexec proc /srv/proc
        mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /srv/sys
    fi
    mkdir -p /run/sshd
    exec setpriv --bounding-set -sys_boot --inh-caps -sys_boot -- \
        /usr/sbin/sshd -D -e -f "$BOARD_SSHD_CONFIG"
fi

R="$BOARD_ROOT"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t tmpfs -o mode=1777,size=512m tmp "$R/tmp"
mount -t tmpfs -o mode=755,size=16m run "$R/run"
mkdir -p "$R/run/sshd" "$R/run/harness"
mount --bind "$BOARD_DIR/etc" "$R/run/harness"
mount -o remount,bind,ro "$R/run/harness"
for f in passwd group shadow; do
    mount --bind "$BOARD_DIR/etc/$f" "$R/etc/$f"
done
mount --bind "$BOARD_HOME" "$R/home"

# A minimal /dev: the harmless character devices and a private devpts for PTY sessions.
mount -t tmpfs -o mode=755,size=1m dev "$R/dev"
for n in null zero full random urandom tty; do
    : > "$R/dev/$n"
    mount --bind "/dev/$n" "$R/dev/$n"
done
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777,size=64m shm "$R/dev/shm"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"

exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    setpriv --bounding-set -sys_boot --inh-caps -sys_boot -- \
    chroot "$R" /usr/sbin/sshd -D -e -f "$BOARD_SSHD_CONFIG"
