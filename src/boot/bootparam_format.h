/*
 * The Linux/x86 boot protocol's structures: the setup header a bzImage
 * carries at file offset 0x1F1, the "zero page" (struct boot_params) a
 * loader hands to the kernel in %rsi, and its e820 entries.
 * Guest source: Documentation/x86/boot.rst ("The Real-Mode Kernel Header",
 * "64-bit Boot Protocol"), Documentation/x86/zero-page.rst and
 * arch/x86/include/uapi/asm/bootparam.h (Linux 6.1). Little-endian,
 * packed as the kernel declares them; only the fields a loader reads or
 * writes are named, the rest are opaque padding at the same offsets.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Offsets in a bzImage file (boot.rst "The Real-Mode Kernel Header"). */
#define BZ_SETUP_HEADER_OFFSET 0x1F1
#define BZ_JUMP_OFFSET	       0x200 /* 2-byte short jump; its second byte bounds the header */
/* The header may not grow past boot_params.edd_mbr_sig_buffer. */
#define BZ_SETUP_HEADER_END_MAX 0x290
#define BZ_SECTOR_SIZE		512
#define BZ_DEFAULT_SETUP_SECTS	4 /* setup_sects 0 means 4 */
#define BZ_BOOT_FLAG		0xAA55
#define BZ_HEADER_MAGIC		0x53726448 /* "HdrS" */
#define BZ_ENTRY64_OFFSET	0x200	   /* 64-bit entry = load address + 0x200 (XLF_KERNEL_64) */

/* loadflags */
#define BZ_LOADED_HIGH	 (1u << 0)
#define BZ_KASLR_FLAG	 (1u << 1)
#define BZ_QUIET_FLAG	 (1u << 5)
#define BZ_KEEP_SEGMENTS (1u << 6)
#define BZ_CAN_USE_HEAP	 (1u << 7)

/* xloadflags (protocol 2.12+) */
#define BZ_XLF_KERNEL_64	      (1u << 0)
#define BZ_XLF_CAN_BE_LOADED_ABOVE_4G (1u << 1)

/* type_of_loader 0xFF: "undefined" boot loader (boot.rst, type_of_loader). */
#define BZ_LOADER_UNDEFINED 0xFF

/* The highest initrd byte for kernels that do not say (boot.rst, initrd_addr_max). */
#define BZ_INITRD_ADDR_MAX_DEFAULT 0x37FFFFFF
/* COMMAND_LINE_SIZE of x86 Linux, terminating NUL included (asm/setup.h). */
#define LINUX_COMMAND_LINE_SIZE 2048

/* boot.rst, "The Real-Mode Kernel Header": offsets 0x1F1..0x26B. */
struct setup_header {
	uint8_t setup_sects;		/* 0x1F1 */
	uint16_t root_flags;		/* 0x1F2 */
	uint32_t syssize;		/* 0x1F4, protected-mode size in 16-byte units */
	uint16_t ram_size;		/* 0x1F8 */
	uint16_t vid_mode;		/* 0x1FA */
	uint16_t root_dev;		/* 0x1FC */
	uint16_t boot_flag;		/* 0x1FE, 0xAA55 */
	uint16_t jump;			/* 0x200 */
	uint32_t header;		/* 0x202, "HdrS" */
	uint16_t version;		/* 0x206, boot protocol major << 8 | minor */
	uint32_t realmode_swtch;	/* 0x208 */
	uint16_t start_sys_seg;		/* 0x20C */
	uint16_t kernel_version;	/* 0x20E */
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;		/* 0x211 */
	uint16_t setup_move_size;	/* 0x212 */
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21C */
	uint32_t bootsect_kludge;	/* 0x220 */
	uint16_t heap_end_ptr;		/* 0x224 */
	uint8_t ext_loader_ver;		/* 0x226 */
	uint8_t ext_loader_type;	/* 0x227 */
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;	/* 0x22C, highest byte the initrd may occupy */
	uint32_t kernel_alignment;	/* 0x230 */
	uint8_t relocatable_kernel;	/* 0x234 */
	uint8_t min_alignment;		/* 0x235 */
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;		/* 0x238, maximum command line length without the NUL */
	uint32_t hardware_subarch;	/* 0x23C */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;	/* 0x248 */
	uint32_t payload_length;	/* 0x24C */
	uint64_t setup_data;		/* 0x250 */
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size;		/* 0x260 */
	uint32_t handover_offset;	/* 0x264 */
	uint32_t kernel_info_offset;	/* 0x268 */
} __attribute__((packed));
_Static_assert(sizeof(struct setup_header) == 0x26C - 0x1F1, "setup header spans 0x1F1..0x26B");

