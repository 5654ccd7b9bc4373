/*
 * The SCSI command model of one logical unit (scsi.h): a direct-access
 * block device ("Msft Virtual Disk", SPC-3, like Hyper-V's, so the guest's
 * Hyper-V quirks apply) over a struct disk. Emulated commands answer from
 * the disk's info; data commands become disk operations. Runs on the
 * storage channels' loops (scsi_cmd_finish too: completions are reaped
 * there), several at once for one LUN.
 *
 * Every CDB field is range-checked here; lengths in the CDB are never
 * trusted against the buffer: data is copied only up to the smaller of the
 * allocation length, the answer and the buffer.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/byteorder.h"
#include "vsp/storvsp/scsi.h"

struct scsi_lun {
	struct disk *disk;
	struct disk_info info;
	bool read_only;	  /* writes refused, WP in MODE SENSE */
	bool can_discard; /* UNMAP advertised (LBPME, LBPU) */
	uint32_t block;	  /* logical block size in bytes */
	uint64_t nblocks;
	char serial[33]; /* VPD 0x80: the disk id in hex */
	_Atomic uint64_t commands, reads, writes, flushes, unmaps, bytes_read, bytes_written;
	_Atomic uint64_t err_illegal, err_wp, err_io;
};

/* --- Byte helpers (CDBs and SCSI data are big-endian) --- */

/* --- Results --- */

void scsi_cmd_set_sense(struct scsi_cmd *cmd, uint8_t key, uint16_t asc)
{
	memset(cmd->sense, 0, sizeof(cmd->sense));
	cmd->sense[0] = SCSI_SENSE_FIXED_CURRENT;
	cmd->sense[SCSI_SENSE_OFF_KEY] = key & 0xf;
	cmd->sense[SCSI_SENSE_OFF_ADDITIONAL_LEN] = SCSI_SENSE_FIXED_ADDITIONAL;
	cmd->sense[SCSI_SENSE_OFF_ASC] = (uint8_t)(asc >> 8);
	cmd->sense[SCSI_SENSE_OFF_ASCQ] = (uint8_t)asc;
	cmd->sense_len = SCSI_SENSE_FIXED_LEN;
	cmd->status = SCSI_STATUS_CHECK_CONDITION;
	cmd->transferred = 0;
	cmd->nops = 0;
	cmd->flush_after = false;
}

static enum scsi_cmd_result fail(struct scsi_lun *l, struct scsi_cmd *cmd, uint8_t key,
				 uint16_t asc)
{
	if (l) {
		if (key == SCSI_SENSE_DATA_PROTECT)
			atomic_fetch_add(&l->err_wp, 1);
		else
			atomic_fetch_add(&l->err_illegal, 1);
	}
	scsi_cmd_set_sense(cmd, key, asc);
	return SCSI_CMD_DONE;
}

static enum scsi_cmd_result good(struct scsi_cmd *cmd)
{
	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	return SCSI_CMD_DONE;
}

/* Copies an answer of len bytes to the buffer, up to alloc bytes. */
static enum scsi_cmd_result answer(struct scsi_cmd *cmd, const uint8_t *data, size_t len,
				   size_t alloc)
{
	size_t n = MIN(MIN(len, alloc), cmd->buf_len), done = 0;
	unsigned i;

	if (cmd->data_out && n)
		n = 0; /* a data-in command with a data-out buffer moves nothing */
	cmd->overrun = MIN(len, alloc) > cmd->buf_len;
	for (i = 0; i < cmd->iovcnt && done < n; i++) {
		size_t k = MIN(cmd->iov[i].iov_len, n - done);

		memcpy(cmd->iov[i].iov_base, data + done, k);
		done += k;
	}
	cmd->transferred = done;
	return good(cmd);
}

/* --- INQUIRY --- */

static size_t inquiry_standard(uint8_t *b, uint8_t peripheral)
{
	memset(b, 0, SCSI_INQUIRY_STD_LEN);
	b[0] = peripheral;
	b[2] = SCSI_VERSION_SPC3;
	b[3] = SCSI_INQUIRY_RESPONSE_FORMAT | 0x10; /* HiSup */
	b[4] = SCSI_INQUIRY_STD_LEN - 5;
	b[7] = SCSI_INQUIRY_CMDQUE;
	memcpy(b + 8, "Msft    ", 8);
	memcpy(b + 16, "Virtual Disk    ", 16);
	memcpy(b + 32, "1.0 ", 4);
	return SCSI_INQUIRY_STD_LEN;
}

