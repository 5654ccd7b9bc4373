/*
 * The TLS session between two services for move-vm (migration_channel.h). GnuTLS (Debian's
 * libgnutls28-dev) with TLS 1.3 only and a pre-shared key with an (EC)DHE exchange (RFC 8446
 * section 2.2, psk_dhe_ke): each side proves it has the key, the session keys are fresh and
 * forward secret, and a peer without the key fails the handshake before any frame. The relay
 * runs two threads on one session, one sending and one receiving (GnuTLS allows that; every
 * send takes send_lock, so control frames may go out beside the DATA frames).
 */
#include "vmms/migration_channel.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "vmms/migration_peer.h"

#define PSK_IDENTITY	     "parvis-migration"
#define PRIORITY_PSK	     "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK"
#define PRIORITY_X509	     "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define HANDSHAKE_TIMEOUT_MS 15000
#define CONNECT_TIMEOUT_MS   10000
#define KEY_FILE_MAX	     4096
#define RELAY_CHUNK	     (64u << 10)

struct peer_chan {
	int fd;
	gnutls_session_t s;
	gnutls_psk_client_credentials_t ccred;
	gnutls_psk_server_credentials_t scred;
	gnutls_certificate_credentials_t xcred;
	enum mig_auth_mode mode;
	uint8_t key[MIG_KEY_MAX];
	size_t keylen;
	pthread_mutex_t send_lock;
	bool up; /* the handshake is done and no error since */
	char peer[80];
};

/* --- the key file ------------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int mig_key_parse(const char *text, size_t textlen, uint8_t key[MIG_KEY_MAX], size_t *len,
		  char *err, size_t errlen)
{
	size_t n = textlen, i;

	if (n && text[n - 1] == '\n')
		n--;
	if (n && text[n - 1] == '\r')
		n--;
	for (i = 0; i < n; i++)
		if (hexval(text[i]) < 0) {
			snprintf(err, errlen,
				 "byte %zu is not a hex digit: the key file holds one line of hex "
				 "(make one with: head -c 32 /dev/urandom | xxd -p -c 64)",
				 i + 1);
			return -EINVAL;
		}
	if (n % 2) {
		snprintf(err, errlen, "%zu hex digits: a key is a whole number of bytes", n);
		return -EINVAL;
	}
	if (n / 2 < MIG_KEY_MIN || n / 2 > MIG_KEY_MAX) {
		snprintf(err, errlen,
			 "the key has %zu bytes; it needs %d to %d (%d to %d hex digits)", n / 2,
			 MIG_KEY_MIN, MIG_KEY_MAX, 2 * MIG_KEY_MIN, 2 * MIG_KEY_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n / 2; i++)
		key[i] = (uint8_t)(hexval(text[2 * i]) << 4 | hexval(text[2 * i + 1]));
	*len = n / 2;
	return 0;
}

int mig_key_read(const char *path, uint8_t key[MIG_KEY_MAX], size_t *len, char *err, size_t errlen)
{
	char buf[KEY_FILE_MAX + 1], why[256];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), r;

	if (fd < 0) {
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		return -errno;
	}
	/* A secret: nobody but its owner and group may read it. */
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH))) {
		close(fd);
		snprintf(err, errlen,
			 "key file %s: anyone on this host may read or change it: chmod o-rw %s",
			 path, path);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || n > KEY_FILE_MAX) {
		snprintf(err, errlen, "key file %s: %s", path,
			 n < 0 ? strerror(errno) : "longer than 4 KiB: not a key file");
		return -EINVAL;
	}
	r = mig_key_parse(buf, (size_t)n, key, len, why, sizeof(why));
	if (r < 0)
		snprintf(err, errlen, "key file %s: %s", path, why);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

/* --- the session ---------------------------------------------------------------------------- */

