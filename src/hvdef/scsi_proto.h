/*
 * SCSI as the synthetic SCSI controller speaks it: operation codes, SAM
 * status, sense keys and additional sense codes, VPD and mode page codes.
 * CDBs and their data are big-endian byte arrays: the command model
 * (vsp/storvsp/scsi.c) decodes them with explicit byte loads, so there are
 * no wire structs here, only offsets and values.
 *
 * Sources: T10 SPC-4 / SBC-3 (the command and sense definitions, as
 * summarised in shared/research/STORAGE-PROTOCOLS.md part B), checked
 * against what Linux 6.1 sends and parses (drivers/scsi/sd.c, scsi_scan.c,
 * include/scsi/scsi_proto.h, read not copied).
 */
#pragma once

#include <stdint.h>

/* Operation codes (SPC-4 / SBC-3). */
#define SCSI_TEST_UNIT_READY	 0x00
#define SCSI_REQUEST_SENSE	 0x03
#define SCSI_READ_6		 0x08
#define SCSI_WRITE_6		 0x0A
#define SCSI_INQUIRY		 0x12
#define SCSI_MODE_SELECT_6	 0x15
#define SCSI_MODE_SENSE_6	 0x1A
#define SCSI_START_STOP_UNIT	 0x1B
#define SCSI_PREVENT_ALLOW	 0x1E
#define SCSI_READ_CAPACITY_10	 0x25
#define SCSI_READ_10		 0x28
#define SCSI_WRITE_10		 0x2A
#define SCSI_VERIFY_10		 0x2F
#define SCSI_SYNCHRONIZE_CACHE	 0x35
#define SCSI_WRITE_SAME_10	 0x41
#define SCSI_UNMAP		 0x42
#define SCSI_MODE_SENSE_10	 0x5A
#define SCSI_READ_16		 0x88
#define SCSI_WRITE_16		 0x8A
#define SCSI_SYNCHRONIZE_CACHE16 0x91
#define SCSI_WRITE_SAME_16	 0x93
#define SCSI_SERVICE_ACTION_IN16 0x9E /* service action 0x10: READ CAPACITY(16) */
#define SCSI_REPORT_LUNS	 0xA0
#define SCSI_MAINTENANCE_IN	 0xA3
#define SCSI_READ_12		 0xA8
#define SCSI_WRITE_12		 0xAA

#define SCSI_SAI_READ_CAPACITY_16 0x10

/* READ/WRITE(10/12/16) byte 1 bit 3: force unit access (SBC-3). */
#define SCSI_CDB_FUA 0x08

/* SAM status. */
#define SCSI_STATUS_GOOD	    0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_STATUS_BUSY	    0x08

/* Sense keys (SPC-4 4.5.6). */
#define SCSI_SENSE_NO_SENSE	   0x0
#define SCSI_SENSE_NOT_READY	   0x2
#define SCSI_SENSE_MEDIUM_ERROR	   0x3
#define SCSI_SENSE_HARDWARE_ERROR  0x4
#define SCSI_SENSE_ILLEGAL_REQUEST 0x5
#define SCSI_SENSE_UNIT_ATTENTION  0x6
#define SCSI_SENSE_DATA_PROTECT	   0x7
#define SCSI_SENSE_ABORTED_COMMAND 0xB

/* Additional sense code << 8 | qualifier (SPC-4 annex D). */
#define SCSI_ASC_NONE			 0x0000
#define SCSI_ASC_WRITE_ERROR		 0x0C00
#define SCSI_ASC_UNRECOVERED_READ_ERROR	 0x1100
#define SCSI_ASC_PARAMETER_LIST_LENGTH	 0x1A00
#define SCSI_ASC_INVALID_OPCODE		 0x2000
#define SCSI_ASC_LBA_OUT_OF_RANGE	 0x2100
#define SCSI_ASC_INVALID_FIELD_IN_CDB	 0x2400
#define SCSI_ASC_LUN_NOT_SUPPORTED	 0x2500
#define SCSI_ASC_INVALID_FIELD_IN_PARAM	 0x2600
#define SCSI_ASC_WRITE_PROTECTED	 0x2700
#define SCSI_ASC_SPACE_ALLOCATION_FAILED 0x2707
#define SCSI_ASC_INTERNAL_TARGET_FAILURE 0x4400
#define SCSI_ASC_REPORTED_LUNS_CHANGED	 0x3F0E

