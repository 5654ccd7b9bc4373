/*
 * Fuzz target: the SCSI CDB decoder and command model (vsp/storvsp/scsi.c)
 * against a 1 MiB raw disk, writable or read-only, as storvsp runs it.
 *
 *   byte 0   bit 0: the buffer goes to the device; bit 1: the read-only LUN;
 *            bits 2-3: how many iovecs the buffer is split into (1..4)
 *   byte 1   CDB length as the SRB says it (0..255)
 *   2..17    the CDB (16 bytes)
 *   18..19   buffer length (little-endian, at most 64 KiB)
 *   then     the buffer's contents (UNMAP parameter lists, write data)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common_disk.h"
#include "vsp/storvsp/scsi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scsi_lun *rw, *ro;
	static uint8_t buf[65536];
	static const uint16_t luns[] = {0, 1};
	struct scsi_cmd cmd = {0};
	struct iovec iov[4];
	size_t len, chunk, off = 0;
	unsigned parts, i;

	if (!rw) {
		if (scsi_lun_new(fuzz_raw_disk(1 << 20, false), false, &rw) < 0 ||
		    scsi_lun_new(fuzz_raw_disk(1 << 20, true), false, &ro) < 0)
			abort();
	}
	if (size < 20)
		return 0;
	len = MIN((size_t)(data[18] | data[19] << 8), sizeof(buf));
	memset(buf, 0, len);
	memcpy(buf, data + 20, MIN(len, size - 20));
	parts = 1 + ((data[0] >> 2) & 3);
	chunk = len / parts;
	for (i = 0; i < parts; i++) {
		size_t n = i + 1 == parts ? len - off : chunk;

		iov[i] = (struct iovec){.iov_base = buf + off, .iov_len = n};
		off += n;
	}
	memcpy(cmd.cdb, data + 2, 16);
	cmd.cdb_len = data[1];
	cmd.iov = iov;
	cmd.iovcnt = parts;
	cmd.buf_len = len;
	cmd.data_out = data[0] & 1;
	scsi_lun_execute_sync(data[0] & 2 ? ro : rw, &cmd, luns, 2);
	if (cmd.transferred > len || cmd.sense_len > sizeof(cmd.sense))
		abort();
	if (cmd.status != SCSI_STATUS_GOOD && cmd.status != SCSI_STATUS_CHECK_CONDITION)
		abort();
	return 0;
}
