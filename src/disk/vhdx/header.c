/*
 * VHDX headers (MS-VHDX 2.2.2): two 4 KiB copies at 64 KiB and 128 KiB, the
 * valid one with the larger SequenceNumber is current. Updates go to the
 * other slot with SequenceNumber+1 (2.2.2.1), so a torn write leaves the
 * previous header current. Headers are never written through the log.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "disk/crc32c.h"
#include "disk/vhdx/vhdx_internal.h"

static const uint64_t slot_offset[2] = {VHDX_HEADER1_OFFSET, VHDX_HEADER2_OFFSET};

void vhdx_random_guid(struct guid *g)
{
	size_t got = 0;

	while (got < sizeof(g->bytes)) {
		ssize_t n = getrandom(g->bytes + got, sizeof(g->bytes) - got, 0);

		if (n > 0)
			got += (size_t)n;
	}
	g->bytes[7] = (uint8_t)((g->bytes[7] & 0x0f) | 0x40); /* version 4 */
	g->bytes[8] = (uint8_t)((g->bytes[8] & 0x3f) | 0x80);
}

void vhdx_header_init_checksum(struct vhdx_header *h)
{
	h->checksum = 0;
	h->checksum = crc32c(0, h, sizeof(*h));
}

/* NULL if h is a valid header, else what is wrong with it. */
static const char *header_problem(const struct vhdx_header *h)
{
	struct vhdx_header copy = *h;

	if (h->signature != VHDX_HEADER_SIGNATURE)
		return "bad signature";
	copy.checksum = 0;
	if (crc32c(0, &copy, sizeof(copy)) != h->checksum)
		return "CRC-32C mismatch";
	if (h->version != 1)
		return "unsupported version";
	if (h->log_version != 0)
		return "unsupported log version";
	return NULL;
}

int vhdx_headers_load(struct vhdx *v, char *err, size_t err_size)
{
	struct vhdx_header h[2];
	const char *problem[2];
	int cur = -1, r;

	for (int i = 0; i < 2; i++) {
		r = disk_file_pread(v->fd, &h[i], sizeof(h[i]), slot_offset[i]);
		if (r < 0)
			return disk_error(err, err_size, r, "%s: reading VHDX header %d: %s",
					  v->path, i + 1, strerror(-r));
		problem[i] = header_problem(&h[i]);
		if (!problem[i] && (cur < 0 || h[i].sequence_number > h[cur].sequence_number))
			cur = i;
	}
	if (cur < 0)
		return disk_error(err, err_size, -EINVAL,
				  "%s: no valid VHDX header (header 1: %s; header 2: %s)", v->path,
				  problem[0], problem[1]);
	v->header = h[cur];
	v->header_slot = (unsigned)cur;
	const struct vhdx_header *c = &v->header;
	if (c->log_length % VHDX_MiB || c->log_offset % VHDX_MiB ||
	    (c->log_length && c->log_offset < VHDX_MiB) || c->log_length > VHDX_MAX_LOG_LENGTH)
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX header %d: bad log placement (offset %llu, length %u)",
				  v->path, cur + 1, (unsigned long long)c->log_offset,
				  c->log_length);
	if (!c->log_length && !guid_is_null(&c->log_guid))
		return disk_error(err, err_size, -EINVAL,
				  "%s: VHDX header %d: LogGuid set but no log", v->path, cur + 1);
	return 0;
}

int vhdx_header_write(struct vhdx *v, const struct vhdx_header *h)
{
	struct vhdx_header n = *h;
	unsigned slot = v->header_slot ^ 1;
	int r;

	n.sequence_number = v->header.sequence_number + 1;
	vhdx_header_init_checksum(&n);
	r = disk_file_pwrite(v->fd, &n, sizeof(n), slot_offset[slot]);
	if (r < 0)
		return r;
	if (fdatasync(v->fd) < 0)
		return -errno;
	v->header = n;
	v->header_slot = slot;
	return 0;
}

int vhdx_session_start(struct vhdx *v)
{
	struct vhdx_header h = v->header;
	int r;

	if (v->session_started)
		return 0;
	vhdx_random_guid(&h.file_write_guid);
	vhdx_random_guid(&h.data_write_guid);
	/* Both slots, so that the older one never carries stale GUIDs (2.2.2.1 SHOULD). */
	r = vhdx_header_write(v, &h);
	if (r == 0)
		r = vhdx_header_write(v, &h);
	if (r == 0)
		__atomic_store_n(&v->session_started, true, __ATOMIC_RELEASE);
	return r;
}