static void tcp_options(int fd)
{
	int one = 1, idle = 5, intvl = 2, cnt = 3;
	unsigned user_timeout = 15000; /* ms: a link that acknowledges nothing this long is gone */

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

/* The server's key lookup: one identity, one key. */
static int server_psk(gnutls_session_t s, const char *user, gnutls_datum_t *key)
{
	struct peer_chan *c = gnutls_session_get_ptr(s);

	if (strcmp(user, PSK_IDENTITY))
		return -1;
	key->data = gnutls_malloc(c->keylen);
	if (!key->data)
		return -1;
	memcpy(key->data, c->key, c->keylen);
	key->size = (unsigned)c->keylen;
	return 0;
}

static struct peer_chan *chan_new(int fd, const struct mig_auth *auth)
{
	struct peer_chan *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->mode = auth->mode;
	if (auth->mode == MIG_AUTH_PSK) {
		memcpy(c->key, auth->key, auth->keylen);
		c->keylen = auth->keylen;
	}
	pthread_mutex_init(&c->send_lock, NULL);
	return c;
}

/* This host's certificate and key and the trusted CAs, as GnuTLS credentials. */
static int x509_load(const struct mig_auth *auth, gnutls_certificate_credentials_t *ret, char *err,
		     size_t errlen)
{
	gnutls_certificate_credentials_t x;
	struct stat st;
	int r;

	if (stat(auth->private_key, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH))) {
		snprintf(err, errlen,
			 "private key %s: anyone on this host may read or change it: chmod o-rw %s",
			 auth->private_key, auth->private_key);
		return -EPERM;
	}
	if (gnutls_certificate_allocate_credentials(&x) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = gnutls_certificate_set_x509_trust_file(x, auth->trusted_ca, GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		snprintf(err, errlen, "trusted CA file %s: %s", auth->trusted_ca,
			 r == 0 ? "no certificate in it" : gnutls_strerror(r));
		gnutls_certificate_free_credentials(x);
		return -EINVAL;
	}
	r = gnutls_certificate_set_x509_key_file(x, auth->cert, auth->private_key,
						 GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		snprintf(err, errlen, "certificate %s with private key %s: %s", auth->cert,
			 auth->private_key, gnutls_strerror(r));
		gnutls_certificate_free_credentials(x);
		return -EINVAL;
	}
	*ret = x;
	return 0;
}

int mig_x509_check(const struct mig_auth *auth, char *err, size_t errlen)
{
	gnutls_certificate_credentials_t x;
	int r = x509_load(auth, &x, err, errlen);

	if (r == 0)
		gnutls_certificate_free_credentials(x);
	return r;
}

/* The credentials of c's mode on its session (the peer's certificate checked in the handshake). */
static int set_credentials(struct peer_chan *c, const struct mig_auth *auth, bool server, char *err,
			   size_t errlen)
{
	gnutls_datum_t k = {.data = c->key, .size = (unsigned)c->keylen};

	if (gnutls_init(&c->s, server ? GNUTLS_SERVER : GNUTLS_CLIENT) < 0) {
		snprintf(err, errlen, "TLS: cannot set up the session");
		return -ENOMEM;
	}
	if (c->mode == MIG_AUTH_X509) {
		if (x509_load(auth, &c->xcred, err, errlen) < 0)
			return -EINVAL;
		if (gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, c->xcred) < 0)
			goto fail;
		/* Both ways: a server asks for the client's certificate and refuses none. */
		if (server)
			gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_REQUIRE);
		/* The chain to a trusted CA, checked during the handshake (no host name: the CA
		 * signs only migration hosts). */
		gnutls_session_set_verify_cert(c->s, NULL, 0);
		return 0;
	}
	if (server) {
		if (gnutls_psk_allocate_server_credentials(&c->scred) < 0)
			goto fail;
		gnutls_psk_set_server_credentials_function(c->scred, server_psk);
		if (gnutls_credentials_set(c->s, GNUTLS_CRD_PSK, c->scred) < 0)
			goto fail;
		return 0;
	}
	if (gnutls_psk_allocate_client_credentials(&c->ccred) < 0 ||
	    gnutls_psk_set_client_credentials(c->ccred, PSK_IDENTITY, &k, GNUTLS_PSK_KEY_RAW) < 0 ||
	    gnutls_credentials_set(c->s, GNUTLS_CRD_PSK, c->ccred) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "TLS: cannot set up the session");
	return -ENOMEM;
}

