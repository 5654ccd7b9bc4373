/*
 * The VM's screen on a loopback TCP port (set-vm --console-tcp on,
 * docs/console.md): the service makes the listener (127.0.0.1, a port the
 * kernel picks) in its own network namespace and hands the jailed worker the
 * listening socket, so the worker needs no network of its own; the port is
 * reported by connect-vm --tcp. The per-VM VNC password lives in the VM's run
 * directory (root's, 0600), made once from getrandom() and kept across
 * starts; the worker reads it before it enters its jail (--vnc-password-file
 * in its configuration file, never on a command line). Called under the
 * service's lock, from the API threads.
 */
#ifndef PARVIS_VMMS_CONSOLE_TCP_H
#define PARVIS_VMMS_CONSOLE_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define CONSOLE_TCP_PASSWORD_LEN 8 /* RFC 6143 7.2.2: VNC authentication uses 8 bytes */

/* dir/vnc.password into path. */
void console_tcp_password_path(const char *dir, char *path, size_t len);

/* The password file in dir, made (0600) if missing; -errno with err. */
int console_tcp_password_ensure(const char *dir, char *err, size_t errlen) must_check;

/* The password (NUL-terminated, len > CONSOLE_TCP_PASSWORD_LEN) from dir; -errno. */
int console_tcp_password_read(const char *dir, char *pw, size_t len) must_check;

/* A listening socket on 127.0.0.1 (close-on-exec) and its port; -errno with err. */
int console_tcp_listen(int *fd, uint16_t *port, char *err, size_t errlen) must_check;

#endif
