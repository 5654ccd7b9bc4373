/*
 * The VHDX log (MS-VHDX 2.3): a circular buffer of entries, each carrying
 * 4 KiB page images of metadata (BAT pages) to be written in place.
 *
 * Writing (one entry per metadata update, like QEMU): flush the data the
 * update refers to, write the entry, flush, set LogGuid in the headers if
 * this session has not yet, write the pages in place, flush. Every entry is
 * applied and durable before the next is written, so each entry's Tail is
 * itself and a crash at any point leaves either the old metadata (entry not
 * complete: its CRC fails) or an entry to replay. A clean close writes the
 * headers with LogGuid zero.
 *
 * Reading (2.3.3): every 4 KiB position is tried as an entry; chains of
 * entries with consecutive sequence numbers are built from each, a chain is
 * usable if its last entry's Tail points into it, and the usable chain
 * ending with the highest sequence number is replayed from that Tail. The
 * scan is linear in the log's length (at most VHDX_MAX_LOG_LENGTH, read
 * once into memory), whatever the log holds: that bounds how long an open
 * may take.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/crc32c.h"
#include "disk/vhdx/vhdx_internal.h"

#define SECTOR VHDX_LOG_SECTOR

/* The bytes of an entry starting at log offset pos, unwrapped into out (len bytes). */
static void log_copy(const uint8_t *log, uint32_t log_len, uint32_t pos, uint8_t *out, uint32_t len)
{
	uint32_t first = MIN(len, log_len - pos);

	memcpy(out, log + pos, first);
	memcpy(out + first, log, len - first);
}

/* The log in memory while it is scanned, and the work done (sectors looked at). */
struct scan {
	const struct vhdx *v;
	const uint8_t *log;
	uint32_t log_len;
	uint64_t max_file; /* vhdx_max_file_size, or the file's size if larger */
	uint64_t work;
};

/* Copies len bytes at offset off of the entry at pos (wrapping at the log's end). */
static void scan_read(struct scan *s, uint32_t pos, uint32_t off, void *out, uint32_t len)
{
	log_copy(s->log, s->log_len, (uint32_t)(((uint64_t)pos + off) % s->log_len), out, len);
}

static bool is_entry_signature(const uint8_t *sector)
{
	uint32_t sig;

	memcpy(&sig, sector, 4);
	return sig == VHDX_LOG_ENTRY_SIGNATURE;
}

/*
 * Every sector of a well-formed entry but its first starts with a descriptor's signature
 * ("desc"/"zero": descriptor 126 + 128k starts sector k of the descriptor area) or a data
 * sector's ("data"), never with "loge". So an entry can only be as long as the distance to
 * the next sector that starts with "loge"; looking no further than that, the checks of all
 * entries together look at each sector of the log a bounded number of times (issue 12:
 * every sector checked as a header whose length claimed the whole log was quadratic).
 */
static bool entry_fits(struct scan *s, uint32_t pos, uint32_t sectors)
{
	for (uint32_t k = 1; k < sectors; k++) {
		s->work++;
		if (is_entry_signature(s->log +
				       ((uint64_t)pos + (uint64_t)k * SECTOR) % s->log_len))
			return false;
	}
	return true;
}

struct entry_info {
	bool valid;
	uint32_t length, tail;
	uint64_t sequence, flushed, last;
};