void peer_chan_free(struct peer_chan *c)
{
	if (!c)
		return;
	if (c->s) {
		if (c->up)
			gnutls_bye(c->s, GNUTLS_SHUT_WR);
		gnutls_deinit(c->s);
	}
	if (c->ccred)
		gnutls_psk_free_client_credentials(c->ccred);
	if (c->scred)
		gnutls_psk_free_server_credentials(c->scred);
	if (c->xcred)
		gnutls_certificate_free_credentials(c->xcred);
	if (c->fd >= 0)
		close(c->fd);
	explicit_bzero(c->key, sizeof(c->key));
	pthread_mutex_destroy(&c->send_lock);
	free(c);
}

static int handshake(struct peer_chan *c, char *err, size_t errlen)
{
	int r;

	gnutls_session_set_ptr(c->s, c);
	gnutls_transport_set_int(c->s, c->fd);
	gnutls_handshake_set_timeout(c->s, HANDSHAKE_TIMEOUT_MS);
	r = gnutls_priority_set_direct(
		c->s, c->mode == MIG_AUTH_X509 ? PRIORITY_X509 : PRIORITY_PSK, NULL);
	if (r < 0) {
		snprintf(err, errlen, "TLS: %s", gnutls_strerror(r));
		return -EIO;
	}
	do
		r = gnutls_handshake(c->s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		snprintf(err, errlen,
			 "TLS handshake with %s failed: %s (%s, or it is no parvis-vmms)", c->peer,
			 gnutls_strerror(r),
			 c->mode == MIG_AUTH_X509
				 ? "a certificate is not signed by a CA the other host trusts"
				 : "the two hosts' migration keys differ");
		return -EACCES;
	}
	c->up = true;
	return 0;
}

/* host:port, or [v6]:port, into its parts. */
static int split_hostport(const char *hp, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(hp, ':');
	size_t n;

	if (!colon || !colon[1] || strlen(colon + 1) >= portlen)
		return -EINVAL;
	n = (size_t)(colon - hp);
	if (n && hp[0] == '[' && hp[n - 1] == ']') {
		hp++;
		n -= 2;
	}
	if (!n || n >= hostlen)
		return -EINVAL;
	memcpy(host, hp, n);
	host[n] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len)
{
	int fl = fcntl(fd, F_GETFL), r, e = 0;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	socklen_t el = sizeof(e);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	r = connect(fd, sa, len);
	if (r < 0 && errno == EINPROGRESS) {
		r = poll(&p, 1, CONNECT_TIMEOUT_MS);
		if (r == 0) {
			errno = ETIMEDOUT;
			r = -1;
		} else if (r > 0) {
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
			errno = e;
			r = e ? -1 : 0;
		}
	}
	fcntl(fd, F_SETFL, fl);
	return r;
}

