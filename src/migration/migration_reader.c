/* The receiving side of the migration stream (migration_stream.h): a peer's bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "migration/migration_stream.h"
#include "state/state.h"

#define COPY_CHUNK (64u << 10)

struct migration_reader {
	int fd;
	struct migration_header header;
	struct migration_reader_stats stats;
	uint64_t round_pages; /* page records' pages since the last ROUND_END */
	int devices_fd;	      /* the DEVICES record's memory file, or -1 */
	uint64_t *written;    /* pages a PAGES record wrote: a zero run clears only those */
	struct state_reader *devices;
};

static int fail(char *errbuf, size_t errlen, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *errbuf, size_t errlen, int err, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* Reads exactly len bytes: -EPIPE at the end of the stream (the peer closed it early). */
static int read_exact(struct migration_reader *r, void *buf, size_t len, char *errbuf,
		      size_t errlen, const char *what)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(r->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errbuf, errlen, -errno, "reading the migration stream (%s): %s",
				    what, strerror(errno));
		if (n == 0)
			return fail(errbuf, errlen, -EPIPE,
				    "the migration stream is truncated: it ends inside %s after "
				    "%llu bytes",
				    what, (unsigned long long)r->stats.bytes);
		p += n;
		len -= (size_t)n;
		r->stats.bytes += (uint64_t)n;
	}
	return 0;
}

int migration_reader_new(int fd, struct migration_reader **ret, char *errbuf, size_t errlen)
{
	struct migration_reader *r = calloc(1, sizeof(*r));
	struct migration_header *h;
	int err;

	if (!r)
		return fail(errbuf, errlen, -ENOMEM, "out of memory");
	r->fd = fd;
	r->devices_fd = -1;
	h = &r->header;
	err = read_exact(r, h, sizeof(*h), errbuf, errlen, "the header");
	if (err == 0 && memcmp(h->magic, MIGRATION_MAGIC, sizeof(h->magic)))
		err = fail(errbuf, errlen, -EBADMSG,
			   "this is no Parvis migration stream (its magic is not %s)",
			   MIGRATION_MAGIC);
	if (err == 0 && h->format_version != MIGRATION_VERSION)
		err = fail(
			errbuf, errlen, -EPROTONOSUPPORT,
			"the migration stream is format version %u; this build reads version %u%s",
			h->format_version, MIGRATION_VERSION,
			h->format_version > MIGRATION_VERSION ? " (the source is newer)" : "");
	if (err == 0 && (h->header_size != sizeof(*h) || h->flags || h->reserved))
		err = fail(errbuf, errlen, -EBADMSG,
			   "the migration stream's header is corrupt (size %u, flags %#x)",
			   h->header_size, h->flags);
	if (err == 0 && (h->memory_bytes == 0 || h->memory_bytes % MIGRATION_PAGE))
		err = fail(errbuf, errlen, -EBADMSG,
			   "the migration stream names %llu bytes of memory: not whole pages",
			   (unsigned long long)h->memory_bytes);
	if (err < 0) {
		free(r);
		return err;
	}
	*ret = r;
	return 0;
}

struct migration_reader *migration_reader_free(struct migration_reader *r)
{
	if (!r)
		return NULL;
	state_reader_free(r->devices);
	free(r->written);
	if (r->devices_fd >= 0)
		close(r->devices_fd);
	free(r);
	return NULL;
}

const struct migration_header *migration_reader_header(const struct migration_reader *r)
{
	return &r->header;
}

const struct migration_reader_stats *migration_reader_stats(const struct migration_reader *r)
{
	return &r->stats;
}

struct state_reader *migration_reader_devices(const struct migration_reader *r)
{
	return r->devices;
}

int migration_reader_match(const struct migration_reader *r,
			   const uint8_t digest[STATE_CONFIG_DIGEST_BYTES], uint64_t memory_bytes,
			   char *errbuf, size_t errlen)
{
	if (r->header.memory_bytes != memory_bytes)
		return fail(errbuf, errlen, -ESTALE,
			    "the migrating VM has %llu MiB of memory but this VM has %llu MiB",
			    (unsigned long long)(r->header.memory_bytes >> 20),
			    (unsigned long long)(memory_bytes >> 20));
	if (memcmp(r->header.config_digest, digest, STATE_CONFIG_DIGEST_BYTES))
		return fail(errbuf, errlen, -ESTALE,
			    "the migrating VM has another configuration than this VM "
			    "(configuration digest differs)");
	return 0;
}

