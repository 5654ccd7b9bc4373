/*
 * VHDX guest I/O (MS-VHDX 2.5): reads through the BAT states, writes that
 * allocate blocks at the end of the file, discard, and the queue's map.
 *
 * Read: FULLY_PRESENT from the file; PARTIALLY_PRESENT sector by sector
 * through the chunk's sector bitmap (this file or the parent); NOT_PRESENT
 * from the parent of a differencing disk; every other state reads zeroes.
 *
 * Write to a block not FULLY_PRESENT: a new block is allocated at the 1 MiB
 * aligned end of the file; in a differencing disk the sectors the write does
 * not cover are copied in from what the block showed before (parent or
 * bitmap), so blocks Parvis writes are always FULLY_PRESENT (no bitmap
 * updates); then the BAT entry goes through the log (log.c).
 *
 * Discard: whole blocks of dynamic and differencing disks become ZERO (reads
 * zeroes, never the parent) and their file range is punched (host space
 * freed; the range is not handed out again, so an in-flight write cannot land
 * in another block). Fixed disks keep their blocks and punch the range.
 * Parts of blocks: punched where FULLY_PRESENT, otherwise left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/vhdx/vhdx_internal.h"

static struct iovec *iov_scratch(unsigned iovcnt)
{
	return malloc(sizeof(struct iovec) * (iovcnt ? iovcnt : 1));
}

/* Before the first change of a session: new GUIDs in the headers, the file at file_end. */
static int session_start(struct vhdx *v)
{
	struct stat st;
	int r;

	if (v->session_started)
		return 0;
	if (fstat(v->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < v->file_end && ftruncate(v->fd, (off_t)v->file_end) < 0)
		return -errno;
	r = vhdx_session_start(v);
	return r;
}

/* Reads [off, off+len) of one block whose BAT entry is e into iov (bytes skip.. of it). */
static int read_block(struct vhdx *v, uint64_t e, uint64_t off, size_t len, const struct iovec *iov,
		      unsigned iovcnt, uint64_t skip, struct iovec *tmp)
{
	uint64_t in_block = off % v->block_size;
	int n, r;

	switch (vhdx_bat_state(e)) {
	case VHDX_BAT_FULLY_PRESENT:
		n = disk_iov_slice(iov, iovcnt, skip, len, tmp, iovcnt);
		if (n < 0)
			return n;
		return disk_file_preadv(v->fd, tmp, (unsigned)n, vhdx_bat_offset(e) + in_block,
					len);
	case VHDX_BAT_NOT_PRESENT:
		if (v->parent) {
			n = disk_iov_slice(iov, iovcnt, skip, len, tmp, iovcnt);
			if (n < 0)
				return n;
			return v->parent->ops->readv(v->parent, tmp, (unsigned)n, off, len);
		}
		disk_iov_zero(iov, iovcnt, skip, len);
		return 0;
	case VHDX_BAT_PARTIALLY_PRESENT: break;
	default: /* UNDEFINED, ZERO, UNMAPPED (and the draft's 5): zeroes */
		disk_iov_zero(iov, iovcnt, skip, len);
		return 0;
	}
	/* 2.5.1.1: one bit per logical sector in the chunk's bitmap block, LSB first. */
	uint32_t lss = v->logical_sector_size;
	uint64_t sector = off / lss, count = len / lss;
	uint64_t chunk = sector / VHDX_SECTORS_PER_BITMAP;
	uint64_t bit0 = sector % VHDX_SECTORS_PER_BITMAP;
	uint64_t sb = vhdx_bat_offset(vhdx_bat_get(v, vhdx_bat_bitmap_index(v, chunk)));
	uint64_t byte0 = bit0 / 8, nbytes = (bit0 + count + 7) / 8 - byte0;
	uint8_t *bits = malloc(nbytes);

	if (!bits)
		return -ENOMEM;
	r = disk_file_pread(v->fd, bits, nbytes, sb + byte0);
	for (uint64_t i = 0; r == 0 && i < count;) {
		uint64_t b = bit0 + i - byte0 * 8;
		bool present = bits[b / 8] >> (b % 8) & 1;
		uint64_t run = 1;

		while (i + run < count) {
			uint64_t c = b + run;
			if ((bool)(bits[c / 8] >> (c % 8) & 1) != present)
				break;
			run++;
		}
		n = disk_iov_slice(iov, iovcnt, skip + i * lss, run * lss, tmp, iovcnt);
		if (n < 0)
			r = n;
		else if (present)
			r = disk_file_preadv(v->fd, tmp, (unsigned)n,
					     vhdx_bat_offset(e) + in_block + i * lss, run * lss);
		else
			r = v->parent->ops->readv(v->parent, tmp, (unsigned)n, off + i * lss,
						  run * lss);
		i += run;
	}
	free(bits);
	return r;
}

static int vhdx_readv(struct disk *d, const struct iovec *iov, unsigned iovcnt, uint64_t off,
		      size_t len)
{
	struct vhdx *v = vhdx_of(d);
	struct iovec *tmp = iov_scratch(iovcnt);
	size_t done = 0;
	int r = 0;

	if (!tmp)
		return -ENOMEM;
	while (r == 0 && done < len) {
		uint64_t pos = off + done, block = pos / v->block_size;
		size_t n = MIN(len - done, v->block_size - pos % v->block_size);
		uint64_t e;

		e = vhdx_bat_get(v, vhdx_bat_payload_index(v, block));
		r = read_block(v, e, pos, n, iov, iovcnt, done, tmp);
		done += n;
	}
	free(tmp);
	return r;
}

/*
 * Allocates block `block` (not FULLY_PRESENT) for a write of [off, off+len) from iov bytes
 * skip..: new space at file_end, the rest of the block copied from what it showed before
 * (differencing), the data written, the BAT entry logged. Called with the lock held.
 */
static int allocate_and_write(struct vhdx *v, uint64_t block, uint64_t off, size_t len,
			      const struct iovec *iov, unsigned iovcnt, uint64_t skip,
			      struct iovec *tmp)
{
	uint64_t idx = vhdx_bat_payload_index(v, block), old = v->bat[idx];
	uint64_t base = block * v->block_size, new_off = v->file_end;
	uint64_t block_len = MIN((uint64_t)v->block_size, v->size - base);
	unsigned st = vhdx_bat_state(old);
	bool copy = st == VHDX_BAT_PARTIALLY_PRESENT || (st == VHDX_BAT_NOT_PRESENT && v->parent);
	uint64_t entry;
	int n, r;

	if (ftruncate(v->fd, (off_t)(new_off + v->block_size)) < 0)
		return -errno;
	v->file_end = new_off + v->block_size;
	if (copy) {
		/* What the block showed before, outside the written range, in 1 MiB pieces. */
		uint8_t *buf = malloc(VHDX_MiB);

		if (!buf)
			return -ENOMEM;
		r = 0;
		for (uint64_t p = 0; r == 0 && p < block_len; p += VHDX_MiB) {
			uint64_t a = base + p, b = MIN(base + p + VHDX_MiB, base + block_len);
			struct iovec bv = {buf, b - a};

			if (a >= off && b <= off + len)
				continue; /* all overwritten */
			r = read_block(v, old, a, b - a, &bv, 1, 0, tmp);
			if (r == 0)
				r = disk_file_pwrite(v->fd, buf, b - a, new_off + p);
		}
		free(buf);
		if (r < 0)
			return r;
	}
	n = disk_iov_slice(iov, iovcnt, skip, len, tmp, iovcnt);
	if (n < 0)
		return n;
	r = disk_file_pwritev(v->fd, tmp, (unsigned)n, new_off + (off - base), len);
	if (r < 0)
		return r;
	entry = vhdx_bat_make(VHDX_BAT_FULLY_PRESENT, new_off);
	r = vhdx_bat_update(v, &idx, &entry, 1);
	if (r == 0) {
		v->stats.blocks_allocated++;
		if (st == VHDX_BAT_PARTIALLY_PRESENT)
			(void)fallocate(v->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)vhdx_bat_offset(old), v->block_size);
	}
	return r;
}

