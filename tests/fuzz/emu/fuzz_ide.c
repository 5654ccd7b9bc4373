/*
 * Fuzz target: the IDE command decoder with its PRD walker (src/emu/ide/).
 * One channel with an ATA disk (unit 0, a 1 MiB raw file) and an ATAPI
 * CD-ROM (unit 1, a 128 KiB image), bus-master DMA into 1 MiB of real guest
 * memory (a memfd, zeroed for each input). The input is a sequence of
 * 6-byte operations:
 *
 *   byte 0   bits 0-2: 0 command block, 1 control block, 2 bus master,
 *                      3 guest memory: the value at 0x1000 * byte 1 + 4 * (bits
 *                        6-7 of byte 0): PRD entries, or data,
 *                      4 host media change (value bit 0: eject / insert)
 *            bits 3-4: size 1, 2, 4 (3 = 2)
 *            bit 5:    1 = write, 0 = read
 *   byte 1   register offset (modulo the block's length)
 *   byte 2-5 value, little-endian
 *
 * Seeds (corpus/ide, by make_ide_corpus.py): Linux's probe (reset,
 * IDENTIFY, IDENTIFY PACKET), PIO and DMA reads and writes, PACKET commands.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "disk/disk.h"
#include "emu/ide/ide.h"
#include "vid/guest_memory.h"

#include "../vsp/fuzz_common_disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_memory *mem;
static struct disk *hd, *iso;

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static void setup(void)
{
	log_set_sink(quiet, NULL);
	if (guest_memory_new(1u << 20, &mem) < 0)
		abort();
	hd = fuzz_raw_disk(1u << 20, false);
	iso = fuzz_raw_disk(64 * 2048, true);
}

static void irq(void *opaque, unsigned gsi, bool level)
{
	(*(unsigned *)opaque)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned sizes[4] = {1, 2, 4, 2};
	struct ide_channel *ch = NULL;
	struct disk *old;
	unsigned irqs = 0;
	bool inserted = true;

	if (!mem)
		setup();
	if (guest_memory_fill(mem, 0, 0, 1u << 20) < 0)
		abort();
	if (ide_channel_new("fuzz", (struct irq_line){.set_level = irq, .opaque = &irqs, .gsi = 14},
			    mem, &ch) < 0 ||
	    ide_channel_attach_disk(ch, 0, hd) < 0 || ide_channel_attach_cdrom(ch, 1, iso) < 0)
		abort();
	for (size_t i = 0; i + 6 <= size; i += 6) {
		const uint8_t *op = data + i;
		unsigned sz = sizes[(op[0] >> 3) & 3];
		bool write = op[0] & 0x20;
		uint32_t v = op[2] | op[3] << 8 | op[4] << 16 | (uint32_t)op[5] << 24;

		switch (op[0] & 7) {
		case 0:
			if (write)
				ide_channel_cmd_write(ch, op[1] % 8, v, sz);
			else
				(void)ide_channel_cmd_read(ch, op[1] % 8, sz);
			break;
		case 1:
			if (write)
				ide_channel_ctl_write(ch, 0, v, sz);
			else
				(void)ide_channel_ctl_read(ch, 0, sz);
			break;
		case 2:
			if (write)
				ide_channel_bm_write(ch, op[1] % 8, v, sz);
			else
				(void)ide_channel_bm_read(ch, op[1] % 8, sz);
			break;
		case 3:
			if (guest_memory_write(mem, 0x1000u * op[1] + (op[0] >> 6) * 4u, &v,
					       sizeof(v)) < 0)
				abort(); /* always inside the 1 MiB */
			break;
		case 4:
			inserted = !(v & 1);
			if (ide_channel_change_media(ch, 1, inserted ? iso : NULL, op[1] & 1,
						     &old) < 0)
				continue; /* locked by the guest */
			break;
		}
	}
	ide_channel_free(ch);
	return 0;
}