/* Checks the entry at pos (2.3.1, 2.3.3) where it lies in the log; fills info. */
static void entry_check(struct scan *s, uint32_t pos, struct entry_info *info)
{
	const struct vhdx *v = s->v;
	uint32_t log_len = s->log_len;
	struct vhdx_log_entry_header h;
	uint32_t desc_area, ndata = 0, crc, first;
	uint8_t head[64];

	info->valid = false;
	s->work++;
	memcpy(&h, s->log + pos, sizeof(h));
	if (h.signature != VHDX_LOG_ENTRY_SIGNATURE ||
	    !guid_equal(&h.log_guid, &v->header.log_guid))
		return;
	if (h.entry_length < SECTOR || h.entry_length % SECTOR || h.entry_length > log_len ||
	    h.tail % SECTOR || h.tail >= log_len || !h.sequence_number ||
	    h.descriptor_count > (log_len / 32))
		return;
	desc_area = ALIGN_UP(64 + 32 * h.descriptor_count, SECTOR);
	if (desc_area > h.entry_length || !entry_fits(s, pos, h.entry_length / SECTOR))
		return;
	for (uint32_t i = 0; i < h.descriptor_count; i++) {
		struct vhdx_log_descriptor d;

		scan_read(s, pos, 64 + 32 * i, &d, sizeof(d));
		if (d.sequence_number != h.sequence_number || d.file_offset % SECTOR ||
		    d.file_offset < VHDX_REGION1_OFFSET)
			return;
		uint64_t len = SECTOR;
		if (d.signature == VHDX_LOG_ZERO_SIGNATURE) {
			len = d.leading_bytes;
			if (!len || len % SECTOR || len > VHDX_MAX_DISK_SIZE)
				return;
		} else if (d.signature == VHDX_LOG_DESC_SIGNATURE) {
			struct vhdx_log_data_sector ds;
			uint32_t at = desc_area + ndata * SECTOR;

			if (at + SECTOR > h.entry_length)
				return;
			scan_read(s, pos, at, &ds, sizeof(ds));
			if (ds.signature != VHDX_LOG_DATA_SIGNATURE ||
			    ds.sequence_high != (uint32_t)(h.sequence_number >> 32) ||
			    ds.sequence_low != (uint32_t)h.sequence_number)
				return;
			ndata++;
		} else {
			return;
		}
		if (d.file_offset + len > h.last_file_offset ||
		    (d.file_offset < v->header.log_offset + log_len &&
		     v->header.log_offset < d.file_offset + len))
			return; /* never into the log itself, never past the file's end */
	}
	if (desc_area + ndata * SECTOR != h.entry_length)
		return;
	/* Never beyond what a VHDX of this disk's size may hold (no ftruncate to tens of TiB). */
	if (h.flushed_file_offset > h.last_file_offset || h.last_file_offset > s->max_file)
		return;
	/* The checksum over the entry in place, its own field as zero (2.3.1.1). */
	memcpy(head, s->log + pos, sizeof(head));
	memset(head + 4, 0, 4);
	crc = crc32c(0, head, sizeof(head));
	first = MIN(h.entry_length, log_len - pos);
	crc = crc32c(crc, s->log + pos + sizeof(head), first - sizeof(head));
	crc = crc32c(crc, s->log, h.entry_length - first);
	s->work += h.entry_length / SECTOR;
	if (crc != h.checksum)
		return;
	*info = (struct entry_info){true,
				    h.entry_length,
				    h.tail,
				    h.sequence_number,
				    h.flushed_file_offset,
				    h.last_file_offset};
}

/*
 * Finds the sequence to replay. Returns 0 and *found; on found, *start and *end (positions of
 * the first and last entries). Linear in the log's length: the checks of
 * all entries look at O(log_length) sectors (entry_fits), and the chains below visit each
 * valid entry at most twice; the work done is added to v->stats.log_scan_sectors.
 */
static int find_sequence(struct vhdx *v, uint64_t file_size, uint8_t **ret_log,
			 struct entry_info **ret_info, bool *found, uint32_t *start, uint32_t *end)
{
	uint32_t log_len = v->header.log_length, n = log_len / SECTOR;
	uint8_t *log = malloc(log_len);
	struct entry_info *info = calloc(n, sizeof(*info));
	uint32_t *chain = malloc(sizeof(uint32_t) * n);
	bool *seen = calloc(n, sizeof(bool));
	struct scan sc = {.v = v,
			  .log = log,
			  .log_len = log_len,
			  .max_file = MAX(vhdx_max_file_size(v), file_size)};
	uint64_t best = 0;
	int r;

	*found = false;
	if (!log || !info || !chain || !seen) {
		r = -ENOMEM;
		goto out;
	}
	r = disk_file_pread(v->fd, log, log_len, v->header.log_offset);
	if (r < 0)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		entry_check(&sc, i * SECTOR, &info[i]);
	/*
	 * A chain starting inside an earlier chain ends at the same last entry and holds a subset
	 * of its entries, so it cannot find a tail the earlier one missed: skip those starts.
	 * (A valid entry has one predecessor at most, the nearest "loge" sector before it, so
	 * each entry is visited at most twice: once from a start that wrapped around to it.)
	 */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pos = i, count = 0, total = 0;

