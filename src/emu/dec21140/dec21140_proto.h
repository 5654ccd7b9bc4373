/*
 * The DEC 21140A's programming interface as its driver sees it: the CSRs'
 * offsets and bits, the transmit and receive descriptors, the setup frame,
 * the serial ROM (93C46) and MII management bits of CSR9 and the SROM
 * layout. Sources: Digital's "21140A PCI Fast Ethernet LAN Controller
 * Hardware Reference Manual" (CSR chapter 3, descriptors chapter 4), the
 * "Digital Semiconductor 21X4 Serial ROM Format" (version 4.09), and
 * Linux 6.1's drivers/net/ethernet/dec/tulip/ (tulip.h names the same bits).
 */
#pragma once

#include <stdint.h>

/* PCI identity (tulip_core.c's tulip_pci_tbl: 1011:0009 is DC21140). */
#define DEC21140_VENDOR	  0x1011u
#define DEC21140_DEVICE	  0x0009u
#define DEC21140_REVISION 0x20u /* 21140A pass 2.0 ("rev 32" in Linux's banner) */
#define DEC21140_CSR_LEN  0x80u /* 16 CSRs, each a longword at an 8-byte stride */

/* CSRn is at offset 8 * n in either BAR (tulip.h enum tulip_offsets). */
#define CSR_COUNT 16u

/* CSR0 bus mode (HRM 3.2.1). */
#define CSR0_SWR	 (1u << 0) /* software reset, self-clearing */
#define CSR0_DSL_SHIFT	 2u	   /* descriptor skip length, longwords (ring mode) */
#define CSR0_DSL_MASK	 0x1Fu
#define CSR0_DBO	 (1u << 20) /* descriptor byte ordering: big-endian */
#define CSR0_TAP_SHIFT	 17u	    /* transmit automatic polling interval */
#define CSR0_TAP_MASK	 0x7u
#define CSR0_WRITABLE	 0x03FFFFFEu /* bits 25:1 (21140A); 31:26 reserved */
#define CSR0_RESET_VALUE 0xFE000000u /* reserved bits read as ones */

/* CSR5 status (HRM 3.2.5): bits 16:0 are cleared by writing ones. */
#define CSR5_TI	      (1u << 0)	 /* transmit interrupt (a descriptor with IC done) */
#define CSR5_TPS      (1u << 1)	 /* transmit process stopped */
#define CSR5_TU	      (1u << 2)	 /* transmit buffer unavailable: suspended */
#define CSR5_TJT      (1u << 3)	 /* transmit jabber timeout */
#define CSR5_UNF      (1u << 5)	 /* transmit underflow */
#define CSR5_RI	      (1u << 6)	 /* receive interrupt */
#define CSR5_RU	      (1u << 7)	 /* receive buffer unavailable: suspended */
#define CSR5_RPS      (1u << 8)	 /* receive process stopped */
#define CSR5_RWT      (1u << 9)	 /* receive watchdog timeout */
#define CSR5_ETI      (1u << 10) /* early transmit interrupt */
#define CSR5_GTE      (1u << 11) /* general-purpose timer expired */
#define CSR5_FBE      (1u << 13) /* fatal bus error: all DMA stops until a reset */
#define CSR5_ERI      (1u << 14) /* early receive interrupt */
#define CSR5_AIS      (1u << 15) /* abnormal interrupt summary */
#define CSR5_NIS      (1u << 16) /* normal interrupt summary */
#define CSR5_RS_SHIFT 17u	 /* receive process state */
#define CSR5_TS_SHIFT 20u	 /* transmit process state */
#define CSR5_EB_SHIFT 23u	 /* error bits of a fatal bus error */
#define CSR5_W1C      0x0001FFFFu
#define CSR5_RESET    0xFC000000u /* reserved bits read as ones */
/* The summaries are ORs of the enabled sources of each kind (HRM 3.2.5, CSR5<16>, <15>). */
#define CSR5_NORMAL (CSR5_TI | CSR5_TU | CSR5_RI | CSR5_ERI)
#define CSR5_ABNORMAL                                                                              \
	(CSR5_TPS | CSR5_TJT | CSR5_UNF | CSR5_RPS | CSR5_RU | CSR5_RWT | CSR5_ETI | CSR5_GTE |    \
	 CSR5_FBE)
