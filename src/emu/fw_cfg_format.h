/*
 * QEMU's firmware configuration interface (fw_cfg) as firmware sees it:
 * selectors, the DMA descriptor, the file directory entry and the
 * "etc/table-loader" commands. Sources: QEMU docs/specs/fw_cfg.rst and
 * include/standard-headers/linux/qemu_fw_cfg.h; SeaBIOS src/fw/paravirt.c
 * (the reader) and src/fw/romfile_loader.h (the loader commands).
 * All multi-byte fields of the DMA descriptor and the directory are
 * big-endian; item contents are little-endian unless said otherwise.
 */
#pragma once

#include <stdint.h>

/* I/O ports (x86): selector (16-bit write), data (8-bit), DMA address (two 32-bit halves). */
#define FW_CFG_PORT_SELECTOR 0x510
#define FW_CFG_PORT_DATA     0x511
#define FW_CFG_PORT_DMA_HIGH 0x514 /* bits 63-32 of the descriptor's address, big-endian */
#define FW_CFG_PORT_DMA_LOW  0x518 /* bits 31-0, big-endian; writing it starts the transfer */
#define FW_CFG_PORT_BASE     FW_CFG_PORT_SELECTOR
#define FW_CFG_PORT_LEN	     0x0C /* 0x510-0x51B */

/* Selectors (fw_cfg.rst "Selector Register"). */
#define FW_CFG_SIGNATURE  0x0000 /* "QEMU" */
#define FW_CFG_ID	  0x0001 /* u32 LE: feature bits */
#define FW_CFG_UUID	  0x0002 /* 16 bytes */
#define FW_CFG_RAM_SIZE	  0x0003 /* u64 LE */
#define FW_CFG_NOGRAPHIC  0x0004 /* u16 LE */
#define FW_CFG_NB_CPUS	  0x0005 /* u16 LE: processors present at boot */
#define FW_CFG_NUMA	  0x000D /* u64 LE count of nodes, then per-CPU and per-node data */
#define FW_CFG_BOOT_MENU  0x000E /* u16 LE: 1 shows SeaBIOS's boot menu */
#define FW_CFG_MAX_CPUS	  0x000F /* u16 LE */
#define FW_CFG_FILE_DIR	  0x0019 /* the file directory */
#define FW_CFG_FILE_FIRST 0x0020 /* files get selectors from here up */
#define FW_CFG_WRITE_CHANNEL                                                                       \
	0x4000 /* selector bit: legacy write channel (ignored since QEMU 2.4) */
#define FW_CFG_ARCH_LOCAL    0x8000 /* selector bit: architecture-specific items */
#define FW_CFG_SELECTOR_MASK 0xBFFF /* the item a selector names (the write bit dropped) */

/* FW_CFG_ID bits. */
#define FW_CFG_VERSION	   0x01 /* the traditional interface */
#define FW_CFG_VERSION_DMA 0x02 /* the DMA interface */

/* FW_CFG_DMA_CTL_* bits of fw_cfg_dma_access.control; the selector is in bits 31-16. */
#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SKIP   0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE  0x10

/* What reads of the DMA address register return: "QEMU CFG", big-endian. */
#define FW_CFG_DMA_SIGNATURE UINT64_C(0x51454d5520434647)

/* fw_cfg.rst "FWCfgDmaAccess": the descriptor whose address is written to the DMA register. */
struct fw_cfg_dma_access {
	uint32_t control; /* BE */
	uint32_t length;  /* BE */
	uint64_t address; /* BE */
} __attribute__((packed));
_Static_assert(sizeof(struct fw_cfg_dma_access) == 16, "fw_cfg.rst FWCfgDmaAccess");

#define FW_CFG_FILE_NAME_LEN 56

/* fw_cfg.rst "FWCfgFile": one directory entry; the directory is a BE u32 count and these. */
struct fw_cfg_file {
	uint32_t size;	   /* BE */
	uint16_t select;   /* BE */
	uint16_t reserved; /* 0 */
	char name[FW_CFG_FILE_NAME_LEN];
} __attribute__((packed));
_Static_assert(sizeof(struct fw_cfg_file) == 64, "fw_cfg.rst FWCfgFile");

/* SeaBIOS src/fw/paravirt.c "struct e820_reservation": one entry of "etc/e820", LE. */
struct fw_cfg_e820_entry {
	uint64_t address;
	uint64_t length;
	uint32_t type; /* 1 RAM, 2 reserved (ACPI 6.4 §15.1) */
} __attribute__((packed));
_Static_assert(sizeof(struct fw_cfg_e820_entry) == 20, "SeaBIOS e820_reservation");

/* SeaBIOS src/fw/romfile_loader.h: one 128-byte command of "etc/table-loader", LE. */
#define FW_CFG_LOADER_ALLOCATE	   1
#define FW_CFG_LOADER_ADD_POINTER  2
#define FW_CFG_LOADER_ADD_CHECKSUM 3
#define FW_CFG_LOADER_ZONE_HIGH	   1
#define FW_CFG_LOADER_ZONE_FSEG	   2

struct fw_cfg_loader_entry {
	uint32_t command;
	union {
		struct {
			char file[FW_CFG_FILE_NAME_LEN];
			uint32_t align;
			uint8_t zone;
		} __attribute__((packed)) alloc;
		struct {
			char file[FW_CFG_FILE_NAME_LEN];
			uint32_t offset;
			uint32_t start;
			uint32_t length;
		} __attribute__((packed)) cksum;
		uint8_t pad[124];
	};
} __attribute__((packed));
_Static_assert(sizeof(struct fw_cfg_loader_entry) == 128, "SeaBIOS romfile_loader_entry_s");
