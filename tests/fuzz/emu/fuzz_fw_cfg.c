/*
 * Fuzz target: fw_cfg (src/emu/fw_cfg.c), the ports and the DMA descriptor
 * walk, over 1 MiB of real guest memory (a memfd, zeroed for each input)
 * with the items a BIOS boot has (signature, ID, RAM size, directory, a
 * few files). The input is a sequence of 6-byte operations:
 *
 *   byte 0   bits 0-2: 0 port write, 1 port read, 2 guest memory: the value
 *                      at 0x1000 * byte 1 + 4 * (bits 6-7 of byte 0)
 *            bits 3-4: size 1, 2, 4 (3 = 2)
 *   byte 1   port offset from 0x510 (modulo 12), or the memory page
 *   byte 2-5 value, little-endian (the DMA register takes big-endian halves)
 *
 * Seeds (corpus/fw_cfg, by make_fw_cfg_corpus.py): SeaBIOS's reads, by
 * port and by DMA, and descriptors pointing at and past the end of RAM.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base/log.h"
#include "emu/fw_cfg.h"
#include "emu/fw_cfg_format.h"
#include "vid/guest_memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_memory *mem;
static struct io_bus *bus;

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static void setup(void)
{
	log_set_sink(quiet, NULL);
	if (guest_memory_new(1u << 20, &mem) < 0 || io_bus_new("pio", &bus) < 0)
		abort();
}

static struct fw_cfg *device(void)
{
	static const uint8_t ram[8] = {0, 0, 0, 8}, e820[20] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
	struct fw_cfg *cfg;

	if (fw_cfg_new(bus, mem, &cfg) < 0 ||
	    fw_cfg_add_item(cfg, FW_CFG_RAM_SIZE, ram, sizeof(ram)) < 0 ||
	    fw_cfg_add_file(cfg, "etc/e820", e820, sizeof(e820)) < 0 ||
	    fw_cfg_add_file(cfg, "bootorder", "/pci@i0cf8/ide@1,1/drive@0/disk@0", 34) < 0 ||
	    fw_cfg_add_file(cfg, "etc/empty", NULL, 0) < 0)
		abort();
	return cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned sizes[4] = {1, 2, 4, 2};
	struct fw_cfg *cfg;

	if (!mem)
		setup();
	if (guest_memory_fill(mem, 0, 0, 1u << 20) < 0)
		abort();
	cfg = device();
	for (size_t i = 0; i + 6 <= size; i += 6) {
		const uint8_t *op = data + i;
		unsigned sz = sizes[(op[0] >> 3) & 3];
		uint64_t port = FW_CFG_PORT_BASE + op[1] % FW_CFG_PORT_LEN, v;
		uint32_t val = op[2] | op[3] << 8 | op[4] << 16 | (uint32_t)op[5] << 24;

		switch (op[0] & 7) {
		case 0: (void)io_bus_write(bus, port, sz, val); break;
		case 1: (void)io_bus_read(bus, port, sz, &v); break;
		case 2:
			if (guest_memory_write(mem, 0x1000u * op[1] + (op[0] >> 6) * 4u, &val,
					       sizeof(val)) < 0)
				abort(); /* always inside the 1 MiB */
			break;
		}
	}
	fw_cfg_free(cfg);
	return 0;
}
