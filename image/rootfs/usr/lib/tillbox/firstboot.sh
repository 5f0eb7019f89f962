#!/bin/sh
# tillbox first boot (runs every boot, acts once; see tillbox-firstboot.service).
set -eu
state=/var/lib/tillbox
done_file=$state/.firstboot-done
# Every boot: the state dir is core's; others may pass through it (0711) to
# their own directories, the only places the devices and flows units can write.
install -d -o tillbox -g tillbox -m 0711 "$state"
install -d -o tillbox-devices -g tillbox-devices -m 0700 "$state/devices"
install -d -o tillbox-flows -g tillbox-flows -m 0700 "$state/flows"
# Every boot: an installer's SSH public keys from the boot partition (key-only
# root login; sshd starts only when they exist). Host keys are made here, once.
for f in /boot/efi/authorized_keys /boot/firmware/authorized_keys; do
  if [ -f "$f" ]; then
    install -d -m 0700 /data/ssh
    install -m 0600 "$f" /data/ssh/authorized_keys
    [ -f /data/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -C "tillbox host key" -f /data/ssh/ssh_host_ed25519_key
  fi
done
[ -f "$done_file" ] && exit 0
data=$(findmnt -n -o SOURCE /data)
disk=/dev/$(lsblk -n -o PKNAME "$data" | head -n1)
part=$(cat "/sys/class/block/$(basename "$data")/partition")
# The data partition is last on the disk: grow it and its ext4 to the whole card.
growpart "$disk" "$part" || true
resize2fs "$data" || true
# An installer's settings from the boot partition (store id, enrolment URL and
# CA fingerprint), so a box can be set up by editing one file on the card.
for f in /boot/efi/tillbox.env /boot/firmware/tillbox.env; do
  if [ -f "$f" ]; then
    grep -E '^TILLBOX_[A-Z0-9_]+=[^;&|`$]*$' "$f" > "$state/environment" || true
    chown root:tillbox "$state/environment"
    chmod 0640 "$state/environment"
  fi
done
touch "$done_file"
echo "tillbox first boot: data partition $data grown to $(df -h --output=size "$state" | tail -1 | tr -d ' ')"
