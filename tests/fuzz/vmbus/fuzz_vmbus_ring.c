/*
 * Fuzz target: the host's ring reader and writer (src/vmbus/ring.c) over
 * rings whose header and data the input fills, as a hostile guest could.
 *
 *   bytes 0-15  write_index, read_index, interrupt_mask, pending_send_sz
 *   byte 16     feature bits
 *   byte 17     how many packets to try to read (and buffer size seed)
 *   rest        the 8 KiB data area (zero-padded)
 *
 * Then the same pages are used as an outgoing ring and packets of sizes
 * taken from the input are written. Nothing may be read or written
 * outside the ring's pages. Seeds: corpus/vmbus_ring.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hvdef/vmbus_proto.h"
#include "vmbus/ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING_GPA 0x4000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_memory *mem;
	struct vmbus_ring_header hdr = {0};
	uint64_t pfns[3] = {RING_GPA / 4096, RING_GPA / 4096 + 1, RING_GPA / 4096 + 2};
	struct vmbus_gpadl g = {.range_count = 1, .npfns = 3, .pfns = pfns};
	struct vmbus_ring *r;
	uint8_t buf[9000];
	unsigned i, reads = 0;
	bool signal;

	if (!mem && guest_memory_new(64 * 4096, &mem) < 0)
		return 0;
	if (guest_memory_fill(mem, RING_GPA, 0, 3 * 4096) < 0)
		return 0;
	if (size >= 16)
		memcpy(&hdr, data, 16);
	if (size >= 17)
		hdr.feature_bits = data[16];
	if (size >= 18)
		reads = data[17];
	if (guest_memory_write(mem, RING_GPA, &hdr, sizeof(hdr)) < 0)
		return 0;
	if (size > 18 &&
	    guest_memory_write(mem, RING_GPA + 4096, data + 18, MIN(size - 18, (size_t)8192)) < 0)
		return 0;
	if (vmbus_ring_new(mem, &g, 0, 3, false, &r) == 0) {
		for (i = 0; i < reads % 64 + 1; i++) {
			size_t len, buflen = (i * 997 + reads) % sizeof(buf);
			int rc = vmbus_ring_read(r, buf, buflen, &len);

			if (rc == 0 && len > buflen)
				__builtin_trap();
			if (rc == -EAGAIN || rc == -EPROTO)
				break;
		}
		vmbus_ring_read_commit(r);
		vmbus_ring_unmask_interrupts(r);
		vmbus_ring_bytes_to_read(r);
		vmbus_ring_free(r);
	}
	if (vmbus_ring_new(mem, &g, 0, 3, true, &r) == 0) {
		memset(buf, 0x5A, sizeof(buf));
		for (i = 0; i + 1 < size && i < 64; i++) {
			struct vmbus_packet_desc d = {.type = 6, .offset8 = 2};
			size_t n = (size_t)data[i] * 8 + (size_t)data[i + 1] * 32;
			struct iovec iov[2] = {{&d, 16}, {buf, MIN(n, sizeof(buf))}};

			d.len8 = (uint16_t)((16 + iov[1].iov_len) / 8);
			if (vmbus_ring_write(r, iov, 2, &signal) == -EPROTO)
				break;
			vmbus_ring_can_write(r, n);
		}
		vmbus_ring_free(r);
	}
	return 0;
}