#define CSR5_EB_MASTER_ABORT 1u /* EB value for a DMA cycle nothing answered */

/* Process states in CSR5<19:17> (receive) and <22:20> (transmit). */
enum {
	RS_STOPPED = 0,
	RS_RUNNING_WAIT = 3, /* running, waiting for a frame */
	RS_SUSPENDED = 4,    /* no descriptor owned by the chip */
};
enum {
	TS_STOPPED = 0,
	TS_RUNNING_FETCH = 1,
	TS_SUSPENDED = 6,
};

/* CSR6 operating mode (HRM 3.2.6). */
#define CSR6_HP	       (1u << 0)  /* hash/perfect filtering (read only: the setup frame's) */
#define CSR6_SR	       (1u << 1)  /* start receive */
#define CSR6_HO	       (1u << 2)  /* hash-only filtering (read only) */
#define CSR6_PB	       (1u << 3)  /* pass bad frames */
#define CSR6_IF	       (1u << 4)  /* inverse filtering (read only) */
#define CSR6_PR	       (1u << 6)  /* promiscuous */
#define CSR6_PM	       (1u << 7)  /* pass all multicast */
#define CSR6_FD	       (1u << 9)  /* full duplex */
#define CSR6_OM_SHIFT  10u	  /* operating mode: 0 normal, 1 internal, 2 external loopback */
#define CSR6_ST	       (1u << 13) /* start transmit */
#define CSR6_PS	       (1u << 18) /* port select: MII/SYM (100 Mb/s clocks) */
#define CSR6_RA	       (1u << 30) /* receive all */
#define CSR6_FILTER_RO (CSR6_HP | CSR6_HO | CSR6_IF)
#define CSR6_RESET     0x32000040u /* MBO (25) and reserved bits; 21140A HRM table 3-9 */

/* CSR8 missed frames (HRM 3.2.8): cleared by reading. */
#define CSR8_MFC_MASK 0xFFFFu
#define CSR8_MFO      (1u << 16)

/* CSR9 serial ROM and MII management (HRM 3.2.9; tulip eeprom.c, media.c). */
#define CSR9_SR_CS  (1u << 0)	/* serial ROM chip select */
#define CSR9_SR_SK  (1u << 1)	/* serial ROM clock */
#define CSR9_SR_DI  (1u << 2)	/* data into the ROM */
#define CSR9_SR_DO  (1u << 3)	/* data out of the ROM */
#define CSR9_SR	    (1u << 11)	/* serial ROM select */
#define CSR9_RD	    (1u << 14)	/* read operation */
#define CSR9_MDC    (1u << 16)	/* MII management clock */
#define CSR9_MDO    (1u << 17)	/* MII management data from the chip */
#define CSR9_MII_IN (1u << 18)	/* MII management direction: 1 = the PHY drives */
#define CSR9_MDI    (1u << 19)	/* MII management data from the PHY */
#define CSR9_RESET  0xFFF483FFu /* what reads back before any access */

/* CSR11 general-purpose timer (HRM 3.2.11). */
#define CSR11_VALUE_MASK 0xFFFFu
#define CSR11_CON	 (1u << 16) /* continuous mode */
/* Tick: 204.8 us on the 10 Mb/s port, 81.92 us on the MII/SYM port. */
#define CSR11_TICK_NS_10  204800u
#define CSR11_TICK_NS_100 81920u

/* CSR12 general-purpose port: writes with bit 8 set the pins' directions. */
#define CSR12_GPC (1u << 8)

/* Descriptors: four little-endian longwords (HRM chapter 4; tulip.h). */
struct dec21140_desc {
	uint32_t status;  /* RDES0 / TDES0 */
	uint32_t control; /* RDES1 / TDES1: sizes and flags */
	uint32_t buf1, buf2;
};
_Static_assert(sizeof(struct dec21140_desc) == 16, "HRM 4.1: four longwords");

