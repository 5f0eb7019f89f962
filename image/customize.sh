#!/bin/sh
# mmdebstrap customize hook: turns the Debian chroot at $1 into the tillbox
# appliance (users, units, read-only root, no passwords, nothing secret).
set -eu
r=$1
run_in() { chroot "$r" "$@"; }

run_in useradd --system --home-dir /var/lib/tillbox --no-create-home --shell /usr/sbin/nologin --user-group tillbox
for g in dialout lp plugdev; do run_in usermod -a -G "$g" tillbox; done
# No password login anywhere: root is locked, no other account has a shell.
run_in passwd -l root >/dev/null
# No SSH server is installed; an installer adds one (key-only) deliberately.

ln -sf /opt/tillbox/bin/tillbox "$r/usr/local/bin/tillbox"
ln -sf /opt/tillbox/node_modules/node/bin/node "$r/usr/local/bin/node"
chmod 0755 "$r/usr/lib/tillbox/firstboot.sh"
# Partitions by GPT PARTLABEL (amd64); image/arm64.sh's MBR disk exports PARTUUIDs
# and the Pi's boot partition mount point.
root_dev=${TILLBOX_ROOT_DEV:-PARTLABEL=tillbox-root-a}
boot_dev=${TILLBOX_BOOT_DEV:-PARTLABEL=tillbox-esp}
boot_dir=${TILLBOX_BOOT_DIR:-/boot/efi}
data_dev=${TILLBOX_DATA_DEV:-PARTLABEL=tillbox-data}
mkdir -p "$r/var/lib/tillbox" "$r$boot_dir"

cat >"$r/etc/fstab" <<FSTAB
# tillbox: read-only root; state on the data partition; scratch in RAM.
$(printf '%-25s %-18s %-6s %s' "$root_dev" / ext4 'ro,noatime,errors=remount-ro  0 1')
$(printf '%-25s %-18s %-6s %s' "$boot_dev" "$boot_dir" vfat 'ro,umask=0077,noauto,x-systemd.automount  0 2')
$(printf '%-25s %-18s %-6s %s' "$data_dev" /var/lib/tillbox ext4 'rw,noatime,nodev,nosuid,noexec  0 2')
tmpfs                     /tmp               tmpfs  mode=1777,nosuid,nodev,size=64M  0 0
tmpfs                     /var/tmp           tmpfs  mode=1777,nosuid,nodev,size=16M  0 0
tmpfs                     /var/log           tmpfs  mode=0755,nosuid,nodev,size=16M  0 0
tmpfs                     /var/lib/systemd   tmpfs  mode=0755,nosuid,nodev,size=8M   0 0
FSTAB
echo tillbox >"$r/etc/hostname"
# The image version health reports (appliance/health/machine.ts reads /etc/tillbox-image).
sed -n 's/.*"version":"\([^"]*\)","commit":"\([^"]*\)","arch":"\([^"]*\)".*/\1+\2 \3/p' "$r/opt/tillbox/image-version.json" >"$r/etc/tillbox-image"
# Each box makes its own machine id at boot (the image carries none).
: >"$r/etc/machine-id"
mkdir -p "$r/var/lib/dbus" && ln -sf /etc/machine-id "$r/var/lib/dbus/machine-id"
ln -sf /run/systemd/resolve/stub-resolv.conf "$r/etc/resolv.conf"

run_in systemctl enable tillbox-firstboot.service tillbox-core.service tillbox-devices.service tillbox-flows.service \
  nftables.service systemd-networkd.service systemd-resolved.service systemd-timesyncd.service >/dev/null 2>&1
run_in systemctl mask getty@tty1.service serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service >/dev/null 2>&1 || true

# Smaller image: no docs, manuals, locales, apt lists or caches.
rm -rf "$r/usr/share/doc" "$r/usr/share/man" "$r/usr/share/info" "$r/var/cache/apt"/* "$r/var/lib/apt/lists"/*
find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'en*' -exec rm -rf {} + 2>/dev/null || true
# Nothing secret is baked in: no host keys, no tillbox state.
rm -rf "$r/etc/ssh/ssh_host_"* "$r/var/lib/tillbox"/*
