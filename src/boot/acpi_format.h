/*
 * ACPI table formats Parvis writes: RSDP, the common table header, XSDT,
 * FADT, FACS and MADT with the entries a PC needs. Spec: ACPI 6.4,
 * chapter 5.2 ("ACPI System Description Tables"); section numbers below.
 * Little-endian, packed (ACPI tables have no alignment padding).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* §5.2.3.2 Generic Address Structure (GAS). */
#define ACPI_GAS_SYSTEM_MEMORY 0
#define ACPI_GAS_SYSTEM_IO     1
#define ACPI_GAS_ACCESS_BYTE   1
#define ACPI_GAS_ACCESS_WORD   2
#define ACPI_GAS_ACCESS_DWORD  3

struct acpi_gas {
	uint8_t address_space_id;
	uint8_t register_bit_width;
	uint8_t register_bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS is 12 bytes");

/* §5.2.5.3 Root System Description Pointer, revision 2 (ACPI 2.0+). */
#define ACPI_RSDP_SIGNATURE "RSD PTR "
#define ACPI_RSDP_V1_LEN    20 /* bytes covered by `checksum` */

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* bytes 0..19 sum to 0 */
	char oem_id[6];
	uint8_t revision; /* 2 */
	uint32_t rsdt_address;
	uint32_t length; /* 36 */
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* all 36 bytes sum to 0 */
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP is 36 bytes");

/* §5.2.6 System Description Table Header. */
struct acpi_table_header {
	char signature[4];
	uint32_t length; /* of the whole table, header included */
	uint8_t revision;
	uint8_t checksum; /* the whole table sums to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_table_header) == 36, "table header is 36 bytes");

/* §5.2.8 XSDT: the header, then 64-bit table addresses (unaligned). */
#define ACPI_XSDT_REVISION 1

/* §5.2.9, Table 5.9 "FADT Format": revision 6 (ACPI 6.0+), 276 bytes. */
#define ACPI_FADT_REVISION	 6
#define ACPI_FADT_MINOR_REVISION 4

/* IAPC_BOOT_ARCH (§5.2.9.3) */
#define ACPI_FADT_LEGACY_DEVICES  (1u << 0)
#define ACPI_FADT_8042		  (1u << 1)
#define ACPI_FADT_VGA_NOT_PRESENT (1u << 2)
/* Fixed feature flags (§5.2.9, Table 5.10) */
#define ACPI_FADT_WBINVD	  (1u << 0)
#define ACPI_FADT_PROC_C1	  (1u << 2)
#define ACPI_FADT_PWR_BUTTON	  (1u << 4) /* 1: no fixed power button */
#define ACPI_FADT_SLP_BUTTON	  (1u << 5) /* 1: no fixed sleep button */
#define ACPI_FADT_FIX_RTC	  (1u << 6) /* 1: RTC wake status not in fixed registers */
#define ACPI_FADT_RTC_S4	  (1u << 7)
#define ACPI_FADT_TMR_VAL_EXT	  (1u << 8) /* PM timer is 32 bits */
#define ACPI_FADT_RESET_REG_SUP	  (1u << 10)
#define ACPI_FADT_HW_REDUCED_ACPI (1u << 20)

struct acpi_fadt {
	struct acpi_table_header header;     /* "FACP" */
	uint32_t firmware_ctrl;		     /* 36: FACS address */
	uint32_t dsdt;			     /* 40 */
	uint8_t reserved0;		     /* 44: INT_MODEL in ACPI 1.0 */
	uint8_t preferred_pm_profile;	     /* 45 */
	uint16_t sci_int;		     /* 46 */
	uint32_t smi_cmd;		     /* 48: 0 = no SMI command port, always in ACPI mode */
	uint8_t acpi_enable;		     /* 52 */
	uint8_t acpi_disable;		     /* 53 */
	uint8_t s4bios_req;		     /* 54 */
	uint8_t pstate_cnt;		     /* 55 */
	uint32_t pm1a_evt_blk;		     /* 56 */
	uint32_t pm1b_evt_blk;		     /* 60 */
	uint32_t pm1a_cnt_blk;		     /* 64 */
	uint32_t pm1b_cnt_blk;		     /* 68 */
	uint32_t pm2_cnt_blk;		     /* 72 */
	uint32_t pm_tmr_blk;		     /* 76 */
	uint32_t gpe0_blk;		     /* 80 */
	uint32_t gpe1_blk;		     /* 84 */
	uint8_t pm1_evt_len;		     /* 88 */
	uint8_t pm1_cnt_len;		     /* 89 */
	uint8_t pm2_cnt_len;		     /* 90 */
	uint8_t pm_tmr_len;		     /* 91 */
	uint8_t gpe0_blk_len;		     /* 92 */
	uint8_t gpe1_blk_len;		     /* 93 */
	uint8_t gpe1_base;		     /* 94 */
	uint8_t cst_cnt;		     /* 95 */
	uint16_t p_lvl2_lat;		     /* 96: > 100 means C2 unsupported */
	uint16_t p_lvl3_lat;		     /* 98: > 1000 means C3 unsupported */
	uint16_t flush_size;		     /* 100 */
	uint16_t flush_stride;		     /* 102 */
	uint8_t duty_offset;		     /* 104 */
	uint8_t duty_width;		     /* 105 */
	uint8_t day_alrm;		     /* 106 */
	uint8_t mon_alrm;		     /* 107 */
	uint8_t century;		     /* 108 */
	uint16_t iapc_boot_arch;	     /* 109 */
	uint8_t reserved1;		     /* 111 */
	uint32_t flags;			     /* 112 */
	struct acpi_gas reset_reg;	     /* 116 */
	uint8_t reset_value;		     /* 128 */
	uint16_t arm_boot_arch;		     /* 129 */
	uint8_t fadt_minor_version;	     /* 131 */
	uint64_t x_firmware_ctrl;	     /* 132 */
	uint64_t x_dsdt;		     /* 140 */
	struct acpi_gas x_pm1a_evt_blk;	     /* 148 */
	struct acpi_gas x_pm1b_evt_blk;	     /* 160 */
	struct acpi_gas x_pm1a_cnt_blk;	     /* 172 */
	struct acpi_gas x_pm1b_cnt_blk;	     /* 184 */
	struct acpi_gas x_pm2_cnt_blk;	     /* 196 */
	struct acpi_gas x_pm_tmr_blk;	     /* 208 */
	struct acpi_gas x_gpe0_blk;	     /* 220 */
	struct acpi_gas x_gpe1_blk;	     /* 232 */
	struct acpi_gas sleep_control_reg;   /* 244 */
	struct acpi_gas sleep_status_reg;    /* 256 */
	uint64_t hypervisor_vendor_identity; /* 268 */
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT flags");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT");
_Static_assert(offsetof(struct acpi_fadt, x_pm_tmr_blk) == 208, "FADT X_PM_TMR_BLK");

/* §5.2.10 Firmware ACPI Control Structure: 64 bytes, 64-byte aligned, no checksum. */
#define ACPI_FACS_VERSION 2
#define ACPI_FACS_ALIGN	  64

struct acpi_facs {
	char signature[4]; /* "FACS" */
	uint32_t length;   /* 64 */
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved0[3];
	uint32_t ospm_flags;
	uint8_t reserved1[24];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS is 64 bytes");

/* §5.2.12 Multiple APIC Description Table. */
#define ACPI_MADT_REVISION    5 /* ACPI 6.3+ */
#define ACPI_MADT_PCAT_COMPAT (1u << 0)

struct acpi_madt {
	struct acpi_table_header header; /* "APIC" */
	uint32_t local_apic_address;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT fixed part is 44 bytes");

#define ACPI_MADT_TYPE_LOCAL_APIC	  0
#define ACPI_MADT_TYPE_IO_APIC		  1
#define ACPI_MADT_TYPE_INTERRUPT_OVERRIDE 2

/* §5.2.12.2 Processor Local APIC Structure. */
#define ACPI_MADT_LAPIC_ENABLED (1u << 0)
struct acpi_madt_local_apic {
	uint8_t type;	/* 0 */
	uint8_t length; /* 8 */
	uint8_t acpi_processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_local_apic) == 8, "MADT local APIC entry is 8 bytes");

/* §5.2.12.3 I/O APIC Structure. */
struct acpi_madt_io_apic {
	uint8_t type;	/* 1 */
	uint8_t length; /* 12 */
	uint8_t io_apic_id;
	uint8_t reserved;
	uint32_t io_apic_address;
	uint32_t global_system_interrupt_base;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_io_apic) == 12, "MADT I/O APIC entry is 12 bytes");

/* §5.2.12.5 Interrupt Source Override Structure; flags are MPS INTI flags (Table 5.50). */
#define ACPI_MPS_INTI_POLARITY_HIGH (1u << 0)
#define ACPI_MPS_INTI_POLARITY_LOW  (3u << 0)
#define ACPI_MPS_INTI_TRIGGER_EDGE  (1u << 2)
#define ACPI_MPS_INTI_TRIGGER_LEVEL (3u << 2)
struct acpi_madt_interrupt_override {
	uint8_t type;	/* 2 */
	uint8_t length; /* 10 */
	uint8_t bus;	/* 0: ISA */
	uint8_t source; /* ISA IRQ */
	uint32_t global_system_interrupt;
	uint16_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_interrupt_override) == 10,
	       "MADT override entry is 10 bytes");
