#!/usr/bin/python3
"""A fault-injecting passthrough filesystem for tillbox's storage fault tests.

    faultfs.py BACKING_DIR MOUNTPOINT CONTROL_SOCKET

Like LazyFS: file data written since the last fsync/fdatasync of that file is
kept in memory (reads see it, the backing directory does not), so a "power
cut" can drop it. Metadata operations (create, rename, unlink, mkdir,
truncate) reach the backing directory at once; a truncate first writes the
file's pending data (slightly kinder than a real disk, never crueller).

Control: one line per command on the Unix socket, answered with one line.
    drop                      power cut: forget every unsynced write
    fail write N ERRNO        the Nth write() from now fails with ERRNO (EIO, ENOSPC)
    fail fsync N ERRNO        the Nth fsync from now fails (its pending data is dropped,
                              as Linux drops dirty pages after a failed writeback)
    full on|off               every write() fails with ENOSPC while on
    stats                     JSON counters
Runs in the foreground; the test harness unmounts it with fusermount -u.
"""
import errno
import json
import os
import socket
import sys
import threading

from fusepy import FUSE, FuseOSError, Operations

ERRNOS = {'EIO': errno.EIO, 'ENOSPC': errno.ENOSPC, 'EDQUOT': errno.EDQUOT}


class Pending:
    """Unsynced writes of one inode, applied over the backing file on read."""

    def __init__(self, size):
        self.writes = []  # (offset, bytes), in order
        self.size = size  # logical size including pending writes


