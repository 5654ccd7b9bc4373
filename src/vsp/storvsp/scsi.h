/*
 * The SCSI command model of one logical unit (a virtual disk), independent
 * of VMBus: it decodes a CDB, answers the commands it can answer from its
 * own state (INQUIRY, READ CAPACITY, MODE SENSE, REPORT LUNS, ...) into
 * the caller's data buffer, and turns the others into disk operations
 * (READ/WRITE/SYNCHRONIZE CACHE/UNMAP) that the caller runs, synchronously
 * (scsi_lun_execute_sync, for tests and fuzzing) or on a disk queue
 * (storvsp), then reports back with scsi_cmd_finish. Every answer ends as
 * a SAM status and, for CHECK CONDITION, fixed-format sense data.
 *
 * Wire values: hvdef/scsi_proto.h. Thread safety: scsi_lun_execute and
 * scsi_cmd_finish may run concurrently for different commands (the
 * counters are atomic; nothing else changes after scsi_lun_new).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"
#include "disk/disk.h"
#include "hvdef/scsi_proto.h"

struct scsi_lun;

/* Most disk operations one command becomes (UNMAP: one per block descriptor). */
#define SCSI_MAX_DISK_OPS 32
/* Largest READ/WRITE transfer advertised in VPD 0xB0 and accepted: 1 MiB. */
#define SCSI_MAX_TRANSFER_BYTES (1u << 20)

struct scsi_disk_op {
	enum disk_op op;
	uint64_t offset; /* bytes */
	uint64_t len;	 /* bytes; READ/WRITE: the first len bytes of the command's buffer */
};

/* One command: the caller fills the inputs, scsi_lun_execute the rest. */
struct scsi_cmd {
	/* In. */
	uint8_t cdb[16];
	unsigned cdb_len;
	const struct iovec *iov; /* the data buffer, host addresses */
	unsigned iovcnt;
	size_t buf_len; /* sum of iov lengths */
	bool data_out;	/* the buffer goes to the device (a write) */
	/* Out. */
	uint8_t status; /* SAM status */
	uint8_t sense[SCSI_SENSE_FIXED_LEN];
	unsigned sense_len;
	size_t transferred; /* bytes of the buffer the command used */
	bool overrun;	    /* the answer did not fit in the buffer (truncated) */
	/* Disk work (SCSI_CMD_DISK_IO): nops operations, run in parallel; then a flush if set. */
	unsigned nops;
	struct scsi_disk_op ops[SCSI_MAX_DISK_OPS];
	bool flush_after; /* FUA: a DISK_OP_FLUSH once every op completed */
	bool is_write;	  /* for the counters and the sense of a failure */
};

enum scsi_cmd_result {
	SCSI_CMD_DONE,	  /* status, sense and transferred are final */
	SCSI_CMD_DISK_IO, /* run ops (then the flush), then scsi_cmd_finish */
};

struct scsi_lun_stats {
	uint64_t commands;
	uint64_t reads, writes, flushes, unmaps;
	uint64_t bytes_read, bytes_written;
	uint64_t errors_illegal_request; /* bad opcodes, fields, LBAs, lengths */
	uint64_t errors_write_protect;	 /* writes to a read-only disk */
	uint64_t errors_io;		 /* the back end failed */
};

/* d stays the caller's. read_only forces write protection even on a writable disk. */
int scsi_lun_new(struct disk *d, bool read_only, struct scsi_lun **ret) must_check;
struct scsi_lun *scsi_lun_free(struct scsi_lun *l);
struct disk *scsi_lun_disk(const struct scsi_lun *l);
bool scsi_lun_read_only(const struct scsi_lun *l);

/*
 * Decodes and runs cmd. luns/nluns: the LUNs present on this target, for
 * REPORT LUNS. Never fails: a bad command gets CHECK CONDITION.
 */
enum scsi_cmd_result scsi_lun_execute(struct scsi_lun *l, struct scsi_cmd *cmd,
				      const uint16_t *luns, unsigned nluns);
/* After SCSI_CMD_DISK_IO: result 0 or the first -errno of the disk operations. */
void scsi_cmd_finish(struct scsi_lun *l, struct scsi_cmd *cmd, int result);
/* Executes cmd and its disk work with the synchronous disk calls. */
void scsi_lun_execute_sync(struct scsi_lun *l, struct scsi_cmd *cmd, const uint16_t *luns,
			   unsigned nluns);

/* The answers for a LUN with no disk: INQUIRY says "no logical unit", REPORT LUNS lists luns. */
void scsi_absent_execute(struct scsi_cmd *cmd, const uint16_t *luns, unsigned nluns);

/* Fixed-format sense: key, asc << 8 | ascq. Sets status CHECK CONDITION. */
void scsi_cmd_set_sense(struct scsi_cmd *cmd, uint8_t key, uint16_t asc);

void scsi_lun_get_stats(struct scsi_lun *l, struct scsi_lun_stats *stats);