int peer_chan_connect(const char *hostport, const struct mig_auth *auth, struct peer_chan **ret,
		      char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV},
			*ai = NULL;
	char host[256], port[16];
	struct peer_chan *c;
	int fd, r;

	if (split_hostport(hostport, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "destination '%s' is not HOST:PORT", hostport);
		return -EINVAL;
	}
	r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		snprintf(err, errlen, "destination %s: %s", hostport, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect_timeout(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		r = -errno;
		snprintf(err, errlen,
			 "cannot connect to %s: %s (is migration enabled there? parvis "
			 "enable-vmmigration on the destination)",
			 hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	tcp_options(fd);
	c = chan_new(fd, auth);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", hostport);
	r = set_credentials(c, auth, false, err, errlen);
	if (r == 0)
		r = handshake(c, err, errlen);
	if (r < 0) {
		peer_chan_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int peer_chan_accept(int fd, const struct mig_auth *auth, struct peer_chan **ret, char *err,
		     size_t errlen)
{
	struct peer_chan *c;
	int r;

	tcp_options(fd);
	c = chan_new(fd, auth);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	peer_name(fd, c->peer, sizeof(c->peer));
	r = set_credentials(c, auth, true, err, errlen);
	if (r == 0)
		r = handshake(c, err, errlen);
	if (r < 0) {
		peer_chan_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

const char *peer_chan_peer(const struct peer_chan *c)
{
	return c->peer;
}

static int send_all(struct peer_chan *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = gnutls_record_send(c->s, p, len);

		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0) {
			c->up = false;
			return -EPIPE;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int peer_chan_send(struct peer_chan *c, enum peer_frame_type type, const void *data, uint32_t len)
{
	struct peer_frame_header h;
	int r;

	peer_frame_make(&h, type, len);
	pthread_mutex_lock(&c->send_lock);
	/* One record for the header and a small payload: fewer TLS records on the wire. */
	gnutls_record_cork(c->s);
	r = send_all(c, &h, sizeof(h));
	if (r == 0 && len)
		r = send_all(c, data, len);
	if (r == 0 && gnutls_record_uncork(c->s, GNUTLS_RECORD_WAIT) < 0) {
		c->up = false;
		r = -EPIPE;
	}
	pthread_mutex_unlock(&c->send_lock);
	return r;
}

static int recv_all(struct peer_chan *c, void *buf, size_t len, char *err, size_t errlen)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = gnutls_record_recv(c->s, p, len);

		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_TIMEDOUT) {
			snprintf(err, errlen, "%s sent nothing in time", c->peer);
			return -ETIMEDOUT;
		}
		if (n <= 0) {
			c->up = false;
			snprintf(err, errlen, "the link to %s %s", c->peer,
				 n == 0 ? "was closed" : gnutls_strerror((int)n));
			return -EPIPE;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int peer_chan_recv(struct peer_chan *c, int timeout_ms, enum peer_frame_type *type, char **data,
		   uint32_t *len, char *err, size_t errlen)
{
	struct peer_frame_header h;
	char *buf;
	int r;

	gnutls_record_set_timeout(c->s, timeout_ms < 0 ? 0 : (unsigned)timeout_ms);
	r = recv_all(c, &h, sizeof(h), err, errlen);
	if (r < 0)
		return r;
	r = peer_frame_check(&h, type, len, err, errlen);
	if (r < 0)
		return r;
	buf = malloc(*len + 1);
	if (!buf)
		return -ENOMEM;
	r = recv_all(c, buf, *len, err, errlen);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[*len] = '\0';
	*data = buf;
	return 0;
}

/* --- the relay ------------------------------------------------------------------------------ */

struct peer_relay {
	struct peer_chan *c;
	int plain_fd;
	pthread_t out, in;
	bool out_started, in_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t bytes_out, bytes_in;
	/* The control frame the receiver took, until peer_relay_wait hands it over. */
	bool have_ctl;
	enum peer_frame_type ctl_type;
	char *ctl_data;
	uint32_t ctl_len;
	bool failed;
	char why[256];
};

static void relay_fail(struct peer_relay *r, const char *why)
{
	pthread_mutex_lock(&r->lock);
	if (!r->failed) {
		r->failed = true;
		snprintf(r->why, sizeof(r->why), "%s", why);
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	/* The worker sees its stream end: a source resumes its VM, a destination gives up. */
	shutdown(r->plain_fd, SHUT_RDWR);
}

/* The worker's bytes to the peer, as DATA frames; its end as EOF. */
static void *relay_out(void *arg)
{
	struct peer_relay *r = arg;
	uint8_t *buf = malloc(RELAY_CHUNK);

	while (buf) {
		ssize_t n = read(r->plain_fd, buf, RELAY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (peer_chan_send(r->c, PEER_FRAME_EOF, NULL, 0) < 0)
				relay_fail(r, "the link to the peer failed");
			break;
		}
		if (peer_chan_send(r->c, PEER_FRAME_DATA, buf, (uint32_t)n) < 0) {
			relay_fail(r, "the link to the peer failed");
			break;
		}
		pthread_mutex_lock(&r->lock);
		r->bytes_out += (uint64_t)n;
		pthread_mutex_unlock(&r->lock);
	}
	free(buf);
	return NULL;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The peer's frames: DATA to the worker, EOF as its end, control frames to the waiter. */
static void *relay_in(void *arg)
{
	struct peer_relay *r = arg;
	char err[256];

	for (;;) {
		enum peer_frame_type t;
		char *data = NULL;
		uint32_t len = 0;

		if (peer_chan_recv(r->c, -1, &t, &data, &len, err, sizeof(err)) < 0) {
			relay_fail(r, err);
			return NULL;
		}
		if (t == PEER_FRAME_DATA) {
			/* A worker that closed its end no longer reads: not a link failure. */
			(void)write_all(r->plain_fd, data, len);
			pthread_mutex_lock(&r->lock);
			r->bytes_in += len;
			pthread_mutex_unlock(&r->lock);
			free(data);
		} else if (t == PEER_FRAME_EOF) {
			shutdown(r->plain_fd, SHUT_WR);
			free(data);
		} else if (t == PEER_FRAME_COMMIT || t == PEER_FRAME_DONE) {
			pthread_mutex_lock(&r->lock);
			free(r->ctl_data);
			r->have_ctl = true;
			r->ctl_type = t;
			r->ctl_data = data;
			r->ctl_len = len;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
		} else {
			free(data);
			snprintf(err, sizeof(err), "the peer sent frame type %d during the move",
				 (int)t);
			relay_fail(r, err);
			return NULL;
		}
	}
}

int peer_relay_start(struct peer_chan *c, int plain_fd, struct peer_relay **ret)
{
	struct peer_relay *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->c = c;
	r->plain_fd = plain_fd;
	pthread_mutex_init(&r->lock, NULL);
	cond_init_monotonic(&r->cond);
	gnutls_record_set_timeout(c->s, 0);
	r->in_started = pthread_create(&r->in, NULL, relay_in, r) == 0;
	r->out_started = r->in_started && pthread_create(&r->out, NULL, relay_out, r) == 0;
	if (!r->out_started) {
		peer_relay_free(r);
		return -EAGAIN;
	}
	*ret = r;
	return 0;
}

void peer_relay_bytes(struct peer_relay *r, uint64_t *out, uint64_t *in)
{
	pthread_mutex_lock(&r->lock);
	*out = r->bytes_out;
	*in = r->bytes_in;
	pthread_mutex_unlock(&r->lock);
}

bool peer_relay_failed(struct peer_relay *r, char *err, size_t errlen)
{
	bool f;

	pthread_mutex_lock(&r->lock);
	f = r->failed;
	if (f)
		snprintf(err, errlen, "%s", r->why);
	pthread_mutex_unlock(&r->lock);
	return f;
}

int peer_relay_wait(struct peer_relay *r, int timeout_ms, enum peer_frame_type *type, char **data,
		    uint32_t *len, char *err, size_t errlen)
{
	struct timespec ts = monotonic_deadline_ns((uint64_t)timeout_ms * 1000000u);
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	while (!r->have_ctl && !r->failed && rc == 0)
		rc = pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	if (r->have_ctl) {
		*type = r->ctl_type;
		*data = r->ctl_data;
		*len = r->ctl_len;
		r->ctl_data = NULL;
		r->have_ctl = false;
		rc = 0;
	} else if (r->failed) {
		snprintf(err, errlen, "%s", r->why);
		rc = -EPIPE;
	} else {
		snprintf(err, errlen, "the peer did not answer within %d s", timeout_ms / 1000);
		rc = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void peer_relay_free(struct peer_relay *r)
{
	if (!r)
		return;
	shutdown(r->plain_fd, SHUT_RDWR);
	/* The receiver blocks in the session: the socket's shutdown ends it. */
	shutdown(r->c->fd, SHUT_RDWR);
	r->c->up = false;
	if (r->out_started)
		pthread_join(r->out, NULL);
	if (r->in_started)
		pthread_join(r->in, NULL);
	free(r->ctl_data);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
}
