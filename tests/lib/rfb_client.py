"""A small RFB (VNC) client for tests and benchmarks, written from RFC 6143:
protocol 3.8, security None or VNC authentication, raw encoding (and the
DesktopSize pseudo-encoding), key and pointer events, PNG output (zlib,
no imaging library). The VNC authentication's DES comes from
python3-cryptography."""
import socket
import struct
import time
import zlib

ENC_RAW = 0
ENC_DESKTOP_SIZE = -223
ENC_RICH_CURSOR = -239  # RFC 6143 7.8.1 "Cursor": pixels, then a 1-bit mask
ENC_POINTER_POS = -232  # the server's pointer position (libvncserver's PointerPos)


class RfbError(Exception):
    pass


def _vnc_des_response(password, challenge):
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes
    # RFC 6143 7.2.2: the password, 8 bytes padded with NULs, as a DES key whose bytes are
    # bit-reversed (the historical VNC quirk); DES = triple DES with one key three times.
    key = password.encode('latin-1')[:8].ljust(8, b'\0')
    key = bytes(int(f'{b:08b}'[::-1], 2) for b in key)
    enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return enc.update(challenge) + enc.finalize()


class RfbClient:
    def __init__(self, address, password=None, timeout=30, shared=True, cursor=False):
        """address: a Unix socket path, or (host, port). cursor: ask for the server's cursor
        shape and position (self.cursor, self.pointer_pos)."""
        self.cursor, self.pointer_pos, self.want_cursor = None, None, cursor
        fam = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.bytes_in = 0
        self.security = None
        self._handshake(password, shared)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv(self, n):
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = self.sock.recv_into(view[got:], n - got)
            if not k:
                raise RfbError(f'connection closed ({got} of {n} bytes)')
            got += k
        self.bytes_in += n
        return bytes(buf)

    def _handshake(self, password, shared):
        version = self._recv(12)
        if not version.startswith(b'RFB 003.'):
            raise RfbError(f'not RFB: {version!r}')
        self.server_version = version.decode().strip()
        self.sock.sendall(b'RFB 003.008\n')
        n = self._recv(1)[0]
        if n == 0:
            raise RfbError(self._reason())
        types = list(self._recv(n))
        self.security_types = types
        if 1 in types and password is None:
            self.sock.sendall(b'\1')
            self.security = 1
        elif 2 in types:
            if password is None:
                raise RfbError('the server wants a password')
            self.sock.sendall(b'\2')
            self.security = 2
            self.sock.sendall(_vnc_des_response(password, self._recv(16)))
        else:
            raise RfbError(f'no usable security type in {types}')
        result = struct.unpack('>I', self._recv(4))[0]
        if result != 0:
            raise RfbError('security failed: ' + self._reason())
        self.sock.sendall(bytes([1 if shared else 0]))
        w, h = struct.unpack('>HH', self._recv(4))
        self.server_format = self._recv(16)
        name_len = struct.unpack('>I', self._recv(4))[0]
        self.name = self._recv(name_len).decode(errors='replace')
        self.width, self.height = w, h
        self.fb = bytearray(w * h * 4)
        # 32 bpp, depth 24, little-endian, true colour, red at 16: B, G, R, X in memory.
        self.sock.sendall(struct.pack('>BxxxBBBBHHHBBBxxx', 0, 32, 24, 0, 1, 255, 255, 255,
                                      16, 8, 0))
        encs = [ENC_RAW, ENC_DESKTOP_SIZE] + ([ENC_RICH_CURSOR, ENC_POINTER_POS] if self.want_cursor else [])
        self.sock.sendall(struct.pack('>BxH', 2, len(encs)) + b''.join(struct.pack('>i', e) for e in encs))

    def _reason(self):
        n = struct.unpack('>I', self._recv(4))[0]
        return self._recv(n).decode(errors='replace')

    def request(self, incremental=True, x=0, y=0, w=None, h=None):
        w = self.width if w is None else w
        h = self.height if h is None else h
        self.sock.sendall(struct.pack('>BBHHHH', 3, 1 if incremental else 0, x, y, w, h))

    def key(self, keysym, down):
        self.sock.sendall(struct.pack('>BBxxI', 4, 1 if down else 0, keysym))

    def tap(self, *keysyms):
        """Presses keysyms in order, then releases them in reverse order."""
        for k in keysyms:
            self.key(k, True)
        for k in reversed(keysyms):
            self.key(k, False)

    def pointer(self, mask, x, y):
        self.sock.sendall(struct.pack('>BBHH', 5, mask, x, y))

    def read_message(self):
        """One server message. Returns ('update', [rects]) / ('bell',) / ('cut', text)."""
        t = self._recv(1)[0]
        if t == 0:
            self._recv(1)
            n = struct.unpack('>H', self._recv(2))[0]
            rects = []
            for _ in range(n):
                x, y, w, h, enc = struct.unpack('>HHHHi', self._recv(12))
                if enc == ENC_RAW:
                    data = self._recv(w * h * 4)
                    if x + w > self.width or y + h > self.height:
                        raise RfbError(f'rectangle {x},{y} {w}x{h} outside {self.width}x{self.height}')
                    for row in range(h):
                        o = ((y + row) * self.width + x) * 4
                        self.fb[o:o + w * 4] = data[row * w * 4:(row + 1) * w * 4]
                elif enc == ENC_DESKTOP_SIZE:
                    self.width, self.height = w, h
                    self.fb = bytearray(w * h * 4)
                elif enc == ENC_RICH_CURSOR:
                    # x, y: the hot spot; B, G, R, X pixels in our format, then the mask.
                    pixels = self._recv(w * h * 4)
                    mask = self._recv((w + 7) // 8 * h)
                    self.cursor = {'hot': (x, y), 'size': (w, h), 'pixels': pixels, 'mask': mask}
                elif enc == ENC_POINTER_POS:
                    self.pointer_pos = (x, y)
                else:
                    raise RfbError(f'unexpected encoding {enc}')
                rects.append((x, y, w, h, enc))
            return ('update', rects)
        if t == 1:
            self._recv(1)
            first, n = struct.unpack('>HH', self._recv(4))
            self._recv(6 * n)
            return ('colours',)
        if t == 2:
            return ('bell',)
        if t == 3:
            self._recv(3)
            n = struct.unpack('>I', self._recv(4))[0]
            return ('cut', self._recv(n))
        raise RfbError(f'unknown server message {t}')

    def update(self, incremental=True, timeout=30):
        """Requests an update and reads messages until one with pixels arrives; all the
        rectangles read. A desktop resize (libvncserver sends it alone, then the pixels in a
        message of their own) is followed by that message."""
        self.request(incremental)
        deadline = time.monotonic() + timeout
        rects = []
        while time.monotonic() < deadline:
            m = self.read_message()
            if m[0] != 'update':
                continue
            rects += m[1]
            if any(r[4] != ENC_DESKTOP_SIZE for r in m[1]):
                return rects
            # A resize alone: its pixels follow (libvncserver), unless they were not asked for.
            self.request(False)
        raise RfbError('no update')

    def drain(self, quiet=0.3):
        """Reads (and applies) whatever the server sends until it is quiet for that long."""
        old = self.sock.gettimeout()
        self.sock.settimeout(quiet)
        try:
            while True:
                self.read_message()
        except (socket.timeout, TimeoutError):
            pass
        finally:
            self.sock.settimeout(old)

    def pixel(self, x, y):
        o = (y * self.width + x) * 4
        b, g, r = self.fb[o], self.fb[o + 1], self.fb[o + 2]
        return r, g, b

    def colours(self, x0=0, y0=0, x1=None, y1=None, step=1):
        """The set of (r, g, b) in a region."""
        x1 = self.width if x1 is None else x1
        y1 = self.height if y1 is None else y1
        out = set()
        for y in range(y0, y1, step):
            row = self.fb[(y * self.width) * 4:(y * self.width + self.width) * 4]
            for x in range(x0, x1, step):
                out.add(bytes(row[x * 4:x * 4 + 3]))
        return out

    def png(self, path):
        write_png(path, self.width, self.height, self.fb)


def write_png(path, width, height, bgrx):
    """An RGB PNG from B, G, R, X pixels."""
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        row = bgrx[y * width * 4:(y + 1) * width * 4]
        rgb = bytearray(width * 3)
        rgb[0::3] = row[2::4]
        rgb[1::3] = row[1::4]
        rgb[2::3] = row[0::4]
        raw += rgb

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        f.write(chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b'IDAT', zlib.compress(bytes(raw), 6)))
        f.write(chunk(b'IEND', b''))


def read_png_rgb(path):
    """(width, height, rgb bytes) of an 8-bit RGB or RGBA PNG without interlace."""
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('not a PNG')
    pos, idat, w = 8, b'', None
    while pos < len(data):
        n = struct.unpack('>I', data[pos:pos + 4])[0]
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError(f'unsupported PNG (depth {depth}, type {ctype})')
            bpp = 3 if ctype == 2 else 4
        elif kind == b'IDAT':
            idat += body
    raw = zlib.decompress(idat)
    stride = w * bpp
    out, prev, i = bytearray(), bytearray(stride), 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        if bpp == 4:
            out += bytes(v for j, v in enumerate(line) if j % 4 != 3)
        else:
            out += line
    return w, h, bytes(out)


def read_messages(clients):
    """One server message on each client, read at the same time (the server writes to its
    clients one after the other, each in full: a client not being read would hold the others
    up). Returns the messages in the clients' order; an exception in any is raised."""
    import threading
    out, errors = [None] * len(clients), []

    def one(i):
        try:
            out[i] = clients[i].read_message()
        except Exception as e:  # noqa: BLE001 - handed to the caller
            errors.append(e)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out
