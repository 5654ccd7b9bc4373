/*
 * A TLS session between two services for move-vm (migration_channel.c): mutually authenticated
 * by the pre-shared key of enable-vmmigration (TLS 1.3 PSK with (EC)DHE, through GnuTLS) or by
 * per-host certificates signed by a CA both trust, carrying
 * the frames of migration_proto.h. Then, for the memory, a relay between a worker's plain socket
 * and the session: the worker's bytes go as DATA frames, the peer's DATA comes back to it, and
 * the control frames (COMMIT, DONE) are handed to the caller.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmms/migration_proto.h"

#define MIG_KEY_MIN 32	/* bytes: the minimum for the pre-shared key */
#define MIG_KEY_MAX 512 /* bytes */

struct peer_chan;
struct peer_relay;

/*
 * The key file's text: one line of hex digits (a final newline allowed), at least MIG_KEY_MIN
 * bytes. 0 with key/len, -EINVAL with what is wrong in err. The file is the administrator's,
 * but it is parsed before any check of its owner: fuzzed with the peer messages.
 */
int mig_key_parse(const char *text, size_t textlen, uint8_t key[MIG_KEY_MAX], size_t *len,
		  char *err, size_t errlen) must_check;
/* Reads and parses a key file (at most 4 KiB). */
int mig_key_read(const char *path, uint8_t key[MIG_KEY_MAX], size_t *len, char *err,
		 size_t errlen) must_check;

/*
 * How two hosts authenticate each other: the pre-shared key, or per-host X.509 certificates
 * (this host's certificate and private key, and the CA file whose certificates it trusts: a
 * peer must present a certificate chain to one of them; both sides check).
 */
enum mig_auth_mode { MIG_AUTH_PSK, MIG_AUTH_X509 };
struct mig_auth {
	enum mig_auth_mode mode;
	uint8_t key[MIG_KEY_MAX]; /* MIG_AUTH_PSK */
	size_t keylen;
	const char *cert, *private_key, *trusted_ca; /* MIG_AUTH_X509: PEM files */
};

/* Loads the X.509 files of auth as a session would (0, or -EINVAL with what is wrong). */
int mig_x509_check(const struct mig_auth *auth, char *err, size_t errlen) must_check;

/* Connects to host:port and makes the TLS session as its client. */
int peer_chan_connect(const char *hostport, const struct mig_auth *auth, struct peer_chan **ret,
		      char *err, size_t errlen) must_check;
/* Makes the TLS session as the server on an accepted socket (taken over, closed on failure). */
int peer_chan_accept(int fd, const struct mig_auth *auth, struct peer_chan **ret, char *err,
		     size_t errlen) must_check;
/* The peer's address as text ("10.0.0.2:40112"). */
const char *peer_chan_peer(const struct peer_chan *c);
/* One frame (JSON or empty); safe beside a running relay. 0 or -errno. */
int peer_chan_send(struct peer_chan *c, enum peer_frame_type type, const void *data,
		   uint32_t len) must_check;
/*
 * The next frame, within timeout_ms: its type, and its payload NUL-terminated in a new buffer
 * (*data, free it). Not while a relay runs. 0, or -errno with why in err.
 */
int peer_chan_recv(struct peer_chan *c, int timeout_ms, enum peer_frame_type *type, char **data,
		   uint32_t *len, char *err, size_t errlen) must_check;
/* Ends the session (close_notify when it is still up) and closes the socket. NULL is a no-op. */
void peer_chan_free(struct peer_chan *c);

/* Starts relaying between plain_fd (a worker's end is the other side) and c. */
int peer_relay_start(struct peer_chan *c, int plain_fd, struct peer_relay **ret) must_check;
/* Bytes the relay carried so far: to the peer and from it. */
void peer_relay_bytes(struct peer_relay *r, uint64_t *out, uint64_t *in);
/*
 * Waits up to timeout_ms for a control frame (COMMIT or DONE): 0 with its type and payload
 * (*data, free it), -ETIMEDOUT, or -EPIPE with why in err when the link failed.
 */
int peer_relay_wait(struct peer_relay *r, int timeout_ms, enum peer_frame_type *type, char **data,
		    uint32_t *len, char *err, size_t errlen) must_check;
/* Whether the link failed (why in err). */
bool peer_relay_failed(struct peer_relay *r, char *err, size_t errlen);
/* Stops both directions (the plain socket is shut down) and frees the relay; NULL is a no-op. */
void peer_relay_free(struct peer_relay *r);