static size_t vpd_device_id(struct scsi_lun *l, uint8_t *b)
{
	size_t n = 4;
	unsigned i;

	/* T10 vendor identification: "Msft    " then the serial (ASCII). */
	b[n] = SCSI_DESIG_CODESET_ASCII;
	b[n + 1] = SCSI_DESIG_TYPE_T10;
	b[n + 3] = 8 + 32;
	memcpy(b + n + 4, "Msft    ", 8);
	memcpy(b + n + 12, l->serial, 32);
	n += 4 + 8 + 32;
	/* NAA IEEE Registered Extended (6h): 124 bits of the disk id. */
	b[n] = SCSI_DESIG_CODESET_BINARY;
	b[n + 1] = SCSI_DESIG_TYPE_NAA;
	b[n + 3] = 16;
	memcpy(b + n + 4, &l->info.disk_id, 16);
	b[n + 4] = (uint8_t)(0x60 | (b[n + 4] & 0x0f));
	n += 4 + 16;
	put_be16(b + 2, (uint32_t)(n - 4));
	(void)i;
	return n;
}

static enum scsi_cmd_result inquiry(struct scsi_lun *l, struct scsi_cmd *cmd)
{
	static const uint8_t pages[] = {
		SCSI_VPD_SUPPORTED_PAGES, SCSI_VPD_SERIAL_NUMBER,	  SCSI_VPD_DEVICE_ID,
		SCSI_VPD_BLOCK_LIMITS,	  SCSI_VPD_BLOCK_CHARACTERISTICS, SCSI_VPD_LB_PROVISIONING};
	const uint8_t *c = cmd->cdb;
	uint32_t alloc = get_be16(c + 3);
	uint8_t b[256] = {0};
	size_t n;

	if (!(c[1] & SCSI_INQUIRY_EVPD)) {
		if (c[2])
			return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST,
				    SCSI_ASC_INVALID_FIELD_IN_CDB);
		n = inquiry_standard(b, SCSI_PERIPHERAL_DISK);
		return answer(cmd, b, n, alloc);
	}
	b[1] = c[2];
	switch (c[2]) {
	case SCSI_VPD_SUPPORTED_PAGES:
		memcpy(b + 4, pages, sizeof(pages));
		n = 4 + sizeof(pages);
		break;
	case SCSI_VPD_SERIAL_NUMBER:
		memcpy(b + 4, l->serial, 32);
		n = 4 + 32;
		break;
	case SCSI_VPD_DEVICE_ID: n = vpd_device_id(l, b); break;
	case SCSI_VPD_BLOCK_LIMITS:
		n = SCSI_VPD_BLOCK_LIMITS_LEN;
		put_be32(b + 8, SCSI_MAX_TRANSFER_BYTES / l->block); /* maximum transfer length */
		put_be32(b + 12, (uint32_t)(MAX(l->info.physical_sector_size, 4096u) / l->block));
		if (l->can_discard) {
			uint32_t gran = l->info.discard_granularity / l->block;

			put_be32(b + 20, 0xFFFFFFFFu);	     /* maximum unmap LBA count */
			put_be32(b + 24, SCSI_MAX_DISK_OPS); /* maximum unmap descriptors */
			put_be32(b + 28, gran ? gran : 1);   /* optimal unmap granularity */
			put_be32(b + 32, 0x80000000u);	     /* UGAVALID, alignment 0 */
		}
		break;
	case SCSI_VPD_BLOCK_CHARACTERISTICS:
		n = SCSI_VPD_B1_LEN;
		put_be16(b + 4, 1); /* medium rotation rate: non-rotating */
		break;
	case SCSI_VPD_LB_PROVISIONING:
		n = SCSI_VPD_B2_LEN;
		if (l->can_discard) {
			b[5] = SCSI_VPD_B2_LBPU;
			b[6] = SCSI_VPD_B2_PROVISIONING_THIN;
		}
		break;
	default: return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	}
	if (c[2] != SCSI_VPD_DEVICE_ID)
		put_be16(b + 2, (uint32_t)(n - 4));
	return answer(cmd, b, n, alloc);
}

/* --- READ CAPACITY, MODE SENSE, REPORT LUNS --- */

static enum scsi_cmd_result read_capacity(struct scsi_lun *l, struct scsi_cmd *cmd, bool rc16)
{
	uint8_t b[32] = {0};
	uint64_t last = l->nblocks ? l->nblocks - 1 : 0;