#define E820_TYPE_RAM		  1
#define E820_TYPE_RESERVED	  2
#define E820_TYPE_ACPI		  3
#define E820_TYPE_NVS		  4
#define E820_MAX_ENTRIES_ZEROPAGE 128

/* bootparam.h struct boot_e820_entry: the BIOS INT 15h/E820h record. */
struct boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct boot_e820_entry) == 20, "e820 entry is 20 bytes");

/* zero-page.rst / bootparam.h struct boot_params: one 4 KiB page. */
struct boot_params {
	uint8_t screen_info[0x40];	 /* 0x000 */
	uint8_t apm_bios_info[0x14];	 /* 0x040 */
	uint8_t pad_054[4];		 /* 0x054 */
	uint64_t tboot_addr;		 /* 0x058 */
	uint8_t ist_info[0x10];		 /* 0x060 */
	uint64_t acpi_rsdp_addr;	 /* 0x070 */
	uint8_t pad_078[8];		 /* 0x078 */
	uint8_t hd0_info[16];		 /* 0x080 */
	uint8_t hd1_info[16];		 /* 0x090 */
	uint8_t sys_desc_table[16];	 /* 0x0A0 */
	uint8_t olpc_ofw_header[16];	 /* 0x0B0 */
	uint32_t ext_ramdisk_image;	 /* 0x0C0, bits 63:32 of ramdisk_image */
	uint32_t ext_ramdisk_size;	 /* 0x0C4 */
	uint32_t ext_cmd_line_ptr;	 /* 0x0C8 */
	uint8_t pad_0cc[112];		 /* 0x0CC */
	uint32_t cc_blob_address;	 /* 0x13C */
	uint8_t edid_info[0x80];	 /* 0x140 */
	uint8_t efi_info[0x20];		 /* 0x1C0 */
	uint32_t alt_mem_k;		 /* 0x1E0 */
	uint32_t scratch;		 /* 0x1E4 */
	uint8_t e820_entries;		 /* 0x1E8 */
	uint8_t eddbuf_entries;		 /* 0x1E9 */
	uint8_t edd_mbr_sig_buf_entries; /* 0x1EA */
	uint8_t kbd_status;		 /* 0x1EB */
	uint8_t secure_boot;		 /* 0x1EC */
	uint8_t pad_1ed[2];		 /* 0x1ED */
	uint8_t sentinel;		 /* 0x1EF, must stay 0 or the kernel wipes fields */
	uint8_t pad_1f0[1];		 /* 0x1F0 */
	struct setup_header hdr;	 /* 0x1F1 */
	uint8_t pad_26c[0x290 - 0x26C];	 /* 0x26C, room for a longer setup header */
	uint32_t edd_mbr_sig_buffer[16]; /* 0x290 */
	struct boot_e820_entry e820_table[E820_MAX_ENTRIES_ZEROPAGE]; /* 0x2D0 */
	uint8_t pad_cd0[48];					      /* 0xCD0 */
	uint8_t eddbuf[0x1EC];					      /* 0xD00 */
	uint8_t pad_eec[276];					      /* 0xEEC */
} __attribute__((packed));
_Static_assert(sizeof(struct boot_params) == 4096, "zero page is 4 KiB");
_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
_Static_assert(offsetof(struct boot_params, ext_ramdisk_image) == 0x0C0, "ext_ramdisk_image");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1E8, "e820_entries");
_Static_assert(offsetof(struct boot_params, sentinel) == 0x1EF, "sentinel");
_Static_assert(offsetof(struct boot_params, hdr) == BZ_SETUP_HEADER_OFFSET, "hdr");
_Static_assert(offsetof(struct boot_params, hdr.cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(offsetof(struct boot_params, hdr.pref_address) == 0x258, "pref_address");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2D0, "e820_table");
_Static_assert(offsetof(struct boot_params, eddbuf) == 0xD00, "eddbuf");
