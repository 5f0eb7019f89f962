#!/bin/sh
# mmdebstrap customize hook: turns the Debian chroot at $1 into the tillbox
# appliance (users, units, read-only root, no passwords, nothing secret).
set -eu
r=$1
run_in() { chroot "$r" "$@"; }

# One user per service: core (tillbox) owns the state dir; devices and flows
# each own only their subdirectory and get their secrets from systemd as a
# credential (LoadCredential=), never by reading core's files.
# Fixed ids: the data partition outlives root A/B updates, and a package that
# adds a system user must not shift who owns the journal and the secrets.
run_in groupadd --system --gid 900 tillbox
run_in useradd --system --uid 900 --gid 900 --home-dir /var/lib/tillbox --no-create-home --shell /usr/sbin/nologin tillbox
run_in groupadd --system --gid 901 tillbox-devices
run_in useradd --system --uid 901 --gid 901 --home-dir /var/lib/tillbox/devices --no-create-home --shell /usr/sbin/nologin tillbox-devices
run_in groupadd --system --gid 902 tillbox-flows
run_in useradd --system --uid 902 --gid 902 --home-dir /var/lib/tillbox/flows --no-create-home --shell /usr/sbin/nologin tillbox-flows
# Only the drivers touch peripherals.
for g in dialout lp plugdev; do run_in usermod -a -G "$g" tillbox-devices; done
# No password login anywhere: root is locked, no other account has a shell.
run_in passwd -l root >/dev/null
# SSH: key-only and off unless an installer gives a key (below and firstboot.sh).

ln -sf /opt/tillbox/bin/tillbox "$r/usr/local/bin/tillbox"
ln -sf /opt/tillbox/node_modules/node/bin/node "$r/usr/local/bin/node"
chmod 0755 "$r/usr/lib/tillbox/firstboot.sh" "$r/usr/lib/tillbox/restart-backoff.sh"
# Partitions by GPT PARTLABEL (amd64); image/arm64.sh's MBR disk exports PARTUUIDs
# and the Pi's boot partition mount point.
root_dev=${TILLBOX_ROOT_DEV:-PARTLABEL=tillbox-root-a}
boot_dev=${TILLBOX_BOOT_DEV:-PARTLABEL=tillbox-esp}
boot_dir=${TILLBOX_BOOT_DIR:-/boot/efi}
data_dev=${TILLBOX_DATA_DEV:-PARTLABEL=tillbox-data}
mkdir -p "$r/var/lib/tillbox" "$r$boot_dir" "$r/data"

cat >"$r/etc/fstab" <<FSTAB
# tillbox: read-only root; state on the data partition; scratch in RAM.
$(printf '%-25s %-18s %-6s %s' "$root_dev" / ext4 'ro,noatime,errors=remount-ro  0 1')
$(printf '%-25s %-18s %-6s %s' "$boot_dev" "$boot_dir" vfat 'ro,umask=0077,noauto,x-systemd.automount  0 2')
$(printf '%-25s %-18s %-6s %s' "$data_dev" /data ext4 'rw,noatime,nodev,nosuid,noexec  0 2')
/data/tillbox             /var/lib/tillbox   none   bind,nodev,nosuid,noexec,x-systemd.requires-mounts-for=/data  0 0
tmpfs                     /tmp               tmpfs  mode=1777,nosuid,nodev,size=64M  0 0
tmpfs                     /var/tmp           tmpfs  mode=1777,nosuid,nodev,size=16M  0 0
tmpfs                     /var/log           tmpfs  mode=0755,nosuid,nodev,size=16M  0 0
tmpfs                     /var/lib/systemd   tmpfs  mode=0755,nosuid,nodev,size=8M   0 0
FSTAB
echo tillbox >"$r/etc/hostname"
# A Pi has no real-time clock: systemd starts the clock no earlier than this
# file's time (the build), not 1970, until timesyncd reaches a server.
touch "$r/usr/lib/clock-epoch"
# The image version health reports (appliance/health/machine.ts reads /etc/tillbox-image).
sed -n 's/.*"version":"\([^"]*\)","commit":"\([^"]*\)","arch":"\([^"]*\)".*/\1+\2 \3/p' "$r/opt/tillbox/image-version.json" >"$r/etc/tillbox-image"
# The image carries no machine id: systemd makes one at each boot (the root is
# read-only), so nothing identifying is shared between copies; the DHCP
# identity follows the MAC (80-tillbox-lan.network).
: >"$r/etc/machine-id"
rm -f "$r/var/lib/dbus/machine-id"
ln -sf /run/systemd/resolve/stub-resolv.conf "$r/etc/resolv.conf"

run_in systemctl enable tillbox-firstboot.service tillbox-core.service tillbox-devices.service tillbox-flows.service \
  nftables.service systemd-networkd.service systemd-resolved.service systemd-timesyncd.service >/dev/null 2>&1
run_in systemctl mask getty@tty1.service serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service >/dev/null 2>&1 || true

# Smaller image: a headless till box has no sound, cameras or TV tuners, no
# GPU to drive and no InfiniBand; their kernel modules go (about 120 MB).
for k in "$r"/usr/lib/modules/*; do
  [ -d "$k/kernel" ] || continue
  rm -rf "$k/kernel/sound" "$k/kernel/drivers/media" "$k/kernel/drivers/gpu" "$k/kernel/drivers/infiniband" "$k/kernel/drivers/staging" "$k/kernel/drivers/iio"
  run_in depmod "$(basename "$k")"
done
# Smaller image: no docs, manuals, locales, apt lists or caches.
rm -rf "$r/usr/share/doc" "$r/usr/share/man" "$r/usr/share/info" "$r/var/cache/apt"/* "$r/var/lib/apt/lists"/*
find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'en*' -exec rm -rf {} + 2>/dev/null || true
# SSH for installers, key-only: sshd runs only when /data/ssh/authorized_keys
# exists (first boot copies it from the boot partition) and opens port 22 in
# the firewall itself; host keys are made on the box, never in the image.
run_in systemctl enable ssh.service >/dev/null 2>&1 || true
run_in systemctl mask ssh.socket >/dev/null 2>&1 || true
# Nothing secret is baked in: no host keys, no tillbox state.
rm -rf "$r/etc/ssh/ssh_host_"* "$r/var/lib/tillbox"/*