#define DES0_OWN	 (1u << 31)
#define DES1_BS1_MASK	 0x7FFu /* buffer 1 size, bits 10:0 */
#define DES1_BS2_SHIFT	 11u	/* buffer 2 size, bits 21:11 */
#define DES1_BS2_MASK	 0x7FFu
#define DES1_CHAINED	 (1u << 24) /* RCH / TCH: buf2 is the next descriptor */
#define DES1_END_OF_RING (1u << 25) /* RER / TER: next is the list base (takes precedence) */

/* TDES1 (HRM 4.2.2). */
#define TDES1_FT0 (1u << 22) /* filtering type, low bit (setup frames) */
#define TDES1_SET (1u << 27) /* setup frame */
#define TDES1_FT1 (1u << 28)
#define TDES1_FS  (1u << 29) /* first segment */
#define TDES1_LS  (1u << 30) /* last segment */
#define TDES1_IC  (1u << 31) /* interrupt on completion */
/* TDES0 status. */
#define TDES0_UF (1u << 1)  /* underflow */
#define TDES0_TO (1u << 14) /* transmit jabber timeout */
#define TDES0_ES (1u << 15) /* error summary */

/* RDES0 (HRM 4.1.1). */
#define RDES0_CE       (1u << 1)  /* CRC error */
#define RDES0_FT       (1u << 5)  /* frame type: Ethernet (length/type above 1500) */
#define RDES0_TL       (1u << 7)  /* frame too long (over 1518 bytes) */
#define RDES0_LS       (1u << 8)  /* last descriptor of the frame */
#define RDES0_FS       (1u << 9)  /* first descriptor of the frame */
#define RDES0_MF       (1u << 10) /* multicast */
#define RDES0_DE       (1u << 14) /* descriptor error: the frame did not fit */
#define RDES0_ES       (1u << 15) /* error summary */
#define RDES0_FL_SHIFT 16u	  /* frame length with its CRC, 14 bits */
#define RDES0_FF       (1u << 30) /* filtering fail (only in RA/PR modes) */

/* The setup frame (HRM 4.2.3): 192 bytes, sixteen 12-byte entries or a 512-bit hash. */
#define SETUP_FRAME_LEN	    192u
#define SETUP_PERFECT_COUNT 16u
#define SETUP_HASH_PERFECT  39u /* longword of the one perfect address in hash mode */
#define SETUP_HASH_BITS	    512u

/*
 * The serial ROM: a 93C46, 64 words, read with the Microwire READ command
 * (start bit, opcode 10b, 6 address bits, then a zero and 16 data bits;
 * tulip_read_eeprom() relies on that zero to find the address width). The
 * layout is the 21X4 SROM format version 4: offsets below in bytes.
 */
#define SROM_WORDS	      64u
#define SROM_ADDR_BITS	      6u
#define SROM_SUBSYS_VENDOR    0	  /* 2 bytes */
#define SROM_SUBSYS_ID	      2	  /* 2 bytes */
#define SROM_ID_CRC	      16  /* CRC of bytes 0-15 (low byte of the CRC-32) */
#define SROM_FORMAT_VERSION   18  /* 4 */
#define SROM_CONTROLLER_COUNT 19  /* 1 */
#define SROM_MAC	      20  /* IEEE address, 6 bytes */
#define SROM_CONTROLLER0_DEV  26  /* device number of controller 0 */
#define SROM_CONTROLLER0_INFO 27  /* 2 bytes: offset of controller 0's info leaf */
#define SROM_INFO_LEAF	      30  /* where ours is */
#define SROM_CRC	      126 /* 2 bytes: CRC-32 of bytes 0-125, low 16 bits */

/* MII management frames (IEEE 802.3 clause 22.2.4.5). */
#define MII_PREAMBLE_BITS 32u
#define MII_OP_READ	  2u
#define MII_OP_WRITE	  1u
#define MII_PHY_ADDR	  1u /* the one PHY on the management bus */
