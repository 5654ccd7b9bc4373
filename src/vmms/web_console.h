/*
 * The web console (docs/console.md): parvis-vmms serves noVNC's page and
 * scripts (Debian's novnc, /usr/share/novnc) over HTTP on a loopback port,
 * and bridges a browser's websocket to a VM's RFB socket. libvncserver in
 * the worker speaks the websocket protocol itself, so the bridge relays
 * bytes and never parses the guest's screen.
 *
 * Access: the page and scripts are public files; the bridge opens only for
 * a token the API hands to a caller whom the access rules let use the VM's
 * console (connect-vm "web", operator or admin): 128 random bits, valid for
 * WEB_TOKEN_TTL_S, naming one VM's socket.
 *
 * Threads: one accepting thread; one thread per connection (at most
 * WEB_MAX_CONNECTIONS), each relaying its two descriptors. web_console_issue
 * may be called from any thread.
 */
#pragma once

#include <stddef.h>

#include "base/compiler.h"

struct web_console;

#define WEB_TOKEN_TTL_S	    600
#define WEB_MAX_CONNECTIONS 32
#define WEB_NOVNC_DIR	    "/usr/share/novnc"

/* listen: "[HOST:]PORT" (default host 127.0.0.1; IPv4). err names what failed. */
int web_console_new(const char *listen, const char *novnc_dir, struct web_console **ret, char *err,
		    size_t errlen) must_check;
struct web_console *web_console_free(struct web_console *wc);

/* The port it listens on. */
unsigned web_console_port(const struct web_console *wc);

/*
 * A token for the RFB socket at vnc_path; writes the page's URL (relative to
 * http://HOST:PORT) into url. 0 or -errno.
 */
int web_console_issue(struct web_console *wc, const char *vnc_path, char *url,
		      size_t len) must_check;
