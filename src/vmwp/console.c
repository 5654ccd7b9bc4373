/*
 * Serial console back ends; see console.h. Output is written synchronously
 * on the vCPU thread that transmits (a console is slow by nature and the
 * guest's 8250 driver waits for THRE anyway). Input has its own thread,
 * which pushes bytes into the UART's FIFO as the guest drains it.
 */
#include "base/compiler.h"
#include "vmwp/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define ESCAPE_CHAR 0x01 /* Ctrl-A, as QEMU's -nographic */

struct console {
	enum serial_backend backend;
	int out_fd; /* -1 for SERIAL_NONE; SERIAL_SOCKET: the log file or -1 */
	int old_fd; /* a capped file output: "<path>.1", opened with it (before any jail), or -1 */
	/* A file output (SERIAL_FILE, the socket's log): capped and rotated; under out_lock. */
	pthread_mutex_t out_lock;
	char *out_path; /* NULL: not a file (stdio) */
	uint64_t out_bytes, out_max;
	int in_fd;		  /* stdin for SERIAL_STDIO, else -1 */
	int wake_fd;		  /* eventfd: rx space in the UART, or stop */
	bool tty_raw;		  /* the terminal was put in raw mode */
	struct termios saved_tio; /* to restore it */

	pthread_mutex_t lock; /* protects uart */
	struct uart16550 *uart;
	pthread_t input_thread;
	bool input_started;
	atomic_bool stopping; /* set by the thread that stops the others */

	/* SERIAL_SOCKET: the listening socket and the one attached client. */
	char *socket_path;
	int listen_fd;
	pthread_mutex_t client_lock; /* protects client_fd against the vCPU thread's tx */
	int client_fd;		     /* -1 when no client is attached */

	void (*escape_fn)(void *opaque);
	void *escape_opaque;
};

static void socket_tx(struct console *c, const uint8_t *buf, size_t len);

/*
 * The file is full: it becomes "<path>.1" and a new one is started. A jailed
 * worker may not rename in the directory, so there the same is done through
 * the two descriptors opened before the jail: the full file's bytes are
 * copied over "<path>.1", then the file starts again from empty. Either way
 * the guest's output costs the host at most twice out_max.
 */
static void copy_over_old(struct console *c)
{
	char buf[64 * 1024];
	off_t off = 0;
	ssize_t n;

	if (c->old_fd < 0 || ftruncate(c->old_fd, 0) < 0)
		return;
	while ((n = pread(c->out_fd, buf, sizeof(buf), off)) > 0) {
		if (pwrite(c->old_fd, buf, (size_t)n, off) != n)
			return; /* a full disk: "<path>.1" keeps what fit */
		off += n;
	}
}