	if (!rc16) {
		put_be32(b, last > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)last);
		put_be32(b + 4, l->block);
		return answer(cmd, b, 8, 8);
	}
	put_be64(b, last);
	put_be32(b + 8, l->block);
	if (l->info.physical_sector_size > l->block)
		b[13] = (uint8_t)(__builtin_ctz(l->info.physical_sector_size / l->block) & 0xf);
	if (l->can_discard)
		b[14] = SCSI_RC16_LBPME;
	return answer(cmd, b, 32, get_be32(cmd->cdb + 10));
}

static size_t mode_pages(struct scsi_lun *l, uint8_t page, bool changeable, uint8_t *b)
{
	size_t n = 0;

	if (page == SCSI_MODE_PAGE_CACHING || page == SCSI_MODE_PAGE_ALL) {
		b[n] = SCSI_MODE_PAGE_CACHING;
		b[n + 1] = SCSI_CACHING_PAGE_LEN;
		if (!changeable)
			b[n + 2] = SCSI_CACHING_WCE; /* the host cache: SYNCHRONIZE CACHE flushes */
		n += 2 + SCSI_CACHING_PAGE_LEN;
	}
	if (page == SCSI_MODE_PAGE_CONTROL || page == SCSI_MODE_PAGE_ALL) {
		b[n] = SCSI_MODE_PAGE_CONTROL;
		b[n + 1] = SCSI_CONTROL_PAGE_LEN;
		n += 2 + SCSI_CONTROL_PAGE_LEN;
	}
	(void)l;
	return n;
}

static enum scsi_cmd_result mode_sense(struct scsi_lun *l, struct scsi_cmd *cmd, bool ten)
{
	const uint8_t *c = cmd->cdb;
	uint8_t b[128] = {0};
	uint8_t page = c[2] & 0x3f, pc = c[2] >> 6, subpage = c[3];
	bool dbd = c[1] & SCSI_MODE_DBD;
	size_t hdr = ten ? 8 : 4, n = hdr, bd = dbd ? 0 : 8, pages;
	uint8_t devspec = SCSI_MODE_DPOFUA | (l->read_only ? SCSI_MODE_WP : 0);

	if (pc == SCSI_MODE_PC_SAVED || (subpage && subpage != 0xff) ||
	    (page != SCSI_MODE_PAGE_ALL && page != SCSI_MODE_PAGE_CACHING &&
	     page != SCSI_MODE_PAGE_CONTROL))
		return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	if (bd) {
		put_be32(b + n, l->nblocks > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)l->nblocks);
		put_be32(b + n + 4, l->block & 0xFFFFFF); /* density 0, block length */
		n += bd;
	}
	pages = mode_pages(l, page, pc == 1, b + n);
	n += pages;
	if (ten) {
		put_be16(b, (uint32_t)(n - 2));
		b[3] = devspec;
		put_be16(b + 6, (uint32_t)bd);
		return answer(cmd, b, n, get_be16(c + 7));
	}
	b[0] = (uint8_t)(n - 1);
	b[2] = devspec;
	b[3] = (uint8_t)bd;
	return answer(cmd, b, n, c[4]);
}

static enum scsi_cmd_result report_luns(struct scsi_cmd *cmd, const uint16_t *luns, unsigned nluns)
{
	uint32_t alloc = get_be32(cmd->cdb + 6);
	uint8_t b[8 + 8 * 256] = {0};
	unsigned i, n = MIN(nluns, 256u);

	if (alloc < 16) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
		return SCSI_CMD_DONE;
	}
	put_be32(b, 8 * n);
	for (i = 0; i < n; i++) {
		/* Peripheral device addressing below 256, flat space above (SAM-5 4.7). */
		b[8 + 8 * i] = luns[i] < 256 ? 0 : (uint8_t)(0x40 | ((luns[i] >> 8) & 0x3f));
		b[9 + 8 * i] = (uint8_t)luns[i];
	}
	return answer(cmd, b, 8 + 8 * (size_t)n, alloc);
}

/* --- Data commands --- */

static enum scsi_cmd_result read_write(struct scsi_lun *l, struct scsi_cmd *cmd, bool write)
{
	const uint8_t *c = cmd->cdb;
	uint64_t lba, bytes;
	uint32_t count;
	bool fua = false;

