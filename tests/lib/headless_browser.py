"""Headless Chromium driven over the DevTools protocol on a pipe, with real-time waits.

`chromium --screenshot --virtual-time-budget=N` takes its picture when N ms of *virtual* time
have passed, and virtual time runs ahead while the page only waits on a websocket: on a loaded
host noVNC could still say "Connecting..." when the picture was taken. Here the test waits, in
real time, for a condition the page itself states (a JavaScript expression), then takes the
screenshot.

--remote-debugging-pipe: Chromium reads commands from its fd 3 and writes answers and events to
its fd 4, each a JSON object ended by a NUL byte (chrome/devtools: DevToolsPipeHandler). Commands
for a page go through the browser connection with the sessionId of Target.attachToTarget
(flatten mode).
"""

import base64
import fcntl
import json
import os
import select
import subprocess
import time


class BrowserError(Exception):
    pass


class HeadlessBrowser:
    def __init__(self, chromium, width=800, height=600, cwd=None):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child's fds 3 and 4 must be these two: moved there in the child (through fds above
        # 10, so neither is overwritten by the other's move), and kept open by pass_fds.
        def child_fds():
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.proc = subprocess.Popen(
            [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--remote-debugging-pipe',
             f'--window-size={width},{height}', '--no-first-run', '--user-data-dir=' + (cwd or '.') + '/chromium-profile',
             'about:blank'],
            preexec_fn=child_fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b''
        self._next_id = 0
        self._session = None
        self.width, self.height = width, height

    def _send(self, method, params=None, session=True):
        self._next_id += 1
        msg = {'id': self._next_id, 'method': method, 'params': params or {}}
        if session and self._session:
            msg['sessionId'] = self._session
        os.write(self._to_browser, json.dumps(msg).encode() + b'\0')
        return self._next_id

    def _read_message(self, deadline):
        while b'\0' not in self._buf:
            if time.monotonic() > deadline:
                raise BrowserError('no answer from Chromium in time')
            r, _, _ = select.select([self._from_browser], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                continue
            k = os.read(self._from_browser, 1 << 20)
            if not k:
                raise BrowserError('Chromium closed its DevTools pipe: ' + self._stderr_tail())
            self._buf += k
        raw, self._buf = self._buf.split(b'\0', 1)
        return json.loads(raw)

    def call(self, method, params=None, timeout=60, session=True):
        """Send one command and return its result (events in between are dropped)."""
        want = self._send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get('id') == want:
                if 'error' in m:
                    raise BrowserError(f'{method}: {m["error"]}')
                return m.get('result', {})

    def _stderr_tail(self):
        try:
            self.proc.kill()
            return self.proc.communicate(timeout=10)[1].decode(errors='replace')[-500:]
        except Exception:  # noqa: BLE001 - only a diagnostic
            return ''

    def open(self, url, timeout=120):
        target = self.call('Target.createTarget', {'url': 'about:blank'}, timeout, session=False)['targetId']
        self._session = self.call('Target.attachToTarget', {'targetId': target, 'flatten': True}, timeout,
                                  session=False)['sessionId']
        self.call('Emulation.setDeviceMetricsOverride',
                  {'width': self.width, 'height': self.height, 'deviceScaleFactor': 1, 'mobile': False}, timeout)
        self.call('Page.navigate', {'url': url}, timeout)

    def evaluate(self, expression, timeout=60):
        r = self.call('Runtime.evaluate', {'expression': expression, 'returnByValue': True}, timeout)
        return (r.get('result') or {}).get('value')

    def wait_for(self, expression, timeout):
        """Evaluate expression every half second until it is truthy; returns its last value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression, timeout=max(1.0, deadline - time.monotonic()))
            if value:
                return value
            time.sleep(0.5)
        return value

    def screenshot_png(self, timeout=120):
        return base64.b64decode(self.call('Page.captureScreenshot', {'format': 'png'}, timeout)['data'])

    def close(self):
        try:
            self.call('Browser.close', timeout=10, session=False)
        except Exception:  # noqa: BLE001 - it may be gone already
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
