/* The sending side of the migration stream (migration_stream.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/migration_stream.h"

/* Sends all of buf; a socket without SIGPIPE (a peer that went away is -EPIPE). */
static int send_all(struct migration_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	bool sock = true;

	while (len) {
		ssize_t n = sock ? send(w->fd, p, len, MSG_NOSIGNAL) : write(w->fd, p, len);

		if (n < 0 && errno == ENOTSOCK && sock) {
			sock = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
		w->bytes += (uint64_t)n;
	}
	return 0;
}

static int send_record(struct migration_writer *w, uint32_t type, const void *fixed,
		       size_t fixed_len, const void *tail, size_t tail_len)
{
	struct migration_record rec = {.type = type, .length = fixed_len + tail_len};
	int r = send_all(w, &rec, sizeof(rec));

	if (r == 0 && fixed_len)
		r = send_all(w, fixed, fixed_len);
	if (r == 0 && tail_len)
		r = send_all(w, tail, tail_len);
	if (r == 0)
		w->records++;
	return r;
}

int migration_writer_start(struct migration_writer *w, int fd,
			   const uint8_t digest[STATE_CONFIG_DIGEST_BYTES], uint64_t memory_bytes)
{
	struct migration_header h = {
		.format_version = MIGRATION_VERSION,
		.header_size = sizeof(h),
		.memory_bytes = memory_bytes,
	};

	if (memory_bytes == 0 || memory_bytes % MIGRATION_PAGE)
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->memory_bytes = memory_bytes;
	memcpy(h.magic, MIGRATION_MAGIC, sizeof(h.magic));
	memcpy(h.config_digest, digest, sizeof(h.config_digest));
	return send_all(w, &h, sizeof(h));
}

static bool page_is_zero(const uint8_t *page)
{
	const uint64_t *q = (const uint64_t *)(const void *)page;
	unsigned i;

	for (i = 0; i < MIGRATION_PAGE / sizeof(*q); i++)
		if (q[i])
			return false;
	return true;
}

static int send_run(struct migration_writer *w, const uint8_t *ram, uint64_t first, uint64_t count,
		    bool zero)
{
	struct migration_pages run = {.first_page = first, .count = count};

	w->round_pages += count;
	if (zero)
		return send_record(w, MIGRATION_REC_ZERO_PAGES, &run, sizeof(run), NULL, 0);
	return send_record(w, MIGRATION_REC_PAGES, &run, sizeof(run), ram + first * MIGRATION_PAGE,
			   count * MIGRATION_PAGE);
}

int migration_writer_pages(struct migration_writer *w, const void *ram, uint64_t first,
			   uint64_t count)
{
	const uint8_t *base = ram;
	uint64_t pages = w->memory_bytes / MIGRATION_PAGE, start = first, i;
	bool zero = false;
	int r;

	if (first > pages || count > pages - first)
		return -EINVAL;
	/* Runs of one kind: a zero run has no bound, a data run at most MIGRATION_RUN_PAGES_MAX. */
	for (i = first; i < first + count; i++) {
		bool z = page_is_zero(base + i * MIGRATION_PAGE);

		if (i > start && (z != zero || (!zero && i - start == MIGRATION_RUN_PAGES_MAX))) {
			r = send_run(w, base, start, i - start, zero);
			if (r < 0)
				return r;
			start = i;
		}
		if (i == start)
			zero = z;
	}
	return i > start ? send_run(w, base, start, i - start, zero) : 0;
}

int migration_writer_zero_pages(struct migration_writer *w, uint64_t first, uint64_t count)
{
	uint64_t pages = w->memory_bytes / MIGRATION_PAGE;

	if (first > pages || count > pages - first)
		return -EINVAL;
	return count ? send_run(w, NULL, first, count, true) : 0;
}

int migration_writer_round_end(struct migration_writer *w)
{
	struct migration_round_end e = {.round = w->rounds, .pages = w->round_pages};
	int r = send_record(w, MIGRATION_REC_ROUND_END, &e, sizeof(e), NULL, 0);

	if (r == 0) {
		w->rounds++;
		w->round_pages = 0;
	}
	return r;
}

int migration_writer_devices(struct migration_writer *w, const void *image, size_t len)
{
	if (len == 0 || len > MIGRATION_DEVICES_MAX)
		return -E2BIG;
	return send_record(w, MIGRATION_REC_DEVICES, NULL, 0, image, len);
}

int migration_writer_end(struct migration_writer *w)
{
	struct migration_end e = {.records = w->records, .rounds = w->rounds};

	return send_record(w, MIGRATION_REC_END, &e, sizeof(e), NULL, 0);
}