/* Fixed-format sense data (SPC-4 4.5.3): 18 bytes. */
#define SCSI_SENSE_FIXED_LEN	      18
#define SCSI_SENSE_FIXED_CURRENT      0x70
#define SCSI_SENSE_FIXED_ADDITIONAL   10 /* byte 7: bytes after byte 7 */
#define SCSI_SENSE_OFF_KEY	      2
#define SCSI_SENSE_OFF_ADDITIONAL_LEN 7
#define SCSI_SENSE_OFF_ASC	      12
#define SCSI_SENSE_OFF_ASCQ	      13

/* INQUIRY (SPC-4 6.6). */
#define SCSI_INQUIRY_EVPD	     0x01 /* byte 1 */
#define SCSI_INQUIRY_STD_LEN	     36
#define SCSI_PERIPHERAL_DISK	     0x00
#define SCSI_PERIPHERAL_NO_LUN	     0x7F /* qualifier 3, type 0x1F: "no logical unit here" */
#define SCSI_VERSION_SPC3	     0x05
#define SCSI_INQUIRY_RESPONSE_FORMAT 0x02
#define SCSI_INQUIRY_CMDQUE	     0x02 /* byte 7 */

/* VPD pages (SPC-4 7.8, SBC-3 6.6). */
#define SCSI_VPD_SUPPORTED_PAGES       0x00
#define SCSI_VPD_SERIAL_NUMBER	       0x80
#define SCSI_VPD_DEVICE_ID	       0x83
#define SCSI_VPD_BLOCK_LIMITS	       0xB0
#define SCSI_VPD_BLOCK_CHARACTERISTICS 0xB1
#define SCSI_VPD_LB_PROVISIONING       0xB2
#define SCSI_VPD_BLOCK_LIMITS_LEN      64 /* Linux needs page length >= 0x3C for unmap limits */
#define SCSI_VPD_B1_LEN		       64
#define SCSI_VPD_B2_LEN		       8
#define SCSI_VPD_B2_LBPU	       0x80 /* byte 5: UNMAP supported */
#define SCSI_VPD_B2_PROVISIONING_THIN  0x02 /* byte 6 */

/* Designators of VPD 0x83 (SPC-4 7.8.6). */
#define SCSI_DESIG_CODESET_BINARY 0x1
#define SCSI_DESIG_CODESET_ASCII  0x2
#define SCSI_DESIG_TYPE_T10	  0x1
#define SCSI_DESIG_TYPE_NAA	  0x3

/* READ CAPACITY(16) byte 14 (SBC-3 5.16.2). */
#define SCSI_RC16_LBPME 0x80
#define SCSI_RC16_LBPRZ 0x40

/* MODE SENSE (SPC-4 6.11, 7.5). */
#define SCSI_MODE_PAGE_CACHING 0x08
#define SCSI_MODE_PAGE_CONTROL 0x0A
#define SCSI_MODE_PAGE_ALL     0x3F
#define SCSI_MODE_DBD	       0x08 /* byte 1: no block descriptors */
#define SCSI_MODE_PC_SAVED     0x3  /* byte 2 bits 7-6 */
#define SCSI_MODE_WP	       0x80 /* device-specific parameter: write protected */
#define SCSI_MODE_DPOFUA       0x10 /* device-specific parameter: DPO and FUA supported */
#define SCSI_CACHING_WCE       0x04 /* caching page byte 2 */
#define SCSI_CACHING_PAGE_LEN  0x12
#define SCSI_CONTROL_PAGE_LEN  0x0A

/* UNMAP parameter list (SBC-3 5.28.2). */
#define SCSI_UNMAP_HEADER_LEN	  8
#define SCSI_UNMAP_DESCRIPTOR_LEN 16
