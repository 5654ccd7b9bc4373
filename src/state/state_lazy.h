/*
 * Lazy restore of guest RAM (docs/saved-state.md, "Lazy RAM"): the guest
 * runs before its memory is read. The memfd mapping that backs guest RAM is
 * registered with a userfaultfd in MISSING mode; a fault-handler thread
 * answers every first touch of a page (a vCPU's, KVM's get_user_pages, a
 * VSP reading a ring, a read(2) into a buffer) with UFFDIO_COPY from the
 * file's page, or UFFDIO_ZEROPAGE for a page the file does not hold; a
 * prefetch thread copies the rest in file order and unregisters the range
 * when it is done, after which RAM is an ordinary memfd again.
 *
 * The userfaultfd must be made before the worker drops its privileges:
 * vm.unprivileged_userfaultfd is 0 on these hosts and UFFD_USER_MODE_ONLY
 * would refuse KVM's kernel-mode faults (KVM_RUN fails with EFAULT,
 * research/STATE-AND-MIGRATION.md 1.8). Library code: nothing here prints.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

struct state_reader;
struct state_lazy;

/*
 * A userfaultfd of this process for a lazy restore (O_CLOEXEC), its API
 * handshake done and MISSING faults on shmem supported: the userfaultfd(2)
 * call (root, or CAP_SYS_PTRACE), else /dev/userfaultfd's USERFAULTFD_IOC_NEW.
 * -errno with errbuf saying why not (the caller then reads RAM at once).
 */
int state_lazy_open_uffd(int *ret_fd, char *errbuf, size_t errlen) must_check;

/* Called once on the handler or prefetch thread when a page cannot be read: the VM cannot go on. */
typedef void (*state_lazy_error_fn)(void *opaque, int err, const char *what);

/*
 * Checks the file's RAM index (state_reader_check_ram), registers ram
 * (memory_bytes long, a MAP_SHARED mapping of an empty memfd) with uffd and
 * starts the two threads. Takes uffd (closed by state_lazy_free, also on
 * failure). The reader may be freed afterwards: the extents are copied and
 * its file descriptor is dup'ed.
 */
int state_lazy_start(struct state_reader *r, int uffd, void *ram, uint64_t memory_bytes,
		     state_lazy_error_fn on_error, void *opaque, struct state_lazy **ret,
		     char *errbuf, size_t errlen) must_check;
/*
 * As state_lazy_start with the prefetch held until state_lazy_prefetch: every
 * page comes through a fault meanwhile (the unit test's way to reach that
 * path for certain).
 */
int state_lazy_start_held(struct state_reader *r, int uffd, void *ram, uint64_t memory_bytes,
			  state_lazy_error_fn on_error, void *opaque, struct state_lazy **ret,
			  char *errbuf, size_t errlen) must_check;
void state_lazy_prefetch(struct state_lazy *l);
/*
 * Blocks until every page of the file is in RAM and the range is
 * unregistered (the prefetch is done): before anything that reads the
 * memfd's holes as zero (a save, a migration). 0, or the error that
 * stopped the prefetch.
 */
int state_lazy_wait(struct state_lazy *l) must_check;
/* Stops the threads (the vCPUs must no longer run), unregisters, frees. NULL is a no-op. */
struct state_lazy *state_lazy_free(struct state_lazy *l);

struct state_lazy_stats {
	uint64_t faults;	   /* faults the handler answered */
	uint64_t fault_copies;	   /* of them with pages from the file */
	uint64_t prefetched_pages; /* pages the prefetch copied */
	uint64_t done_ns;	   /* CLOCK_MONOTONIC when the prefetch finished, or 0 */
	uint64_t start_ns;
	int error; /* 0 or the error that stopped it */
};
void state_lazy_get_stats(struct state_lazy *l, struct state_lazy_stats *ret);
