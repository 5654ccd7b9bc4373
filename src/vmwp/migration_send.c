/*
 * The source side of a live migration (migration_send.h; docs/migration.md):
 * pre-copy of guest RAM with KVM's dirty log, then the stop: device state
 * as machine_save writes it, the last pages, the end, the destination's ack.
 */
#include "vmwp/migration_send.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "migration/migration_stream.h"
#include "vid/guest_memory.h"
#include "vid/partition.h"
#include "vmwp/config_digest.h"
#include "vmwp/machine_state.h"

#define PAGE		  4096u
#define ROUNDS_MAX	  30u  /* then stop whatever remains */
#define CONVERGED_PAGES	  256u /* 1 MiB left: stop and copy */
#define THROTTLE_MS_FIRST 10u  /* a round that did not shrink pauses the vCPUs this long */
#define THROTTLE_MS_MAX	  200u
#define ACK_TIMEOUT_MS	  300000 /* the destination builds its machine first: minutes on PVM */

struct send_ctx {
	struct machine *m;
	struct partition *p;
	struct migration_writer w;
	uint8_t *ram;
	int ram_fd; /* the memfd behind ram: its holes are zero pages never touched */
	uint64_t zero_hash;
	uint64_t pages;
	uint64_t *dirty; /* pages to send in the next round */
	uint64_t *hash;	 /* each page's hash when it was last sent: the host's writes show */
	struct migration_progress *prog;
	int progress_fd;		/* the caller's progress socket, or -1 */
	uint64_t round_ns, round_bytes; /* when the round began, c->w.bytes then */
};

static const uint8_t zero_page[PAGE];

/* A page's content hash (the host's own writes into guest RAM are not in KVM's log). */
static uint64_t page_hash(const uint8_t *page)
{
	const uint64_t *q = (const uint64_t *)(const void *)page;
	uint64_t h = 0x9e3779b97f4a7c15ull;
	unsigned i;

	for (i = 0; i < PAGE / 8; i++)
		h = (h ^ q[i]) * 0x100000001b3ull;
	return h;
}

/*
 * Calls fn on each run of pages [first, first + count) of the memfd, hole or data
 * (SEEK_DATA/SEEK_HOLE): holes are read by nobody, so an untouched guest costs no faults.
 */