/* A run of pages inside memory; PAGES runs are bounded and carry exactly their pages. */
static int read_run(struct migration_reader *r, const struct migration_record *rec, uint8_t *ram,
		    char *errbuf, size_t errlen)
{
	uint64_t pages = r->header.memory_bytes / MIGRATION_PAGE;
	bool zero = rec->type == MIGRATION_REC_ZERO_PAGES;
	struct migration_pages run;
	uint64_t i;
	int err;

	if (rec->length < sizeof(run))
		return fail(errbuf, errlen, -EBADMSG, "a page record of %llu bytes is too short",
			    (unsigned long long)rec->length);
	err = read_exact(r, &run, sizeof(run), errbuf, errlen, "a page record");
	if (err < 0)
		return err;
	if (run.count == 0 || run.first_page >= pages || run.count > pages - run.first_page)
		return fail(errbuf, errlen, -ERANGE,
			    "a page record names pages %llu+%llu, outside the VM's %llu pages",
			    (unsigned long long)run.first_page, (unsigned long long)run.count,
			    (unsigned long long)pages);
	if (zero ? rec->length != sizeof(run)
		 : run.count > MIGRATION_RUN_PAGES_MAX ||
			    rec->length != sizeof(run) + run.count * MIGRATION_PAGE)
		return fail(errbuf, errlen, -EBADMSG,
			    "a page record of %llu pages is %llu bytes long",
			    (unsigned long long)run.count, (unsigned long long)rec->length);
	r->round_pages += run.count;
	if (zero) {
		/* RAM was zero to begin with: touching the other pages would only fault them in. */
		for (i = run.first_page; i < run.first_page + run.count; i++)
			if (r->written[i / 64] >> (i % 64) & 1) {
				memset(ram + i * MIGRATION_PAGE, 0, MIGRATION_PAGE);
				r->written[i / 64] &= ~(1ull << (i % 64));
			}
		r->stats.zero_pages += run.count;
		return 0;
	}
	for (i = run.first_page; i < run.first_page + run.count; i++)
		r->written[i / 64] |= 1ull << (i % 64);
	r->stats.pages += run.count;
	return read_exact(r, ram + run.first_page * MIGRATION_PAGE, run.count * MIGRATION_PAGE,
			  errbuf, errlen, "a page record");
}

static int read_round_end(struct migration_reader *r, const struct migration_record *rec,
			  char *errbuf, size_t errlen)
{
	struct migration_round_end e;
	int err;

	if (rec->length != sizeof(e))
		return fail(errbuf, errlen, -EBADMSG, "a round-end record of %llu bytes",
			    (unsigned long long)rec->length);
	err = read_exact(r, &e, sizeof(e), errbuf, errlen, "a round-end record");
	if (err < 0)
		return err;
	if (e.round != r->stats.rounds || e.reserved || e.pages != r->round_pages)
		return fail(errbuf, errlen, -EBADMSG,
			    "round %u ends with %llu pages where round %u with %llu pages was due",
			    e.round, (unsigned long long)e.pages, r->stats.rounds,
			    (unsigned long long)r->round_pages);
	if (++r->stats.rounds > MIGRATION_ROUNDS_MAX)
		return fail(errbuf, errlen, -EBADMSG, "more than %u rounds", MIGRATION_ROUNDS_MAX);
	r->round_pages = 0;
	return 0;
}