static void rotate(struct console *c)
{
	size_t n = strlen(c->out_path) + 3;
	char *old = malloc(n);
	int fd = -1;

	if (old) {
		snprintf(old, n, "%s.1", c->out_path);
		if (rename(c->out_path, old) == 0)
			fd = open(c->out_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		free(old);
	}
	if (fd >= 0) {
		/* The renamed file is "<path>.1" now: its descriptor is the old one. */
		if (c->old_fd >= 0)
			close(c->old_fd);
		c->old_fd = c->out_fd;
		c->out_fd = fd;
	} else {
		copy_over_old(c);
		if (ftruncate(c->out_fd, 0) < 0) {
			/* nothing more to try: the writes below fail on a full disk and are dropped
			 */
		}
	}
	c->out_bytes = 0;
}

static void write_out(struct console *c, const uint8_t *buf, size_t len)
{
	while (c->out_fd >= 0 && len) {
		size_t chunk = len;
		ssize_t n;

		if (c->out_path) {
			if (c->out_bytes >= c->out_max)
				rotate(c);
			chunk = MIN(len, (size_t)(c->out_max - c->out_bytes));
		}
		n = write(c->out_fd, buf, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a closed terminal or a full disk loses console output, not the VM
				 */
		buf += n;
		len -= (size_t)n;
		c->out_bytes += (uint64_t)n;
	}
}

void console_uart_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;

	if (c->backend == SERIAL_SOCKET)
		socket_tx(c, buf, len);
	pthread_mutex_lock(&c->out_lock);
	write_out(c, buf, len);
	pthread_mutex_unlock(&c->out_lock);
}

/* Opens path for appending as a capped, rotated output. */
static int open_out_file(struct console *c, const char *path, const struct serial_config *cfg)
{
	struct stat st;

	c->out_path = strdup(path);
	if (!c->out_path)
		return -ENOMEM;
	c->out_max = cfg->log_max_bytes ? cfg->log_max_bytes : SERIAL_LOG_MAX_DEFAULT;
	c->out_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (c->out_fd < 0)
		return -errno;
	{
		size_t n = strlen(path) + 3;
		char *old = malloc(n);

		if (!old)
			return -ENOMEM;
		snprintf(old, n, "%s.1", path);
		/* Not O_APPEND: copy_over_old writes it from offset 0. Missing is not fatal. */
		c->old_fd = open(old, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
		free(old);
	}
	c->out_bytes = fstat(c->out_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

/* SERIAL_SOCKET output: the log gets everything, the client what it can take now. */
static void socket_tx(struct console *c, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&c->client_lock);
	if (c->client_fd >= 0) {
		/* Never block a vCPU on a slow client: what does not fit is in the log. */
		if (send(c->client_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* EAGAIN: dropped; EPIPE: the socket thread notices the hang-up */
		}
	}
	pthread_mutex_unlock(&c->client_lock);
}

void console_uart_rx_ready(void *opaque)
{
	struct console *c = opaque;
	uint64_t one = 1;

	IGNORE_RESULT(write(c->wake_fd, &one, sizeof(one)));
}

void console_set_escape_handler(struct console *c, void (*fn)(void *opaque), void *opaque)
{
	c->escape_fn = fn;
	c->escape_opaque = opaque;
}

void console_attach(struct console *c, struct uart16550 *uart)
{
	pthread_mutex_lock(&c->lock);
	c->uart = uart;
	pthread_mutex_unlock(&c->lock);
	if (uart)
		console_uart_rx_ready(c); /* pending input may go to the new UART */
}

/* Offers buf to the UART; returns bytes taken (0 if none attached or FIFO full). */
static size_t push_input(struct console *c, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	if (c->uart)
		n = uart16550_receive(c->uart, buf, len);
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* Applies the escape sequence; returns the number of bytes left in buf for the guest. */
static size_t filter_escape(struct console *c, uint8_t *buf, size_t len, bool *pending_escape)
{
	size_t i, out = 0;

	if (!c->tty_raw)
		return len; /* only an interactive terminal has an escape key */
	for (i = 0; i < len; i++) {
		if (*pending_escape) {
			*pending_escape = false;
			if (buf[i] == 'x' || buf[i] == 'X') {
				if (c->escape_fn)
					c->escape_fn(c->escape_opaque);
				continue;
			}
			if (buf[i] != ESCAPE_CHAR)
				continue; /* unknown escape: dropped */
		} else if (buf[i] == ESCAPE_CHAR) {
			*pending_escape = true;
			continue;
		}
		buf[out++] = buf[i];
	}
	return out;
}

static void *input_main(void *arg)
{
	struct console *c = arg;
	uint8_t buf[256];
	size_t len = 0, pos = 0;
	bool pending_escape = false, eof = false;

	pthread_setname_np(pthread_self(), "console-in");
	while (!c->stopping) {
		struct pollfd fds[2] = {{.fd = c->wake_fd, .events = POLLIN},
					{.fd = c->in_fd, .events = POLLIN}};
		uint64_t v;

		if (pos < len) {
			pos += push_input(c, buf + pos, len - pos);
			if (pos < len) {
				/* FIFO full: wait for the guest to drain it (rx_ready) or a stop.
				 */
				if (poll(fds, 1, -1) > 0 && (fds[0].revents & POLLIN))
					IGNORE_RESULT(read(c->wake_fd, &v, sizeof(v)));
				continue;
			}
		}
		if (eof)
			break;
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents & POLLIN)
			IGNORE_RESULT(read(c->wake_fd, &v, sizeof(v)));
		if (fds[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(c->in_fd, buf, sizeof(buf));

			if (n <= 0) {
				eof = n == 0 || errno != EINTR;
				continue;
			}
			len = filter_escape(c, buf, (size_t)n, &pending_escape);
			pos = 0;
		}
	}
	return NULL;
}

static void set_client(struct console *c, int fd)
{
	pthread_mutex_lock(&c->client_lock);
	if (c->client_fd >= 0)
		close(c->client_fd);
	c->client_fd = fd;
	pthread_mutex_unlock(&c->client_lock);
}

/*
 * SERIAL_SOCKET: accepts one client at a time (a second one is told the
 * console is busy), relays its bytes to the UART as the FIFO drains. The
 * detach key is the client's business (parvis console: Ctrl-]).
 */
static void *socket_main(void *arg)
{
	static const char busy[] = "parvis: this console is in use by another client\r\n";
	struct console *c = arg;
	uint8_t buf[256];
	size_t len = 0, pos = 0;
	int client = -1;

	pthread_setname_np(pthread_self(), "console-sock");
	while (!c->stopping) {
		struct pollfd fds[3] = {{.fd = c->wake_fd, .events = POLLIN},
					{.fd = c->listen_fd, .events = POLLIN},
					{.fd = client, .events = pos < len ? 0 : POLLIN}};
		uint64_t v;

		if (pos < len) {
			pos += push_input(c, buf + pos, len - pos);
			if (pos < len)
				fds[2].events = 0; /* wait for rx_ready before reading more */
		}
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents & POLLIN)
			IGNORE_RESULT(read(c->wake_fd, &v, sizeof(v)));
		/* The attached client first: its hang-up frees the console for a new one. */
		if (client >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			/* With input still pending only a hang-up wakes us: drop that input. */
			ssize_t n = pos < len ? 0 : read(client, buf, sizeof(buf));

			if (n <= 0) {
				client = -1;
				set_client(c, -1);
				len = pos = 0;
				continue;
			}
			len = (size_t)n;
			pos = 0;
		}
		if (fds[1].revents & POLLIN) {
			int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0 && client >= 0) {
				IGNORE_RESULT(send(fd, busy, sizeof(busy) - 1,
						   MSG_DONTWAIT | MSG_NOSIGNAL));
				close(fd);
			} else if (fd >= 0) {
				client = fd;
				set_client(c, fd);
			}
		}
	}
	return NULL;
}

static int open_socket(struct console *c, const struct serial_config *cfg, char *err, size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;

	if (strlen(cfg->path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "serial socket %s: path too long", cfg->path);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, cfg->path, strlen(cfg->path));
	c->socket_path = strdup(cfg->path);
	if (!c->socket_path)
		return -ENOMEM;
	if (cfg->log_path) {
		int r = open_out_file(c, cfg->log_path, cfg);

		if (r < 0) {
			snprintf(err, errlen, "serial log %s: %s", cfg->log_path, strerror(-r));
			return r;
		}
	}
	if (lstat(cfg->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(cfg->path); /* left by a worker that died */
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(c->listen_fd, 2) < 0) {
		int r = -errno;

		snprintf(err, errlen, "serial socket %s: %s", cfg->path, strerror(errno));
		return r;
	}
	return 0;
}

static int open_stdio(struct console *c)
{
	struct termios raw;

	c->out_fd = STDOUT_FILENO;
	c->in_fd = STDIN_FILENO;
	if (isatty(c->in_fd) && tcgetattr(c->in_fd, &c->saved_tio) == 0) {
		raw = c->saved_tio;
		cfmakeraw(&raw);
		if (tcsetattr(c->in_fd, TCSANOW, &raw) == 0)
			c->tty_raw = true;
	}
	return 0;
}

int console_start(struct console *c)
{
	void *(*fn)(void *) = !c			    ? NULL
			      : c->backend == SERIAL_SOCKET ? socket_main
			      : c->backend == SERIAL_STDIO  ? input_main
							    : NULL;

	if (!fn || c->input_started)
		return 0;
	if (pthread_create(&c->input_thread, NULL, fn, c))
		return -EAGAIN;
	c->input_started = true;
	return 0;
}

int console_open(const struct serial_config *cfg, struct console **ret, char *err, size_t errlen)
{
	struct console *c = calloc(1, sizeof(*c));
	int r = 0;

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->client_lock, NULL);
	pthread_mutex_init(&c->out_lock, NULL);
	c->backend = cfg->backend;
	c->out_fd = c->old_fd = c->in_fd = c->listen_fd = c->client_fd = -1;
	c->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (c->wake_fd < 0) {
		r = -errno;
		goto fail;
	}
	switch (cfg->backend) {
	case SERIAL_NONE: break;
	case SERIAL_FILE:
		r = open_out_file(c, cfg->path, cfg);
		if (r < 0) {
			snprintf(err, errlen, "serial file %s: %s", cfg->path, strerror(-r));
			goto fail;
		}
		break;
	case SERIAL_SOCKET:
		r = open_socket(c, cfg, err, errlen);
		if (r < 0)
			goto fail;
		break;
	case SERIAL_STDIO:
		r = open_stdio(c);
		if (r < 0)
			goto fail;
		break;
	}
	*ret = c;
	return 0;
fail:
	console_free(c);
	return r;
}

struct console *console_free(struct console *c)
{
	if (!c)
		return NULL;
	c->stopping = true;
	if (c->input_started) {
		console_uart_rx_ready(c);	 /* wakes the poll */
		pthread_cancel(c->input_thread); /* it may sit in read() of a terminal */
		pthread_join(c->input_thread, NULL);
	}
	if (c->tty_raw)
		tcsetattr(c->in_fd, TCSANOW, &c->saved_tio);
	if ((c->backend == SERIAL_FILE || c->backend == SERIAL_SOCKET) && c->out_fd >= 0)
		close(c->out_fd);
	if (c->old_fd >= 0)
		close(c->old_fd);
	if (c->client_fd >= 0)
		close(c->client_fd);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->socket_path);
	}
	free(c->socket_path);
	free(c->out_path);
	pthread_mutex_destroy(&c->out_lock);
	pthread_mutex_destroy(&c->client_lock);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}