static int for_each_extent(struct send_ctx *c,
			   int (*fn)(struct send_ctx *, uint64_t, uint64_t, bool))
{
	off_t size = (off_t)(c->pages * PAGE), pos = 0, data, hole;
	int r;

	while (pos < size) {
		data = lseek(c->ram_fd, pos, SEEK_DATA);
		if (data < 0 && errno != ENXIO)
			return -errno;
		if (data < 0 || data > size)
			data = size;
		data &= ~(off_t)(PAGE - 1);
		if (data > pos) {
			r = fn(c, (uint64_t)pos / PAGE, (uint64_t)(data - pos) / PAGE, true);
			if (r < 0)
				return r;
		}
		if (data >= size)
			break;
		hole = lseek(c->ram_fd, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		hole = (hole + PAGE - 1) & ~(off_t)(PAGE - 1);
		if (hole <= data)
			hole = data + PAGE;
		r = fn(c, (uint64_t)data / PAGE, (uint64_t)(hole - data) / PAGE, false);
		if (r < 0)
			return r;
		pos = hole;
	}
	return 0;
}

/* Round 0: holes go as zero runs, data pages are marked to be sent. */
static int first_round_extent(struct send_ctx *c, uint64_t first, uint64_t count, bool hole)
{
	uint64_t i;

	if (hole) {
		for (i = first; i < first + count; i++)
			c->hash[i] = c->zero_hash;
		return migration_writer_zero_pages(&c->w, first, count);
	}
	for (i = first; i < first + count; i++)
		c->dirty[i / 64] |= 1ull << (i % 64);
	return 0;
}

/* Sends the runs of set bits of c->dirty (then clears it); the number of pages sent. */
static int send_dirty(struct send_ctx *c, uint64_t *sent)
{
	uint64_t i = 0, n = 0, start;
	int r;

	while (i < c->pages) {
		if (!(c->dirty[i / 64] >> (i % 64) & 1)) {
			i++;
			continue;
		}
		for (start = i; i < c->pages && (c->dirty[i / 64] >> (i % 64) & 1); i++)
			c->hash[i] = page_hash(c->ram + i * PAGE);
		r = migration_writer_pages(&c->w, c->ram, start, i - start);
		if (r < 0)
			return r;
		n += i - start;
	}
	memset(c->dirty, 0, (c->pages + 63) / 64 * 8);
	*sent = n;
	return 0;
}

static uint64_t count_bits(const uint64_t *map, uint64_t pages)
{
	uint64_t i, n = 0;

	for (i = 0; i < (pages + 63) / 64; i++)
		n += (uint64_t)__builtin_popcountll(map[i]);
	return n;
}

/*
 * After a round: the guest's dirty rate and the link's rate over it, the downtime the stop
 * would have now, into prog and (if the caller gave one) a line on its progress socket.
 */
static void report_round(struct send_ctx *c, uint64_t dirty)
{
	uint64_t now = time_monotonic_ns(), dt = now - c->round_ns,
		 bytes = c->w.bytes - c->round_bytes;
	char line[320];
	int n;

	if (dt) {
		c->prog->dirty_pages_per_s = (uint64_t)((double)dirty * 1e9 / (double)dt);
		c->prog->link_bytes_per_s = (uint64_t)((double)bytes * 1e9 / (double)dt);
	}
	c->prog->expected_downtime_ms = c->prog->link_bytes_per_s
						? (uint64_t)((double)dirty * PAGE * 1000.0 /
							     (double)c->prog->link_bytes_per_s)
						: 0;
	c->round_ns = now;
	c->round_bytes = c->w.bytes;
	if (c->progress_fd < 0)
		return;
	n = snprintf(line, sizeof(line),
		     "{\"round\":%u,\"bytes\":%llu,\"dirty_pages\":%llu,\"dirty_pages_per_s\":%llu,"
		     "\"link_bytes_per_s\":%llu,\"expected_downtime_ms\":%llu}\n",
		     c->w.rounds, (unsigned long long)c->w.bytes, (unsigned long long)dirty,
		     (unsigned long long)c->prog->dirty_pages_per_s,
		     (unsigned long long)c->prog->link_bytes_per_s,
		     (unsigned long long)c->prog->expected_downtime_ms);
	/* Never waits: a reader that is behind loses a line, the migration goes on. */
	if (n > 0 && send(c->progress_fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		c->progress_fd = errno == EAGAIN ? c->progress_fd : -1;
}

/* Round 0 sends everything; later rounds what the guest wrote meanwhile, throttled if needed. */
static int precopy(struct send_ctx *c, bool already_paused, char *err, size_t errlen)
{
	uint64_t prev = UINT64_MAX, sent, dirty;
	unsigned throttle_ms = THROTTLE_MS_FIRST;
	int r;

	r = for_each_extent(c, first_round_extent);
	if (r < 0) {
		snprintf(err, errlen, "sending round 0: %s", strerror(-r));
		return r;
	}
	for (;;) {
		r = send_dirty(c, &sent);
		if (r == 0)
			r = migration_writer_round_end(&c->w);
		if (r < 0) {
			snprintf(err, errlen, "sending round %u: %s", c->w.rounds, strerror(-r));
			return r;
		}
		c->prog->rounds = c->w.rounds;
		c->prog->bytes = c->w.bytes;
		r = partition_dirty_log_fetch(c->p, c->dirty);
		if (r < 0) {
			snprintf(err, errlen, "KVM_GET_DIRTY_LOG: %s", strerror(-r));
			return r;
		}
		dirty = count_bits(c->dirty, c->pages);
		c->prog->last_dirty_pages = dirty;
		report_round(c, dirty);
		if (dirty <= CONVERGED_PAGES || c->w.rounds >= ROUNDS_MAX)
			return 0;
		/* Not converging: hold the vCPUs a moment so that the link catches up. */
		if (dirty >= prev && !already_paused && partition_pause(c->p) == 0) {
			c->prog->throttle_pauses++;
			usleep(throttle_ms * 1000u);
			partition_resume(c->p);
			if (throttle_ms < THROTTLE_MS_MAX)
				throttle_ms *= 2;
		}
		prev = dirty;
	}
}

/*
 * The pages the host wrote since they were sent (VSPs, SynIC pages): their hash changed. A
 * page still in a hole is zero without being read.
 */
static int host_writes_extent(struct send_ctx *c, uint64_t first, uint64_t count, bool hole)
{
	uint64_t i;

	for (i = first; i < first + count; i++)
		if (!(c->dirty[i / 64] >> (i % 64) & 1) &&
		    (hole ? c->zero_hash : page_hash(c->ram + i * PAGE)) != c->hash[i])
			c->dirty[i / 64] |= 1ull << (i % 64);
	return 0;
}

static int wait_ack(int fd, char *err, size_t errlen)
{
	char ack[sizeof(MIGRATION_ACK) - 1];
	size_t got = 0;

	while (got < sizeof(ack)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;
		int pr = poll(&pfd, 1, ACK_TIMEOUT_MS);

		if (pr == 0) {
			snprintf(err, errlen, "the destination did not acknowledge in %d s",
				 ACK_TIMEOUT_MS / 1000);
			return -ETIMEDOUT;
		}
		if (pr < 0 && errno == EINTR)
			continue;
		n = pr < 0 ? -1 : read(fd, ack + got, sizeof(ack) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen,
				 "the destination closed the connection before it acknowledged "
				 "(it refused the stream or failed: see its log)");
			return n < 0 ? -errno : -EPIPE;
		}
		got += (size_t)n;
	}
	if (memcmp(ack, MIGRATION_ACK, sizeof(ack))) {
		snprintf(err, errlen, "the destination answered something else than its ack");
		return -EBADMSG;
	}
	return 0;
}

/* The stop: device state, the last pages, the end record; then the ack. */
static int stop_and_copy(struct send_ctx *c, const struct vm_config *cfg, int fd, bool *quiesced,
			 char *err, size_t errlen)
{
	char why[512] = "";
	uint64_t sent;
	struct stat st;
	void *image = MAP_FAILED;
	int dev_fd = memfd_create("parvis-migration-devices", MFD_CLOEXEC), r;

	if (dev_fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -errno;
	}
	r = machine_save_devices(c->m, cfg, dev_fd, quiesced, why, sizeof(why));
	if (r == 0)
		r = partition_dirty_log_fetch(c->p, c->dirty);
	if (r == 0)
		r = for_each_extent(c, host_writes_extent);
	if (r == 0) {
		c->prog->last_dirty_pages = count_bits(c->dirty, c->pages);
		r = send_dirty(c, &sent);
		if (r == 0)
			r = migration_writer_round_end(&c->w);
	}
	if (r == 0 && fstat(dev_fd, &st) < 0)
		r = -errno;
	if (r == 0) {
		image = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, dev_fd, 0);
		if (image == MAP_FAILED)
			r = -errno;
	}
	if (r == 0)
		r = migration_writer_devices(&c->w, image, (size_t)st.st_size);
	if (r == 0)
		r = migration_writer_end(&c->w);
	if (image != MAP_FAILED)
		munmap(image, (size_t)st.st_size);
	close(dev_fd);
	c->prog->rounds = c->w.rounds;
	c->prog->bytes = c->w.bytes;
	if (r < 0) {
		snprintf(err, errlen, "%s", why[0] ? why : strerror(-r));
		return r;
	}
	return wait_ack(fd, err, errlen);
}

static int connect_path(const char *path, int *fd, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "\"path\" is too long for a Unix socket");
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(errno));
		if (s >= 0)
			close(s);
		return r;
	}
	*fd = s;
	return 0;
}

