#!/bin/sh
# PID 1 of one emulated device: runs inside the device's network namespace, in fresh PID and mount
# namespaces (unshare --pid --mount --fork --kill-child), already under the no-vsock seccomp filter.
# Builds the device's file system view under $DEV_ROOT with mounts that exist only in this mount
# namespace, then becomes adbd: without CAP_SYS_BOOT, chrooted, with a clean environment.
#
# Environment (set by adb_device.py):
#   DEV_ROOT     the device's root: a skeleton (x86_64, host /usr and /etc bound read-only) or an
#                unpacked arm64 Debian root file system
#   DEV_DIR      host folder of this device: data/ (-> /data) and system/ (-> /system: getprop, python)
#   DEV_SKELETON 1 when DEV_ROOT is a skeleton that needs the host's /usr and /etc
#   DEV_SYS      1 to mount sysfs read-only at /sys (never for arm64: XNNPACK under qemu crashes on it)
#   DEV_RO_BINDS colon-separated host paths bound read-only at the same path (the host Python)
#   ADBD_DIR     the unpacked adbd debs (bound read-only at /opt/adbd)
#   DEV_LDSO, DEV_LIBPATH  the device's dynamic loader and adbd's library path inside the root
#   DEV_PATH     PATH of adbd and so of every `adb shell`
set -eu
R="$DEV_ROOT"

ro_bind() {
    mkdir -p "$2"
    mount --bind "$1" "$2"
    mount -o remount,bind,ro "$2"
}

mount --make-rprivate /
# The device's own /tmp first: the binds below may lie under the host's /tmp (a checkout there, its
# .venv), and a tmpfs mounted after them would hide them.
mkdir -p "$R/tmp"
mount -t tmpfs -o mode=1777,size=512m tmp "$R/tmp"
if [ "${DEV_SKELETON:-0}" = 1 ]; then
    ro_bind /usr "$R/usr"
    ro_bind /etc "$R/etc"
fi
if [ -n "${DEV_RO_BINDS:-}" ]; then
    old_ifs=$IFS
    IFS=:
    for p in $DEV_RO_BINDS; do
        ro_bind "$p" "$R$p"
    done
    IFS=$old_ifs
fi
mkdir -p "$R/data" "$R/system" "$R/opt/adbd" "$R/tmp" "$R/proc" "$R/dev"
mount --bind "$DEV_DIR/data" "$R/data"
mount --bind "$DEV_DIR/system" "$R/system"
ro_bind "$ADBD_DIR" "$R/opt/adbd"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
if [ "${DEV_SYS:-0}" = 1 ]; then
    mkdir -p "$R/sys"
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
fi

# A minimal /dev: the harmless character devices and a private devpts for adb's PTY shells.
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

exec env -i PATH="$DEV_PATH" HOME=/data/local/tmp TMPDIR=/data/local/tmp ANDROID_DATA=/data \
    ANDROID_ROOT=/system EXTERNAL_STORAGE=/data/local/tmp \
    setpriv --bounding-set -sys_boot --inh-caps -sys_boot -- \
    chroot "$R" "$DEV_LDSO" --library-path "$DEV_LIBPATH" /opt/adbd/usr/lib/android-sdk/platform-tools/adbd
