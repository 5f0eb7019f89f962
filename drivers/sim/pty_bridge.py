#!/usr/bin/env python3
"""Pseudo-terminal bridge for tillbox simulators (drivers/sim/pty.ts spawns it).

Node cannot call openpty(3) without a native addon, so this helper owns the
pty pair and bridges the master side over stdio. The slave side is a real
/dev/pts/N that drivers open with serialport exactly as a USB serial adapter.

stdin  : raw bytes to send to the driver (written to the master).
         EOF = "unplug": the master is closed and the driver's next read
         fails (EIO), like a USB-serial adapter pulled out.
stdout : frames  <type:1 byte><length:4 bytes big endian><payload>
         b'R' ready    JSON {"path": "/dev/pts/N", "link": ...}
         b'T' termios  JSON {"baud", "dataBits", "parity", "stopBits"} -- the
                       line settings the driver set on the slave, sent when
                       they change (the first one = a driver opened the port).
                       The kernel forces ptys to CS8/no parity, so only the
                       baud rate is meaningful; see pty.ts.
         b'D' data     bytes the driver wrote.
argv   : [--link PATH]  also create a symlink PATH -> /dev/pts/N (to emulate
         /dev/serial/by-id names); removed on exit.

We keep our own fd on the slave open so the master never sees EIO while no
driver has the port open (the simulator must survive driver restarts).
"""
import json
import os
import select
import signal
import struct
import sys
import termios
import tty

SPEEDS = {getattr(termios, n): int(n[1:]) for n in dir(termios) if n.startswith('B') and n[1:].isdigit()}
CSIZE = {termios.CS5: 5, termios.CS6: 6, termios.CS7: 7, termios.CS8: 8}


def line_settings(fd):
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    parity = 'none'
    if cflag & termios.PARENB:
        cmspar = getattr(termios, 'CMSPAR', 0o10000000000)
        if cflag & cmspar:
            parity = 'mark' if cflag & termios.PARODD else 'space'
        else:
            parity = 'odd' if cflag & termios.PARODD else 'even'
    return {
        'baud': SPEEDS.get(ospeed, ospeed),
        'dataBits': CSIZE.get(cflag & termios.CSIZE, 8),
        'parity': parity,
        'stopBits': 2 if cflag & termios.CSTOPB else 1,
    }


def main():
    link = None
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == '--link':
        link = args[1]
    elif args:
        sys.stderr.write('usage: pty_bridge.py [--link PATH]\n')
        return 2
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    out = sys.stdout.buffer

    def frame(kind, payload):
        out.write(kind + struct.pack('>I', len(payload)) + payload)
        out.flush()

    def cleanup(*_):
        if link:
            try:
                os.unlink(link)
            except OSError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, cleanup)
    if link:
        try:
            os.unlink(link)
        except OSError:
            pass
        os.symlink(path, link)
    frame(b'R', json.dumps({'path': path, 'link': link}).encode())
    last = termios.tcgetattr(slave)  # our own raw settings; the first change is the driver opening
    stdin = sys.stdin.buffer.fileno()
    os.set_blocking(stdin, False)
    try:
        while True:
            # The timeout lets us notice a driver that opens the port and only
            # listens (a scanner driver never writes).
            r, _, _ = select.select([master, stdin], [], [], 0.05)
            attrs = termios.tcgetattr(slave)
            if attrs != last:
                last = attrs
                frame(b'T', json.dumps(line_settings(slave)).encode())
            if stdin in r:
                data = os.read(stdin, 65536)
                if not data:
                    break  # unplug
                os.write(master, data)
            if master in r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                attrs = termios.tcgetattr(slave)
                if attrs != last:
                    last = attrs
                    frame(b'T', json.dumps(line_settings(slave)).encode())
                frame(b'D', data)
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    os.close(master)
    cleanup()


if __name__ == '__main__':
    sys.exit(main())