		if (seen[i])
			continue;
		while (info[pos].valid && total + info[pos].length <= log_len &&
		       (!count || info[pos].sequence == info[chain[count - 1]].sequence + 1)) {
			sc.work++;
			chain[count++] = pos;
			total += info[pos].length;
			pos = (pos + info[pos].length / SECTOR) % n;
		}
		if (!count)
			continue;
		/* (Not when the log's length cut the chain: from later starts it may go further.)
		 */
		if (!(info[pos].valid && info[pos].sequence == info[chain[count - 1]].sequence + 1))
			for (uint32_t k = 1; k < count; k++)
				seen[chain[k]] = true;
		const struct entry_info *last = &info[chain[count - 1]];
		for (uint32_t k = 0; k < count; k++)
			if (chain[k] == last->tail / SECTOR && last->sequence > best) {
				best = last->sequence;
				*start = chain[k] * SECTOR;
				*end = chain[count - 1] * SECTOR;
				*found = true;
			}
	}
	r = 0;
out:
	v->stats.log_scan_sectors += sc.work;
	free(chain);
	free(seen);
	if (r == 0 && ret_log) {
		*ret_log = log;
		*ret_info = info;
	} else {
		free(log);
		free(info);
	}
	return r;
}

int vhdx_log_find(struct vhdx *v, uint64_t file_size, bool *found)
{
	uint32_t s, e;

	return find_sequence(v, file_size, NULL, NULL, found, &s, &e);
}

/*
 * A zero descriptor: only the part inside the file is zeroed (past its end the bytes read as
 * zero anyway, and the file grows with ftruncate), so the work is bounded by the file's size.
 */