static int vhdx_writev(struct disk *d, const struct iovec *iov, unsigned iovcnt, uint64_t off,
		       size_t len)
{
	struct vhdx *v = vhdx_of(d);
	struct iovec *tmp = iov_scratch(iovcnt);
	size_t done = 0;
	int r;

	if (!tmp)
		return -ENOMEM;
	pthread_mutex_lock(&v->lock);
	r = session_start(v);
	pthread_mutex_unlock(&v->lock);
	while (r == 0 && done < len) {
		uint64_t pos = off + done, block = pos / v->block_size;
		size_t n = MIN(len - done, v->block_size - pos % v->block_size);
		uint64_t e;

		pthread_mutex_lock(&v->lock);
		e = v->bat[vhdx_bat_payload_index(v, block)];
		if (vhdx_bat_state(e) == VHDX_BAT_FULLY_PRESENT) {
			pthread_mutex_unlock(&v->lock);
			int k = disk_iov_slice(iov, iovcnt, done, n, tmp, iovcnt);
			r = k < 0 ? k
				  : disk_file_pwritev(v->fd, tmp, (unsigned)k,
						      vhdx_bat_offset(e) + pos % v->block_size, n);
		} else {
			r = allocate_and_write(v, block, pos, n, iov, iovcnt, done, tmp);
			pthread_mutex_unlock(&v->lock);
		}
		done += n;
	}
	free(tmp);
	return r;
}