static int peer_fd(const struct vm_config *cfg, struct json_object *req, const int *fds,
		   unsigned nfds, int *fd, bool *owned, char *err, size_t errlen)
{
	struct json_object *v;
	struct stat st;

	*owned = false;
	if (nfds > 2) {
		snprintf(err, errlen,
			 "migrate-send: %u descriptors came; at most two (the socket, a progress "
			 "socket)",
			 nfds);
		return -EINVAL;
	}
	if (nfds == 2 && (fstat(fds[1], &st) < 0 || !S_ISSOCK(st.st_mode))) {
		snprintf(err, errlen, "migrate-send: the progress descriptor is not a socket");
		return -ENOTSOCK;
	}
	if (nfds >= 1) {
		if (fstat(fds[0], &st) < 0 || !S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "migrate-send: the descriptor sent is not a socket");
			return -ENOTSOCK;
		}
		*fd = fds[0];
		return 0;
	}
	if (!json_object_object_get_ex(req, "path", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen,
			 "migrate-send needs the connected socket (SCM_RIGHTS) or "
			 "\"path\": the destination's Unix socket");
		return -EINVAL;
	}
	if (cfg->jail) {
		snprintf(err, errlen,
			 "migrate-send: a jailed worker reaches no path: send the "
			 "connected socket's descriptor with the request");
		return -EACCES;
	}
	*owned = true;
	return connect_path(json_object_get_string(v), fd, err, errlen);
}