class FaultFS(Operations):
    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.mutex = threading.RLock()
        self.pending = {}  # inode -> Pending
        self.fail = {'write': None, 'fsync': None}  # [countdown, errno]
        self.full = False
        self.stats = {'writes': 0, 'fsyncs': 0, 'dropped_bytes': 0, 'injected': 0, 'drops': 0}

    # --- helpers ----------------------------------------------------------
    def _p(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def _ino(self, fh):
        return os.fstat(fh).st_ino

    def _flush(self, fh):
        """Writes an inode's pending data to the backing file and fsyncs it."""
        ino = self._ino(fh)
        p = self.pending.pop(ino, None)
        if p:
            for off, data in p.writes:
                os.pwrite(fh, data, off)
        os.fsync(fh)

    def _countdown(self, kind):
        f = self.fail[kind]
        if f is None:
            return None
        f[0] -= 1
        if f[0] > 0:
            return None
        self.fail[kind] = None
        self.stats['injected'] += 1
        return f[1]

    # --- control ------------------------------------------------------------
    def control(self, line):
        parts = line.split()
        with self.mutex:
            if parts == ['drop']:
                n = sum(len(d) for p in self.pending.values() for _, d in p.writes)
                self.stats['dropped_bytes'] += n
                self.stats['drops'] += 1
                self.pending.clear()
                return 'ok dropped %d' % n
            if len(parts) == 4 and parts[0] == 'fail' and parts[1] in self.fail:
                self.fail[parts[1]] = [int(parts[2]), ERRNOS[parts[3]]]
                return 'ok'
            if len(parts) == 2 and parts[0] == 'full':
                self.full = parts[1] == 'on'
                return 'ok'
            if parts == ['stats']:
                s = dict(self.stats)
                s['pending_bytes'] = sum(len(d) for p in self.pending.values() for _, d in p.writes)
                return json.dumps(s)
        return 'error unknown command'

    # --- metadata -----------------------------------------------------------
    def access(self, path, mode):
        if not os.access(self._p(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        with self.mutex:
            st = os.lstat(self._p(path))
            attrs = {k: getattr(st, k) for k in ('st_atime', 'st_ctime', 'st_gid', 'st_mode', 'st_mtime', 'st_nlink', 'st_size', 'st_uid', 'st_ino')}
            p = self.pending.get(st.st_ino)
            if p:
                attrs['st_size'] = p.size
            return attrs

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._p(path))

    def readlink(self, path):
        return os.readlink(self._p(path))

    def mknod(self, path, mode, dev):
        os.mknod(self._p(path), mode, dev)

    def mkdir(self, path, mode):
        os.mkdir(self._p(path), mode)

    def rmdir(self, path):
        os.rmdir(self._p(path))

    def chmod(self, path, mode):
        os.chmod(self._p(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._p(path), uid, gid)

    def statfs(self, path):
        st = os.statvfs(self._p(path))
        return {k: getattr(st, k) for k in ('f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree', 'f_files', 'f_flag', 'f_frsize', 'f_namemax')}

    def unlink(self, path):
        with self.mutex:
            st = os.lstat(self._p(path))
            os.unlink(self._p(path))
            if st.st_nlink <= 1:
                self.pending.pop(st.st_ino, None)

    def symlink(self, name, target):
        os.symlink(target, self._p(name))

    def rename(self, old, new):
        with self.mutex:
            # A replaced target is unlinked: forget its unsynced data, or a
            # later file that reuses its inode number would show it.
            try:
                st = os.lstat(self._p(new))
            except FileNotFoundError:
                st = None
            os.rename(self._p(old), self._p(new))
            if st is not None and st.st_nlink <= 1:
                self.pending.pop(st.st_ino, None)

    def link(self, target, name):
        os.link(self._p(name), self._p(target))

    def utimens(self, path, times=None):
        os.utime(self._p(path), times)

    # --- file data ------------------------------------------------------------
    def open(self, path, flags):
        return os.open(self._p(path), flags & ~(os.O_APPEND))

    def create(self, path, mode, fi=None):
        return os.open(self._p(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path, length, offset, fh):
        with self.mutex:
            p = self.pending.get(self._ino(fh))
            if not p:
                return os.pread(fh, length, offset)
            end = min(offset + length, p.size)
            if end <= offset:
                return b''
            buf = bytearray(os.pread(fh, end - offset, offset))
            if len(buf) < end - offset:
                buf.extend(b'\0' * (end - offset - len(buf)))
            for off, data in p.writes:
                lo = max(off, offset)
                hi = min(off + len(data), end)
                if lo < hi:
                    buf[lo - offset:hi - offset] = data[lo - off:hi - off]
            return bytes(buf)

    def write(self, path, data, offset, fh):
        with self.mutex:
            self.stats['writes'] += 1
            if self.full:
                raise FuseOSError(errno.ENOSPC)
            e = self._countdown('write')
            if e is not None:
                raise FuseOSError(e)
            ino = self._ino(fh)
            p = self.pending.get(ino)
            if not p:
                p = Pending(os.fstat(fh).st_size)
                self.pending[ino] = p
            p.writes.append((offset, bytes(data)))
            p.size = max(p.size, offset + len(data))
            return len(data)

    def truncate(self, path, length, fh=None):
        with self.mutex:
            if fh is None:
                fd = os.open(self._p(path), os.O_RDWR)
                try:
                    self._flush(fd)
                    os.ftruncate(fd, length)
                finally:
                    os.close(fd)
            else:
                self._flush(fh)
                os.ftruncate(fh, length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        # Closing does not make data durable: pending data stays pending.
        with self.mutex:
            os.close(fh)
        return 0

    def fsync(self, path, datasync, fh):
        with self.mutex:
            self.stats['fsyncs'] += 1
            e = self._countdown('fsync')
            if e is not None:
                # Linux marks the pages clean after a failed writeback: the data is gone.
                p = self.pending.pop(self._ino(fh), None)
                if p:
                    self.stats['dropped_bytes'] += sum(len(d) for _, d in p.writes)
                raise FuseOSError(e)
            self._flush(fh)
            return 0

    def fsyncdir(self, path, datasync, fh):
        return 0

    # No lock(): without it the kernel keeps POSIX locks itself (LevelDB's
    # LOCK file), which is what a local filesystem does.


def serve_control(fs, sock_path):
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        with conn, conn.makefile('rw') as f:
            for line in f:
                f.write(fs.control(line.strip()) + '\n')
                f.flush()


def main():
    backing, mountpoint, sock_path = sys.argv[1:4]
    fs = FaultFS(backing)
    threading.Thread(target=serve_control, args=(fs, sock_path), daemon=True).start()
    FUSE(fs, mountpoint, foreground=True, nothreads=False, allow_other=False, default_permissions=False)


if __name__ == '__main__':
    main()