	switch (c[0]) {
	case SCSI_READ_6:
	case SCSI_WRITE_6:
		lba = (uint64_t)(c[1] & 0x1f) << 16 | get_be16(c + 2);
		count = c[4] ? c[4] : 256;
		break;
	case SCSI_READ_10:
	case SCSI_WRITE_10:
		lba = get_be32(c + 2);
		count = get_be16(c + 7);
		fua = c[1] & SCSI_CDB_FUA;
		break;
	case SCSI_READ_12:
	case SCSI_WRITE_12:
		lba = get_be32(c + 2);
		count = get_be32(c + 6);
		fua = c[1] & SCSI_CDB_FUA;
		break;
	default: /* 16 */
		lba = get_be64(c + 2);
		count = get_be32(c + 10);
		fua = c[1] & SCSI_CDB_FUA;
		break;
	}
	if (lba > l->nblocks || count > l->nblocks - lba)
		return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	if (write && l->read_only)
		return fail(l, cmd, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
	if (count == 0)
		return good(cmd);
	bytes = (uint64_t)count * l->block;
	if (bytes > SCSI_MAX_TRANSFER_BYTES || bytes > cmd->buf_len || cmd->data_out != write)
		return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	atomic_fetch_add(write ? &l->writes : &l->reads, 1);
	cmd->is_write = write;
	cmd->nops = 1;
	cmd->ops[0] = (struct scsi_disk_op){
		.op = write ? DISK_OP_WRITE : DISK_OP_READ,
		.offset = lba * l->block,
		.len = bytes,
	};
	cmd->flush_after = write && fua;
	return SCSI_CMD_DISK_IO;
}

static enum scsi_cmd_result sync_cache(struct scsi_lun *l, struct scsi_cmd *cmd)
{
	atomic_fetch_add(&l->flushes, 1);
	if (l->read_only)
		return good(cmd); /* nothing was written */
	cmd->nops = 1;
	cmd->ops[0] = (struct scsi_disk_op){.op = DISK_OP_FLUSH};
	return SCSI_CMD_DISK_IO;
}

static enum scsi_cmd_result unmap(struct scsi_lun *l, struct scsi_cmd *cmd)
{
	uint8_t p[SCSI_UNMAP_HEADER_LEN + SCSI_UNMAP_DESCRIPTOR_LEN * SCSI_MAX_DISK_OPS] = {0};
	uint32_t plen = get_be16(cmd->cdb + 7), bdlen, i, nd;
	size_t got = 0;
	unsigned k;

	if (!l->can_discard)
		return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	if (l->read_only)
		return fail(l, cmd, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
	if (plen == 0)
		return good(cmd);
	if (plen < SCSI_UNMAP_HEADER_LEN || plen > cmd->buf_len || !cmd->data_out)
		return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAMETER_LIST_LENGTH);
	/* Copy the parameter list out of guest memory before looking at it. */
	plen = MIN(plen, (uint32_t)sizeof(p));
	for (k = 0; k < cmd->iovcnt && got < plen; k++) {
		size_t n = MIN(cmd->iov[k].iov_len, plen - got);

		memcpy(p + got, cmd->iov[k].iov_base, n);
		got += n;
	}
	bdlen = get_be16(p + 2);
	if (bdlen > got - SCSI_UNMAP_HEADER_LEN || bdlen % SCSI_UNMAP_DESCRIPTOR_LEN)
		return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_PARAM);
	nd = bdlen / SCSI_UNMAP_DESCRIPTOR_LEN;
	atomic_fetch_add(&l->unmaps, 1);
	cmd->nops = 0;
	for (i = 0; i < nd; i++) {
		const uint8_t *d = p + SCSI_UNMAP_HEADER_LEN + SCSI_UNMAP_DESCRIPTOR_LEN * i;
		uint64_t lba = get_be64(d);
		uint32_t count = get_be32(d + 8);

		if (lba > l->nblocks || count > l->nblocks - lba)
			return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
		if (!count)
			continue;
		cmd->ops[cmd->nops++] = (struct scsi_disk_op){
			.op = DISK_OP_DISCARD,
			.offset = lba * l->block,
			.len = (uint64_t)count * l->block,
		};
	}
	cmd->transferred = got;
	return cmd->nops ? SCSI_CMD_DISK_IO : good(cmd);
}

static enum scsi_cmd_result request_sense(struct scsi_cmd *cmd)
{
	uint8_t b[SCSI_SENSE_FIXED_LEN] = {0};

	/* Autosense carries every error: there is never deferred sense to report. */
	b[0] = SCSI_SENSE_FIXED_CURRENT;
	b[SCSI_SENSE_OFF_ADDITIONAL_LEN] = SCSI_SENSE_FIXED_ADDITIONAL;
	return answer(cmd, b, sizeof(b), cmd->cdb[4]);
}