static void answer(struct json_object *resp, const struct migration_progress *prog)
{
	json_object_object_add(resp, "ok", json_object_new_boolean(prog->done));
	if (!prog->done)
		json_object_object_add(resp, "error", json_object_new_string(prog->error));
	json_object_object_add(resp, "migration", migration_progress_json(prog));
}

struct json_object *migration_progress_json(const struct migration_progress *prog)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "state",
			       json_object_new_string(prog->done       ? "migrated"
						      : prog->active   ? "sending"
						      : prog->error[0] ? "failed"
								       : "none"));
	json_object_object_add(o, "rounds", json_object_new_int64(prog->rounds));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)prog->bytes));
	json_object_object_add(o, "last_dirty_pages",
			       json_object_new_int64((int64_t)prog->last_dirty_pages));
	json_object_object_add(o, "throttle_pauses",
			       json_object_new_int64((int64_t)prog->throttle_pauses));
	json_object_object_add(o, "downtime_ms", json_object_new_int64((int64_t)prog->downtime_ms));
	json_object_object_add(o, "dirty_pages_per_s",
			       json_object_new_int64((int64_t)prog->dirty_pages_per_s));
	json_object_object_add(o, "link_bytes_per_s",
			       json_object_new_int64((int64_t)prog->link_bytes_per_s));
	json_object_object_add(o, "expected_downtime_ms",
			       json_object_new_int64((int64_t)prog->expected_downtime_ms));
	json_object_object_add(o, "total_ms", json_object_new_int64((int64_t)prog->total_ms));
	if (prog->error[0])
		json_object_object_add(o, "error", json_object_new_string(prog->error));
	return o;
}

void migration_control_send(struct machine *m, const struct vm_config *cfg, bool already_paused,
			    struct json_object *req, const int *fds, unsigned nfds,
			    struct migration_progress *prog, bool *migrated,
			    struct json_object *resp)
{
	struct send_ctx c = {.m = m,
			     .p = machine_partition(m),
			     .prog = prog,
			     .progress_fd = nfds == 2 ? fds[1] : -1,
			     .round_ns = time_monotonic_ns()};
	uint8_t digest[CONFIG_DIGEST_BYTES];
	uint64_t t0 = time_monotonic_ns(), t_stop = 0;
	bool owned = false, paused = false, quiesced = false, logging = false;
	char err[400] = "";
	int fd = -1, r;