static int vhdx_flush(struct disk *d)
{
	/* Metadata is durable as soon as it is logged; the data needs the file flushed. */
	return fdatasync(vhdx_of(d)->fd) < 0 ? -errno : 0;
}

static int punch(struct vhdx *v, uint64_t file_off, uint64_t len)
{
	static const uint8_t zeros[4096];
	uint64_t a = ALIGN_UP(file_off, 4096), b = ALIGN_DOWN(file_off + len, 4096);
	int r = 0;

	if (a < b && fallocate(v->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)a,
			       (off_t)(b - a)) < 0)
		a = b = file_off; /* no hole punching here: write zeroes */
	/* Unaligned edges (512-byte sectors): zeroes written. */
	for (uint64_t p = file_off; r == 0 && p < MIN(a, file_off + len); p += MIN(4096, a - p))
		r = disk_file_pwrite(v->fd, zeros, MIN(4096, a - p), p);
	for (uint64_t p = MAX(b, file_off); r == 0 && p < file_off + len;
	     p += MIN(4096, file_off + len - p))
		r = disk_file_pwrite(v->fd, zeros, MIN(4096, file_off + len - p), p);
	return r;
}

static int vhdx_discard(struct disk *d, uint64_t off, uint64_t len)
{
	struct vhdx *v = vhdx_of(d);
	uint64_t idx[VHDX_LOG_MAX_PAGES], ent[VHDX_LOG_MAX_PAGES], freed[VHDX_LOG_MAX_PAGES];
	unsigned count = 0;
	uint64_t done = 0;
	int r;

	pthread_mutex_lock(&v->lock);
	r = session_start(v);
	while (r == 0 && done < len) {
		uint64_t pos = off + done, block = pos / v->block_size;
		uint64_t base = block * v->block_size;
		uint64_t n = MIN(len - done, v->block_size - pos % v->block_size);
		uint64_t i = vhdx_bat_payload_index(v, block), e = v->bat[i];
		unsigned st = vhdx_bat_state(e);
		bool whole = pos == base && (n == v->block_size || pos + n == v->size);

		if (whole && !v->leave_blocks_allocated &&
		    (st == VHDX_BAT_FULLY_PRESENT || st == VHDX_BAT_PARTIALLY_PRESENT ||
		     (st == VHDX_BAT_NOT_PRESENT && v->parent))) {
			idx[count] = i;
			ent[count] = vhdx_bat_make(VHDX_BAT_ZERO, 0);
			freed[count++] = st == VHDX_BAT_NOT_PRESENT ? 0 : vhdx_bat_offset(e);
		} else if (st == VHDX_BAT_FULLY_PRESENT) {
			r = punch(v, vhdx_bat_offset(e) + (pos - base), n);
		}
		done += n;
		/* One BAT batch per 126 blocks (a log entry holds at most 126 pages). */
		if (r == 0 && count && (count == VHDX_LOG_MAX_PAGES || done == len)) {
			r = vhdx_bat_update(v, idx, ent, count);
			for (unsigned k = 0; r == 0 && k < count; k++) {
				if (freed[k])
					(void)fallocate(v->fd,
							FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
							(off_t)freed[k], v->block_size);
				v->stats.blocks_unmapped++;
			}
			count = 0;
		}
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

static int vhdx_map(struct disk *d, enum disk_op op, uint64_t off, uint64_t len, uint64_t *file_off)
{
	struct vhdx *v = vhdx_of(d);
	uint64_t block = off / v->block_size, e;
	int r = 0;

	if ((off + len - 1) / v->block_size != block)
		return 0; /* spans blocks: the synchronous path splits it */
	/* No lock unless this is the session's first write (see vhdx_bat_get). */
	e = vhdx_bat_get(v, vhdx_bat_payload_index(v, block));
	if (vhdx_bat_state(e) != VHDX_BAT_FULLY_PRESENT)
		return 0;
	if (op == DISK_OP_WRITE && !__atomic_load_n(&v->session_started, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&v->lock);
		r = session_start(v);
		pthread_mutex_unlock(&v->lock);
		if (r < 0)
			return r;
	}
	*file_off = vhdx_bat_offset(e) + off % v->block_size;
	return 1;
}

static int vhdx_close_disk(struct disk *d)
{
	struct vhdx *v = vhdx_of(d);
	int r = 0;

	if (v->session_started || v->log_active) {
		if (fdatasync(v->fd) < 0)
			r = -errno;
		if (r == 0)
			r = vhdx_log_close(v);
	}
	vhdx_free(v);
	return r;
}

const struct disk_ops vhdx_ops = {
	.readv = vhdx_readv,
	.writev = vhdx_writev,
	.flush = vhdx_flush,
	.discard = vhdx_discard,
	.map = vhdx_map,
	.close = vhdx_close_disk,
};