static unsigned cdb_length(uint8_t opcode)
{
	switch (opcode >> 5) {
	case 0: return 6;
	case 1:
	case 2: return 10;
	case 4: return 16;
	case 5: return 12;
	default: return 0; /* reserved / vendor groups: length unknown */
	}
}

enum scsi_cmd_result scsi_lun_execute(struct scsi_lun *l, struct scsi_cmd *cmd,
				      const uint16_t *luns, unsigned nluns)
{
	uint8_t op = cmd->cdb[0];
	unsigned need = cdb_length(op);

	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	cmd->transferred = 0;
	cmd->nops = 0;
	cmd->flush_after = false;
	cmd->is_write = false;
	cmd->overrun = false;
	atomic_fetch_add(&l->commands, 1);
	if (cmd->cdb_len > sizeof(cmd->cdb) || cmd->cdb_len == 0)
		return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	/* Bytes past cdb_len read as zero; a short CDB for its group is refused. */
	memset(cmd->cdb + cmd->cdb_len, 0, sizeof(cmd->cdb) - cmd->cdb_len);
	if (need && cmd->cdb_len < need)
		return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
	switch (op) {
	case SCSI_TEST_UNIT_READY:
	case SCSI_START_STOP_UNIT:
	case SCSI_PREVENT_ALLOW: return good(cmd);
	case SCSI_REQUEST_SENSE: return request_sense(cmd);
	case SCSI_INQUIRY: return inquiry(l, cmd);
	case SCSI_READ_CAPACITY_10: return read_capacity(l, cmd, false);
	case SCSI_SERVICE_ACTION_IN16:
		if ((cmd->cdb[1] & 0x1f) != SCSI_SAI_READ_CAPACITY_16)
			return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST,
				    SCSI_ASC_INVALID_FIELD_IN_CDB);
		return read_capacity(l, cmd, true);
	case SCSI_MODE_SENSE_6: return mode_sense(l, cmd, false);
	case SCSI_MODE_SENSE_10: return mode_sense(l, cmd, true);
	case SCSI_REPORT_LUNS: return report_luns(cmd, luns, nluns);
	case SCSI_READ_6:
	case SCSI_READ_10:
	case SCSI_READ_12:
	case SCSI_READ_16: return read_write(l, cmd, false);
	case SCSI_WRITE_6:
	case SCSI_WRITE_10:
	case SCSI_WRITE_12:
	case SCSI_WRITE_16: return read_write(l, cmd, true);
	case SCSI_SYNCHRONIZE_CACHE:
	case SCSI_SYNCHRONIZE_CACHE16: return sync_cache(l, cmd);
	case SCSI_UNMAP: return unmap(l, cmd);
	default: return fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	}
}

void scsi_cmd_finish(struct scsi_lun *l, struct scsi_cmd *cmd, int result)
{
	if (result == 0) {
		uint64_t bytes = 0;
		unsigned i;

		for (i = 0; i < cmd->nops; i++)
			if (cmd->ops[i].op == DISK_OP_READ || cmd->ops[i].op == DISK_OP_WRITE)
				bytes += cmd->ops[i].len;
		if (bytes) {
			atomic_fetch_add(cmd->is_write ? &l->bytes_written : &l->bytes_read, bytes);
			cmd->transferred = bytes;
		}
		cmd->status = SCSI_STATUS_GOOD;
		cmd->sense_len = 0;
		return;
	}
	switch (result) {
	case -EROFS: fail(l, cmd, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED); break;
	case -ENOSPC:
		atomic_fetch_add(&l->err_io, 1);
		scsi_cmd_set_sense(cmd, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_SPACE_ALLOCATION_FAILED);
		break;
	case -EINVAL: fail(l, cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE); break;
	default:
		atomic_fetch_add(&l->err_io, 1);
		scsi_cmd_set_sense(cmd, SCSI_SENSE_MEDIUM_ERROR,
				   cmd->is_write ? SCSI_ASC_WRITE_ERROR
						 : SCSI_ASC_UNRECOVERED_READ_ERROR);
		break;
	}
}

/* Scatter/gather between the command's buffer and a bounce buffer (synchronous path only). */
static void iov_copy(const struct scsi_cmd *cmd, uint8_t *flat, size_t len, bool to_iov)
{
	size_t done = 0;
	unsigned i;

	for (i = 0; i < cmd->iovcnt && done < len; i++) {
		size_t n = MIN(cmd->iov[i].iov_len, len - done);

		if (to_iov)
			memcpy(cmd->iov[i].iov_base, flat + done, n);
		else
			memcpy(flat + done, cmd->iov[i].iov_base, n);
		done += n;
	}
}