	memset(prog, 0, sizeof(*prog));
	*migrated = false;
	c.ram = guest_memory_region(partition_memory(c.p), 0)->hva;
	c.pages = guest_memory_ram_size(partition_memory(c.p)) / PAGE;
	c.ram_fd = guest_memory_fd(partition_memory(c.p));
	c.zero_hash = page_hash(zero_page);
	c.dirty = calloc((c.pages + 63) / 64, 8);
	c.hash = calloc(c.pages, sizeof(*c.hash));
	r = c.dirty && c.hash ? 0 : -ENOMEM;
	if (r == 0)
		r = peer_fd(cfg, req, fds, nfds, &fd, &owned, err, sizeof(err));
	if (r == 0)
		r = config_digest(cfg, digest);
	/* The precopy skips the memfd's holes: a lazy restore's pages must all be in first. */
	if (r == 0 && (r = partition_ram_settle(c.p)) < 0)
		snprintf(err, sizeof(err),
			 "guest RAM did not all come back from its saved state: %s", strerror(-r));
	prog->active = r == 0;
	if (r == 0) {
		r = partition_dirty_log_start(c.p);
		logging = r == 0;
		if (r < 0)
			snprintf(err, sizeof(err), "cannot log dirty pages: %s", strerror(-r));
	}
	if (r == 0) {
		r = migration_writer_start(&c.w, fd, digest, c.pages * PAGE);
		if (r < 0)
			snprintf(err, sizeof(err), "cannot send the stream's header: %s",
				 strerror(-r));
	}
	if (r == 0)
		r = precopy(&c, already_paused, err, sizeof(err));
	if (r == 0 && !already_paused) {
		/* partition_pause finishes half-done exits (a port read) before it holds a vCPU. */
		r = partition_pause(c.p);
		paused = r == 0;
		if (r < 0)
			snprintf(err, sizeof(err), "the VM stopped while it was being paused");
	}
	t_stop = time_monotonic_ns();
	if (r == 0)
		r = stop_and_copy(&c, cfg, fd, &quiesced, err, sizeof(err));
	prog->active = false;
	prog->rounds = c.w.rounds; /* what went out, also when it failed */
	prog->bytes = c.w.bytes;
	prog->total_ms = (time_monotonic_ns() - t0) / 1000000;
	if (r == 0) {
		prog->done = true;
		prog->downtime_ms = (time_monotonic_ns() - t_stop) / 1000000;
		*migrated = true; /* the vCPUs stay paused: the destination runs the guest */
		pv_log(LOG_INFO,
		       "migrated: %u rounds, %llu bytes, %llu pages in the last round, downtime "
		       "%llu ms, %llu ms in all",
		       prog->rounds, (unsigned long long)prog->bytes,
		       (unsigned long long)prog->last_dirty_pages,
		       (unsigned long long)prog->downtime_ms, (unsigned long long)prog->total_ms);
	} else {
		snprintf(prog->error, sizeof(prog->error), "migration failed: %s",
			 err[0] ? err : strerror(-r));
		machine_unquiesce(m, quiesced);
		if (paused)
			partition_resume(c.p);
		pv_log(LOG_WARN, "%s; the VM goes on here", prog->error);
	}
	if (logging)
		partition_dirty_log_stop(c.p);
	if (owned)
		close(fd);
	free(c.dirty);
	free(c.hash);
	answer(resp, prog);
}

int migration_incoming_open(const char *spec, int *fd, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *end;
	long n = strtol(spec, &end, 10);
	int s, c, r;

	if (spec[0] && !*end) {
		struct stat st;

		if (n < 0 || n > INT32_MAX || fstat((int)n, &st) < 0 || !S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "--incoming %s: not an open socket descriptor", spec);
			return -EBADF;
		}
		*fd = (int)n;
		return 0;
	}
	if (strlen(spec) + sizeof(".tmp") > sizeof(sa.sun_path) || spec[0] != '/') {
		snprintf(err, errlen,
			 "--incoming %s: give a descriptor number or the absolute path "
			 "of a Unix socket to listen on (at most %zu characters)",
			 spec, sizeof(sa.sun_path) - sizeof(".tmp"));
		return -EINVAL;
	}
	/*
	 * Bound under a temporary name and renamed once listening: whoever sees the path can
	 * connect (between bind and listen a connect is refused, and a sender polling for the
	 * path lost that race under load).
	 */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.tmp", spec);
	unlink(sa.sun_path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0 ||
	    rename(sa.sun_path, spec) < 0) {
		r = -errno;
		snprintf(err, errlen, "--incoming %s: %s", spec, strerror(errno));
		if (s >= 0) {
			unlink(sa.sun_path);
			close(s);
		}
		return r;
	}
	pv_log(LOG_INFO, "waiting for the migration stream on %s", spec);
	do
		c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
	while (c < 0 && errno == EINTR);
	r = c < 0 ? -errno : 0;
	if (c < 0)
		snprintf(err, errlen, "--incoming %s: accept: %s", spec, strerror(errno));
	close(s);
	unlink(spec);
	*fd = c;
	return r;
}
