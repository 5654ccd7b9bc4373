/*
 * Fuzz target: the storage channel's packet parser (vsp/storvsp/storvsp_packet.c)
 * exactly as the channel calls it: the input is one VMBus packet as the
 * guest wrote it into the ring (descriptor first; its offset8 says where
 * the vstor packet starts), parsed, its page range turned into iovecs
 * against 1 MiB of guest RAM, and an EXECUTE_SRB run through the SCSI
 * model on a raw disk with that buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common_disk.h"
#include "vsp/storvsp/scsi.h"
#include "vsp/storvsp/storvsp_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_memory *mem;
	static struct scsi_lun *lun;
	static const uint16_t luns[] = {0};
	static struct iovec iov[STORVSP_MAX_PFNS];
	struct vmbus_packet_desc d;
	struct vmbus_packet pkt;
	struct storvsp_parsed p;
	struct scsi_cmd cmd = {0};
	unsigned cnt = 0;
	uint8_t *copy;
	size_t hdr;

	if (!mem) {
		if (guest_memory_new(1 << 20, &mem) < 0 ||
		    scsi_lun_new(fuzz_raw_disk(1 << 20, false), false, &lun) < 0)
			abort();
	}
	if (size < sizeof(d) || size > 65536)
		return 0;
	/* The channel hands over a private copy of exactly the packet's bytes. */
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memcpy(&d, copy, sizeof(d));
	hdr = (size_t)d.offset8 * 8;
	if (hdr < sizeof(d) || hdr > size) {
		free(copy);
		return 0;
	}
	pkt = (struct vmbus_packet){.type = d.type,
				    .flags = d.flags,
				    .trans_id = d.trans_id,
				    .data = copy + hdr,
				    .len = size - hdr,
				    .raw = copy,
				    .raw_len = size};
	if (storvsp_packet_parse(&pkt, &p) == 0 && p.pkt.operation == VSTOR_OPERATION_EXECUTE_SRB &&
	    p.pkt.srb.cdb_length <= VSTOR_MAX_CDB_LEN) {
		if (p.has_range && p.pkt.srb.data_transfer_length &&
		    storvsp_range_iov(mem, &p, p.pkt.srb.data_transfer_length, iov,
				      STORVSP_MAX_PFNS, &cnt) == 0)
			cmd.buf_len = p.pkt.srb.data_transfer_length;
		memcpy(cmd.cdb, p.pkt.srb.cdb_or_sense, 16);
		cmd.cdb_len = p.pkt.srb.cdb_length;
		cmd.iov = iov;
		cmd.iovcnt = cmd.buf_len ? cnt : 0;
		cmd.data_out = p.pkt.srb.data_in == VSTOR_WRITE_TYPE && cmd.buf_len;
		scsi_lun_execute_sync(lun, &cmd, luns, 1);
		if (cmd.transferred > cmd.buf_len)
			abort();
	}
	free(copy);
	return 0;
}