void scsi_lun_execute_sync(struct scsi_lun *l, struct scsi_cmd *cmd, const uint16_t *luns,
			   unsigned nluns)
{
	int r = 0;
	unsigned i;

	if (scsi_lun_execute(l, cmd, luns, nluns) != SCSI_CMD_DISK_IO)
		return;
	for (i = 0; i < cmd->nops && r == 0; i++) {
		const struct scsi_disk_op *o = &cmd->ops[i];
		uint8_t *bounce;

		switch (o->op) {
		case DISK_OP_READ:
		case DISK_OP_WRITE:
			bounce = malloc(o->len);
			if (!bounce) {
				r = -ENOMEM;
				break;
			}
			if (o->op == DISK_OP_READ) {
				r = disk_read(l->disk, o->offset, bounce, o->len);
				if (r == 0)
					iov_copy(cmd, bounce, o->len, true);
			} else {
				iov_copy(cmd, bounce, o->len, false);
				r = disk_write(l->disk, o->offset, bounce, o->len);
			}
			free(bounce);
			break;
		case DISK_OP_FLUSH: r = disk_flush(l->disk); break;
		case DISK_OP_DISCARD: r = disk_discard(l->disk, o->offset, o->len); break;
		}
	}
	if (r == 0 && cmd->flush_after)
		r = disk_flush(l->disk);
	scsi_cmd_finish(l, cmd, r);
}

void scsi_absent_execute(struct scsi_cmd *cmd, const uint16_t *luns, unsigned nluns)
{
	uint8_t b[SCSI_INQUIRY_STD_LEN];

	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	cmd->transferred = 0;
	cmd->nops = 0;
	cmd->flush_after = false;
	cmd->overrun = false;
	if (cmd->cdb_len > sizeof(cmd->cdb) || cmd->cdb_len == 0) {
		scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
		return;
	}
	memset(cmd->cdb + cmd->cdb_len, 0, sizeof(cmd->cdb) - cmd->cdb_len);
	if (cmd->cdb[0] == SCSI_REPORT_LUNS) {
		report_luns(cmd, luns, nluns);
		return;
	}
	if (cmd->cdb[0] == SCSI_INQUIRY && !(cmd->cdb[1] & SCSI_INQUIRY_EVPD)) {
		answer(cmd, b, inquiry_standard(b, SCSI_PERIPHERAL_NO_LUN), get_be16(cmd->cdb + 3));
		return;
	}
	scsi_cmd_set_sense(cmd, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LUN_NOT_SUPPORTED);
}

int scsi_lun_new(struct disk *d, bool read_only, struct scsi_lun **ret)
{
	struct scsi_lun *l;
	const uint8_t *id;
	unsigned i;

	if (!d)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->disk = d;
	disk_get_info(d, &l->info);
	l->block = l->info.logical_sector_size == 4096 ? 4096 : 512;
	l->nblocks = l->info.size / l->block;
	l->read_only = read_only || l->info.read_only;
	l->can_discard = l->info.can_discard && !l->read_only;
	id = (const uint8_t *)&l->info.disk_id;
	for (i = 0; i < 16; i++)
		snprintf(l->serial + 2 * i, 3, "%02x", id[i]);
	*ret = l;
	return 0;
}

struct scsi_lun *scsi_lun_free(struct scsi_lun *l)
{
	free(l);
	return NULL;
}

struct disk *scsi_lun_disk(const struct scsi_lun *l)
{
	return l->disk;
}

bool scsi_lun_read_only(const struct scsi_lun *l)
{
	return l->read_only;
}

void scsi_lun_get_stats(struct scsi_lun *l, struct scsi_lun_stats *s)
{
	*s = (struct scsi_lun_stats){
		.commands = atomic_load(&l->commands),
		.reads = atomic_load(&l->reads),
		.writes = atomic_load(&l->writes),
		.flushes = atomic_load(&l->flushes),
		.unmaps = atomic_load(&l->unmaps),
		.bytes_read = atomic_load(&l->bytes_read),
		.bytes_written = atomic_load(&l->bytes_written),
		.errors_illegal_request = atomic_load(&l->err_illegal),
		.errors_write_protect = atomic_load(&l->err_wp),
		.errors_io = atomic_load(&l->err_io),
	};
}
