#!/usr/bin/env bash
# Build, or restore from the cache, the arm64 Debian (bookworm) root file system of the emulated
# boards and arm64 devices: python3 + a venv (/opt/venv) with numpy and ai-edge-litert, openssh-server,
# the arm64 adbd (/opt/adbd) and a default getprop (/system/bin). Runs through qemu-user (binfmt).
#
#   tests/emulated/build_arm64_rootfs.sh          # prints the unpacked root file system's path
#
# Cache (outside the repository), keyed by this script's sha256 and the adbd debs:
#   ${XDG_CACHE_HOME:-~/.cache}/harness-tests/arm64-rootfs-KEY.tar.zst   (~100 MB, unpacks in ~1 s)
#   ${XDG_CACHE_HOME:-~/.cache}/harness-tests/arm64-rootfs-KEY/          (the unpacked tree)
# A full build takes ~5 minutes (debootstrap's second stage under qemu). Needs root, debootstrap,
# qemu-user-static, binfmt-support, zstd and the Debian mirror (pip wheels from PyPI on the host).
# /sys is never mounted in it: XNNPACK's CPU detection under qemu crashes walking the host's /sys.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
PY="${PYTHON:-python3}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/harness-tests"
LITERT_VERSION="2.3.0"   # the version pyproject.toml pins
SUITE="bookworm"

log() { echo "build_arm64_rootfs: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
for tool in debootstrap qemu-aarch64-static update-binfmts zstd tar sha256sum unshare; do
    command -v "$tool" >/dev/null || die "$tool missing: apt-get install debootstrap qemu-user-static binfmt-support zstd"
done

# binfmt: run aarch64 ELF files through qemu-aarch64-static (flag F: works inside the chroot).
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >&2
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || update-binfmts --enable qemu-aarch64 >&2

mkdir -p "$CACHE"
ADBD_DIR="$("$PY" "$HERE/adbd_fetch.py" --arch arm64 | sed -n 's/^arm64: \(.*\)\/usr\/lib\/android-sdk.*/\1/p')"
[ -x "$ADBD_DIR/usr/lib/android-sdk/platform-tools/adbd" ] || die "could not fetch the arm64 adbd"
KEY="$(cat "$SELF" "$ADBD_DIR/.complete" | sha256sum | cut -c1-16)"
TARBALL="$CACHE/arm64-rootfs-$KEY.tar.zst"
DEST="$CACHE/arm64-rootfs-$KEY"

exec 9>"$CACHE/.arm64-rootfs.lock"
flock 9

if [ -f "$DEST/.harness-rootfs-complete" ]; then
    echo "$DEST"
    exit 0
fi

WORK="$(mktemp -d "$CACHE/.arm64-rootfs-XXXXXX")"
cleanup() {
    # Nothing may stay mounted under WORK (the builds run in private mount namespaces anyway).
    if grep -q " $WORK/" /proc/self/mountinfo; then
        log "mounts left under $WORK; not deleting it"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
R="$WORK/root"

if [ -f "$TARBALL" ]; then
    log "restoring $TARBALL"
    mkdir "$R"
    tar -C "$R" --numeric-owner -I zstd -xf "$TARBALL"
else
    MIRROR="${MIRROR:-$("$PY" "$HERE/adbd_fetch.py" --print-mirror)}"
    log "debootstrap (first stage) from $MIRROR"
    debootstrap --arch=arm64 --foreign --variant=minbase \
        --include=python3,python3-venv,openssh-server "$SUITE" "$R" "$MIRROR" >&2
    # No daemon may start during package configuration (sshd would bind the host's :22).
    printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
    chmod 755 "$R/usr/sbin/policy-rc.d"
    log "debootstrap (second stage, under qemu: a few minutes)"
    # Own network, PID and mount namespaces: nothing it starts can reach the host's network,
    # outlive the build, or leave a mount (debootstrap mounts /proc and /sys while it runs).
    unshare --net --pid --mount --fork --kill-child --propagation private \
        chroot "$R" /debootstrap/debootstrap --second-stage >&2

    log "aarch64 wheels (host pip) -> venv /opt/venv"
    WHEELS="$CACHE/arm64-wheels-$LITERT_VERSION"
    if [ ! -f "$WHEELS/.complete" ]; then
        rm -rf "$WHEELS"
        "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
            --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64 --python-version 3.11 \
            --dest "$WHEELS" "ai-edge-litert==$LITERT_VERSION" numpy >&2
        touch "$WHEELS/.complete"
    fi
    mkdir -p "$R/tmp/wheels"
    cp "$WHEELS"/*.whl "$R/tmp/wheels/"
    unshare --net --pid --mount --fork --kill-child --propagation private chroot "$R" /bin/sh -euc '
        mount -t proc proc /proc
        python3 -m venv /opt/venv
        /opt/venv/bin/pip install --quiet --disable-pip-version-check --no-index --find-links /tmp/wheels \
            "ai-edge-litert=='"$LITERT_VERSION"'" numpy
        /opt/venv/bin/python -c "import numpy, ai_edge_litert; print(\"venv ok: numpy\", numpy.__version__)"
        umount /proc
    ' >&2
    rm -rf "$R/tmp/wheels"

    log "adbd, getprop, Android-like folders"
    mkdir -p "$R/opt/adbd" "$R/system/bin" "$R/system/xbin" "$R/data/local/tmp"
    cp -a "$ADBD_DIR/." "$R/opt/adbd/"
    cat > "$R/system/bin/getprop" <<'EOF'
#!/bin/sh
# Default getprop of the arm64 root file system; each emulated device binds its own /system over this.
case "${1-}" in
    '') printf '[ro.product.cpu.abilist]: [arm64-v8a]\n[sys.boot_completed]: [1]\n' ;;
    ro.product.cpu.abilist) echo arm64-v8a ;;
    sys.boot_completed) echo 1 ;;
    *) printf '%s\n' "${2-}" ;;
esac
EOF
    chmod 755 "$R/system/bin/getprop"
    ln -sf /opt/venv/bin/python3 "$R/system/bin/python3"
    rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R/debootstrap"
    touch "$R/.harness-rootfs-complete"

    log "caching $TARBALL"
    tar -C "$R" --numeric-owner -I 'zstd -T0 -3' -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
fi

rm -rf "$DEST"
mv "$R" "$DEST"
echo "$DEST"