/* Copies the device state into a memory file and opens it as a saved state without RAM. */
static int read_devices(struct migration_reader *r, const struct migration_record *rec,
			char *errbuf, size_t errlen)
{
	uint64_t left = rec->length;
	char why[256] = "";
	uint8_t *buf;
	int err = 0;

	if (r->devices)
		return fail(errbuf, errlen, -EBADMSG, "a second device-state record");
	if (left == 0 || left > MIGRATION_DEVICES_MAX)
		return fail(errbuf, errlen, -EBADMSG,
			    "a device-state record of %llu bytes (at most %u)",
			    (unsigned long long)left, MIGRATION_DEVICES_MAX);
	r->devices_fd = memfd_create("parvis-migration-devices", MFD_CLOEXEC);
	if (r->devices_fd < 0)
		return fail(errbuf, errlen, -errno, "memfd_create: %s", strerror(errno));
	buf = malloc(COPY_CHUNK);
	if (!buf)
		return fail(errbuf, errlen, -ENOMEM, "out of memory");
	while (err == 0 && left) {
		size_t n = left < COPY_CHUNK ? (size_t)left : COPY_CHUNK;

		err = read_exact(r, buf, n, errbuf, errlen, "the device state");
		if (err == 0 && write(r->devices_fd, buf, n) != (ssize_t)n)
			err = fail(errbuf, errlen, -EIO, "cannot keep the device state: %s",
				   strerror(errno));
		left -= n;
	}
	free(buf);
	if (err < 0)
		return err;
	err = state_reader_new(r->devices_fd, &r->devices, why, sizeof(why));
	if (err < 0)
		return fail(errbuf, errlen, err, "the device state is corrupt: %s", why);
	err = state_reader_match(r->devices, r->header.config_digest, r->header.memory_bytes, why,
				 sizeof(why));
	if (err == 0 && (state_reader_has(r->devices, STATE_SECTION_RAM) ||
			 state_reader_has(r->devices, STATE_SECTION_RAM_INDEX)))
		err = fail(why, sizeof(why), -EBADMSG, "it holds RAM (RAM comes as page records)");
	if (err < 0)
		return fail(errbuf, errlen, -EBADMSG,
			    "the device state does not belong to this stream: %s", why);
	return 0;
}

static int read_end(struct migration_reader *r, const struct migration_record *rec, char *errbuf,
		    size_t errlen)
{
	struct migration_end e;
	int err;

	if (rec->length != sizeof(e))
		return fail(errbuf, errlen, -EBADMSG, "an end record of %llu bytes",
			    (unsigned long long)rec->length);
	err = read_exact(r, &e, sizeof(e), errbuf, errlen, "the end record");
	if (err < 0)
		return err;
	if (!r->devices)
		return fail(errbuf, errlen, -EBADMSG,
			    "the migration stream ends without the device state");
	if (r->stats.rounds == 0 || r->round_pages)
		return fail(errbuf, errlen, -EBADMSG,
			    "the migration stream ends inside a round (%u rounds ended)",
			    r->stats.rounds);
	if (e.records != r->stats.records || e.rounds != r->stats.rounds)
		return fail(errbuf, errlen, -EBADMSG,
			    "the end record counts %llu records and %llu rounds; %llu and %u came",
			    (unsigned long long)e.records, (unsigned long long)e.rounds,
			    (unsigned long long)r->stats.records, r->stats.rounds);
	return 0;
}

int migration_reader_run(struct migration_reader *r, void *ram, char *errbuf, size_t errlen)
{
	struct migration_record rec;
	int err;

	if (r->devices || r->written)
		return fail(errbuf, errlen, -EINVAL, "the stream was read already");
	r->written = calloc((r->header.memory_bytes / MIGRATION_PAGE + 63) / 64, sizeof(uint64_t));
	if (!r->written)
		return fail(errbuf, errlen, -ENOMEM, "out of memory for the page map of %llu MiB",
			    (unsigned long long)(r->header.memory_bytes >> 20));
	for (;;) {
		err = read_exact(r, &rec, sizeof(rec), errbuf, errlen, "a record header");
		if (err < 0)
			return err;
		if (rec.flags)
			return fail(errbuf, errlen, -EBADMSG, "record %llu has flags %#x",
				    (unsigned long long)r->stats.records, rec.flags);
		if (r->devices && rec.type != MIGRATION_REC_END)
			return fail(errbuf, errlen, -EBADMSG,
				    "a record of type %u after the device state (only the end "
				    "record may follow it)",
				    rec.type);
		switch (rec.type) {
		case MIGRATION_REC_PAGES:
		case MIGRATION_REC_ZERO_PAGES: err = read_run(r, &rec, ram, errbuf, errlen); break;
		case MIGRATION_REC_ROUND_END: err = read_round_end(r, &rec, errbuf, errlen); break;
		case MIGRATION_REC_DEVICES: err = read_devices(r, &rec, errbuf, errlen); break;
		case MIGRATION_REC_END: return read_end(r, &rec, errbuf, errlen);
		default:
			return fail(errbuf, errlen, -EBADMSG,
				    "record %llu has the unknown type %u (a newer source?)",
				    (unsigned long long)r->stats.records, rec.type);
		}
		if (err < 0)
			return err;
		r->stats.records++;
	}
}