static int zero_range(int fd, uint64_t file_size, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[64 * 1024];

	if (off >= file_size)
		return 0;
	len = MIN(len, file_size - off);
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	for (uint64_t done = 0; done < len; done += sizeof(zeros)) {
		int r = disk_file_pwrite(fd, zeros, MIN(sizeof(zeros), len - done), off + done);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Applies one (checked) entry at pos. */
static int entry_apply(struct vhdx *v, uint64_t file_size, const uint8_t *log, uint32_t pos,
		       uint8_t *buf)
{
	struct vhdx_log_entry_header h;
	uint32_t desc_area, ndata = 0;
	int r;

	memcpy(&h, log + pos, sizeof(h));
	log_copy(log, v->header.log_length, pos, buf, h.entry_length);
	desc_area = ALIGN_UP(64 + 32 * h.descriptor_count, SECTOR);
	for (uint32_t i = 0; i < h.descriptor_count; i++) {
		struct vhdx_log_descriptor d;
		uint8_t sector[SECTOR];

		memcpy(&d, buf + 64 + 32 * i, sizeof(d));
		if (d.signature == VHDX_LOG_ZERO_SIGNATURE) {
			r = zero_range(v->fd, file_size, d.file_offset, d.leading_bytes);
		} else {
			memcpy(sector, buf + desc_area + ndata * SECTOR, SECTOR);
			memcpy(sector, &d.leading_bytes, 8);
			memcpy(sector + SECTOR - 4, &d.trailing_bytes, 4);
			ndata++;
			r = disk_file_pwrite(v->fd, sector, SECTOR, d.file_offset);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int vhdx_log_replay(struct vhdx *v, uint64_t file_size, char *err, size_t err_size)
{
	struct entry_info *info = NULL;
	uint8_t *log = NULL, *buf = NULL;
	uint32_t start = 0, end = 0, n = v->header.log_length / SECTOR;
	struct vhdx_header h;
	bool found;
	int r;

	r = find_sequence(v, file_size, &log, &info, &found, &start, &end);
	if (r < 0)
		return disk_error(err, err_size, r, "%s: reading the VHDX log: %s", v->path,
				  strerror(-r));
	if (found) {
		const struct entry_info *head = &info[end / SECTOR];

		if (file_size < head->flushed) {
			r = disk_error(err, err_size, -EINVAL,
				       "%s: VHDX log: the file is shorter than the log says it was "
				       "(truncated)",
				       v->path);
			goto out;
		}
		buf = malloc(v->header.log_length);
		if (!buf) {
			r = disk_error(err, err_size, -ENOMEM, "%s: out of memory", v->path);
			goto out;
		}
		for (uint32_t pos = start;;
		     pos = (pos + info[pos / SECTOR].length) % (n * SECTOR)) {
			r = entry_apply(v, file_size, log, pos, buf);
			if (r < 0 || pos == end)
				break;
		}
		if (r == 0 && file_size < head->last && ftruncate(v->fd, (off_t)head->last) < 0)
			r = -errno;
		if (r == 0 && fdatasync(v->fd) < 0)
			r = -errno;
		if (r < 0) {
			disk_error(err, err_size, r, "%s: replaying the VHDX log: %s", v->path,
				   strerror(-r));
			goto out;
		}
	}
	/*
	 * LogGuid back to zero, with a new FileWriteGuid (2.2.2.1). A LogGuid without any valid
	 * entry (a crash between setting it and the first entry, by other writers) is treated
	 * like QEMU does: nothing to replay.
	 */
	h = v->header;
	memset(&h.log_guid, 0, sizeof(h.log_guid));
	vhdx_random_guid(&h.file_write_guid);
	r = vhdx_header_write(v, &h);
	if (r == 0)
		r = vhdx_header_write(v, &h);
	if (r < 0)
		disk_error(err, err_size, r, "%s: writing the VHDX header after replay: %s",
			   v->path, strerror(-r));
out:
	free(buf);
	free(log);
	free(info);
	return r;
}

int vhdx_log_write(struct vhdx *v, const struct vhdx_log_page *pages, unsigned count)
{
	uint32_t log_len = v->header.log_length, len = SECTOR * (1 + count), pos;
	struct vhdx_log_entry_header h = {0};
	uint8_t *buf;
	int r;

	if (!log_len)
		return -ENOTSUP; /* refused at open for writable files */
	if (!count || count > VHDX_LOG_MAX_PAGES || len + SECTOR > log_len)
		return -EINVAL;
	r = vhdx_session_start(v);
	if (r < 0)
		return r;
	/* (a) the data and file growth this update refers to are durable first. */
	if (fdatasync(v->fd) < 0)
		return -errno;
	if (!v->log_active) {
		vhdx_random_guid(&h.log_guid);
		v->log_head = 0;
		v->log_sequence = 0;
	} else {
		h.log_guid = v->header.log_guid;
	}
	pos = v->log_head + len > log_len ? 0 : v->log_head;
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	h.signature = VHDX_LOG_ENTRY_SIGNATURE;
	h.entry_length = len;
	h.tail = pos; /* every earlier entry is applied and durable */
	h.sequence_number = ++v->log_sequence;
	h.descriptor_count = count;
	h.flushed_file_offset = v->file_end;
	h.last_file_offset = v->file_end;
	memcpy(buf, &h, sizeof(h));
	for (unsigned i = 0; i < count; i++) {
		struct vhdx_log_descriptor d = {
			.signature = VHDX_LOG_DESC_SIGNATURE,
			.file_offset = pages[i].file_offset,
			.sequence_number = h.sequence_number,
		};
		struct vhdx_log_data_sector s = {
			.signature = VHDX_LOG_DATA_SIGNATURE,
			.sequence_high = (uint32_t)(h.sequence_number >> 32),
			.sequence_low = (uint32_t)h.sequence_number,
		};

		memcpy(&d.leading_bytes, pages[i].data, 8);
		memcpy(&d.trailing_bytes, pages[i].data + SECTOR - 4, 4);
		memcpy(s.data, pages[i].data + 8, sizeof(s.data));
		memcpy(buf + 64 + 32 * i, &d, sizeof(d));
		memcpy(buf + SECTOR * (1 + i), &s, sizeof(s));
	}
	h.checksum = crc32c(0, buf, len);
	memcpy(buf + 4, &h.checksum, 4);
	r = disk_file_pwrite(v->fd, buf, len, v->header.log_offset + pos);
	free(buf);
	if (r < 0)
		return r;
	if (fdatasync(v->fd) < 0)
		return -errno;
	if (!v->log_active) {
		/* The entry exists before the headers point at it: a crash between is harmless. */
		struct vhdx_header nh = v->header;

		nh.log_guid = h.log_guid;
		r = vhdx_header_write(v, &nh);
		if (r < 0)
			return r;
		v->log_active = true;
	}
	for (unsigned i = 0; i < count; i++) {
		r = disk_file_pwrite(v->fd, pages[i].data, SECTOR, pages[i].file_offset);
		if (r < 0)
			return r;
	}
	if (fdatasync(v->fd) < 0)
		return -errno;
	v->log_head = pos + len;
	v->stats.log_entries++;
	return 0;
}

int vhdx_log_close(struct vhdx *v)
{
	struct vhdx_header h;
	int r;

	if (!v->log_active)
		return 0;
	h = v->header;
	memset(&h.log_guid, 0, sizeof(h.log_guid));
	r = vhdx_header_write(v, &h);
	if (r == 0)
		r = vhdx_header_write(v, &h);
	if (r == 0)
		v->log_active = false;
	return r;
}
