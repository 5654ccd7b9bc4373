/*
 * Lazy RAM restore over userfaultfd (state_lazy.h). Two threads share the
 * uffd: the handler answers faults at once, the prefetch copies every
 * extent of the file in order. Both resolve a page with one UFFDIO_COPY,
 * so a page is written once: whichever comes second gets EEXIST (the page
 * is in; the guest may have written it since) and leaves it alone. The
 * kernel's semantics are Documentation/admin-guide/mm/userfaultfd.rst and
 * fs/userfaultfd.c (userfaultfd_copy: a partial copy returns EAGAIN with
 * the bytes done in .copy, and wakes the faults of those bytes).
 *
 * Pages are read with pread into a buffer of the thread's own, not through
 * a mapping of the file: a file truncated under us is then an EIO, not a
 * SIGBUS in the handler.
 */
#include "state/state_lazy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/clock.h"
#include "state/state.h"

#define PAGE STATE_RAM_PAGE
/* A fault brings this much of its extent with it: a guest touching memory in order faults less. */
#define FAULT_CHUNK    (64u << 10)
#define PREFETCH_CHUNK (1u << 20)
#define FAULT_BATCH    16u

struct state_lazy {
	int uffd, file_fd, stop_fd; /* stop_fd: eventfd that ends the handler */
	uint8_t *ram;
	uint64_t size;
	struct state_ram_extent *extents; /* sorted, checked by state_reader_check_ram */
	size_t nextents;
	bool has_zeropage;
	state_lazy_error_fn on_error;
	void *opaque;
	pthread_t handler, prefetch;
	bool handler_started, prefetch_started;
	atomic_bool stop;	   /* state_lazy_free: the prefetch ends early */
	atomic_bool unregistering; /* the range is (being) unregistered: copies may fail */
	atomic_bool error_reported;
	atomic_uint_fast64_t faults, fault_copies, prefetched_pages, done_ns;
	uint64_t start_ns;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	bool done; /* under lock: the prefetch ended (error says how) */
	bool held; /* under lock: the prefetch waits for state_lazy_prefetch */
	int error;
	uint8_t fault_buf[FAULT_CHUNK];
};

static int fail(char *errbuf, size_t errlen, int r, const char *what)
{
	snprintf(errbuf, errlen, "%s: %s", what, strerror(-r));
	return r;
}

int state_lazy_open_uffd(int *ret_fd, char *errbuf, size_t errlen)
{
	struct uffdio_api api = {.api = UFFD_API};
	int fd, dev, r;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		/* Without CAP_SYS_PTRACE (vm.unprivileged_userfaultfd 0): the device node. */
		dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev < 0)
			return fail(errbuf, errlen, -errno,
				    "userfaultfd(2) and /dev/userfaultfd refused");
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		r = -errno;
		close(dev);
		if (fd < 0)
			return fail(errbuf, errlen, r, "USERFAULTFD_IOC_NEW");
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		r = -errno;
		close(fd);
		return fail(errbuf, errlen, r, "UFFDIO_API");
	}
	if (!(api.features & UFFD_FEATURE_MISSING_SHMEM)) {
		close(fd);
		return fail(errbuf, errlen, -EOPNOTSUPP,
			    "this kernel's userfaultfd does not handle shared memory");
	}
	*ret_fd = fd;
	return 0;
}

static void report(struct state_lazy *l, int err, const char *what)
{
	bool no = false;

	if (l->on_error && atomic_compare_exchange_strong(&l->error_reported, &no, true))
		l->on_error(l->opaque, err, what);
}

/* The extent holding RAM offset off, or the first one after it (nextents if none). */
static size_t extent_at(const struct state_lazy *l, uint64_t off)
{
	size_t lo = 0, hi = l->nextents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct state_ram_extent *e = &l->extents[mid];

		if (off >= e->ram_offset + e->length)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void wake(struct state_lazy *l, uint64_t off)
{
	struct uffdio_range range = {.start = (uintptr_t)(l->ram + off), .len = PAGE};

	(void)ioctl(l->uffd, UFFDIO_WAKE, &range);
}

/*
 * Copies len bytes of src to RAM offset off, page by page where a page is in
 * already (EEXIST: skipped, never overwritten). Returns the pages copied or
 * -errno. wake_existing: a faulting thread waits on the first page.
 */
static int64_t copy_range(struct state_lazy *l, uint64_t off, const uint8_t *src, uint64_t len,
			  bool wake_existing)
{
	int64_t pages = 0;

	while (len) {
		struct uffdio_copy c = {
			.dst = (uintptr_t)(l->ram + off), .src = (uintptr_t)src, .len = len};

		if (ioctl(l->uffd, UFFDIO_COPY, &c) == 0)
			return pages + (int64_t)(len / PAGE);
		if (c.copy > 0) {
			pages += c.copy / PAGE;
			off += (uint64_t)c.copy;
			src += c.copy;
			len -= (uint64_t)c.copy;
		} else if (errno == EEXIST) {
			if (wake_existing)
				wake(l, off);
			off += PAGE;
			src += PAGE;
			len -= PAGE;
		} else if (errno != EAGAIN) {
			return -errno;
		}
	}
	return pages;
}

static int zero_range(struct state_lazy *l, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[PAGE];

	while (len) {
		struct uffdio_zeropage z = {
			.range = {.start = (uintptr_t)(l->ram + off), .len = len}};

		if (!l->has_zeropage) {
			int64_t r = copy_range(l, off, zeros, PAGE, true);

			if (r < 0)
				return (int)r;
			off += PAGE;
			len -= PAGE;
			continue;
		}
		if (ioctl(l->uffd, UFFDIO_ZEROPAGE, &z) == 0)
			return 0;
		if (z.zeropage > 0) {
			off += (uint64_t)z.zeropage;
			len -= (uint64_t)z.zeropage;
		} else if (errno == EEXIST) {
			wake(l, off);
			off += PAGE;
			len -= PAGE;
		} else if (errno != EAGAIN) {
			return -errno;
		}
	}
	return 0;
}

/* Answers one fault at RAM offset off (page aligned). */
static int serve_fault(struct state_lazy *l, uint64_t off)
{
	size_t i = extent_at(l, off);
	const struct state_ram_extent *e = i < l->nextents ? &l->extents[i] : NULL;
	uint64_t len;
	int64_t r;

	atomic_fetch_add(&l->faults, 1);
	if (!e || off < e->ram_offset) {
		/* A page the file does not hold is zero: up to the next extent, at most a chunk. */
		len = MIN((e ? e->ram_offset : l->size) - off, (uint64_t)FAULT_CHUNK);
		return zero_range(l, off, len);
	}
	len = MIN(e->ram_offset + e->length - off, (uint64_t)FAULT_CHUNK);
	r = read_full(l->file_fd, l->fault_buf, len, e->file_offset + (off - e->ram_offset));
	if (r == 0)
		r = copy_range(l, off, l->fault_buf, len, true);
	if (r >= 0)
		atomic_fetch_add(&l->fault_copies, 1);
	return r < 0 ? (int)r : 0;
}

static void *handler_main(void *arg)
{
	struct state_lazy *l = arg;
	struct uffd_msg msgs[FAULT_BATCH];
	struct pollfd pfd[2] = {{.fd = l->uffd, .events = POLLIN},
				{.fd = l->stop_fd, .events = POLLIN}};
	bool failed = false;

	for (;;) {
		ssize_t n;
		size_t i;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		n = read(l->uffd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			report(l, -errno, "reading the userfaultfd");
			break;
		}
		for (i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			uint64_t addr = msgs[i].arg.pagefault.address, off;
			int r;

			if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			off = (addr - (uintptr_t)l->ram) & ~(uint64_t)(PAGE - 1);
			if (addr < (uintptr_t)l->ram || off >= l->size)
				continue;
			/*
			 * After a failure the VM is stopping (on_error): the faults still
			 * coming get zero pages so that every thread waiting in one can
			 * leave; that memory is never saved (state_lazy_wait fails).
			 */
			r = failed ? zero_range(l, off, PAGE) : serve_fault(l, off);
			if (r < 0 && !atomic_load(&l->unregistering) && !failed) {
				failed = true;
				report(l, r, "reading a page of the saved state for a fault");
				(void)zero_range(l, off, PAGE);
			}
		}
	}
	return NULL;
}

static void finish(struct state_lazy *l, int err)
{
	pthread_mutex_lock(&l->lock);
	l->done = true;
	l->error = err;
	pthread_cond_broadcast(&l->done_cond);
	pthread_mutex_unlock(&l->lock);
}

static int unregister(struct state_lazy *l)
{
	struct uffdio_range range = {.start = (uintptr_t)l->ram, .len = l->size};

	atomic_store(&l->unregistering, true);
	/* Wakes every thread still waiting in a fault: it faults again, as on any memfd. */
	return ioctl(l->uffd, UFFDIO_UNREGISTER, &range) < 0 ? -errno : 0;
}

static void *prefetch_main(void *arg)
{
	struct state_lazy *l = arg;
	uint8_t *buf = malloc(PREFETCH_CHUNK);
	uint64_t done = 0;
	size_t i;
	int err = buf ? 0 : -ENOMEM;

	pthread_mutex_lock(&l->lock);
	while (l->held && !atomic_load(&l->stop))
		pthread_cond_wait(&l->done_cond, &l->lock);
	pthread_mutex_unlock(&l->lock);

	for (i = 0; err == 0 && i < l->nextents; i++) {
		const struct state_ram_extent *e = &l->extents[i];

		for (done = 0; err == 0 && done < e->length; done += PREFETCH_CHUNK) {
			uint64_t len = MIN(e->length - done, (uint64_t)PREFETCH_CHUNK);
			int64_t pages;

			if (atomic_load(&l->stop)) {
				err = -ECANCELED;
				break;
			}
			err = read_full(l->file_fd, buf, len, e->file_offset + done);
			if (err < 0)
				break;
			pages = copy_range(l, e->ram_offset + done, buf, len, false);
			if (pages < 0)
				err = (int)pages;
			else
				atomic_fetch_add(&l->prefetched_pages, (uint64_t)pages);
		}
	}
	free(buf);
	if (err == 0)
		err = unregister(l);
	if (err == 0)
		atomic_store(&l->done_ns, time_monotonic_ns());
	else if (err != -ECANCELED)
		report(l, err, "prefetching guest RAM from the saved state");
	finish(l, err);
	if (err == 0) {
		uint64_t one = 1;

		/* Nothing is registered any more: the handler may end. */
		if (write(l->stop_fd, &one, sizeof(one)) < 0)
			report(l, -errno, "ending the fault handler");
	}
	return NULL;
}

static int start(struct state_reader *r, int uffd, void *ram, uint64_t memory_bytes,
		 state_lazy_error_fn on_error, void *opaque, bool held, struct state_lazy **ret,
		 char *errbuf, size_t errlen)
{
	struct uffdio_register reg = {.range = {.start = (uintptr_t)ram, .len = memory_bytes},
				      .mode = UFFDIO_REGISTER_MODE_MISSING};
	const struct state_ram_extent *e;
	struct state_lazy *l;
	int err;

	err = state_reader_check_ram(r, NULL, errbuf, errlen);
	if (err < 0) {
		close(uffd);
		return err;
	}
	e = state_reader_ram_extents(r, &(size_t){0});
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(uffd);
		return -ENOMEM;
	}
	l->uffd = uffd;
	l->file_fd = l->stop_fd = -1;
	l->ram = ram;
	l->size = memory_bytes;
	l->on_error = on_error;
	l->opaque = opaque;
	l->start_ns = time_monotonic_ns();
	l->held = held;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->done_cond, NULL);
	(void)state_reader_ram_extents(r, &l->nextents);
	l->extents = malloc((l->nextents ? l->nextents : 1) * sizeof(*l->extents));
	if (!l->extents) {
		err = -ENOMEM;
		goto fail;
	}
	memcpy(l->extents, e, l->nextents * sizeof(*e));
	l->file_fd = fcntl(state_reader_fd(r), F_DUPFD_CLOEXEC, 0);
	l->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (l->file_fd < 0 || l->stop_fd < 0) {
		err = fail(errbuf, errlen, -errno, "lazy restore: descriptors");
		goto fail;
	}
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		err = fail(errbuf, errlen, -errno, "lazy restore: UFFDIO_REGISTER of guest RAM");
		goto fail;
	}
	l->has_zeropage = reg.ioctls & (1ull << _UFFDIO_ZEROPAGE);
	err = -pthread_create(&l->handler, NULL, handler_main, l);
	if (err == 0) {
		l->handler_started = true;
		err = -pthread_create(&l->prefetch, NULL, prefetch_main, l);
		l->prefetch_started = err == 0;
	}
	if (err < 0) {
		fail(errbuf, errlen, err, "lazy restore: threads");
		goto fail;
	}
	*ret = l;
	return 0;
fail:
	state_lazy_free(l);
	return err;
}

int state_lazy_start(struct state_reader *r, int uffd, void *ram, uint64_t memory_bytes,
		     state_lazy_error_fn on_error, void *opaque, struct state_lazy **ret,
		     char *errbuf, size_t errlen)
{
	return start(r, uffd, ram, memory_bytes, on_error, opaque, false, ret, errbuf, errlen);
}

int state_lazy_start_held(struct state_reader *r, int uffd, void *ram, uint64_t memory_bytes,
			  state_lazy_error_fn on_error, void *opaque, struct state_lazy **ret,
			  char *errbuf, size_t errlen)
{
	return start(r, uffd, ram, memory_bytes, on_error, opaque, true, ret, errbuf, errlen);
}

void state_lazy_prefetch(struct state_lazy *l)
{
	pthread_mutex_lock(&l->lock);
	l->held = false;
	pthread_cond_broadcast(&l->done_cond);
	pthread_mutex_unlock(&l->lock);
}

int state_lazy_wait(struct state_lazy *l)
{
	int err;

	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	while (!l->done)
		pthread_cond_wait(&l->done_cond, &l->lock);
	err = l->error;
	pthread_mutex_unlock(&l->lock);
	return err;
}

struct state_lazy *state_lazy_free(struct state_lazy *l)
{
	uint64_t one = 1;

	if (!l)
		return NULL;
	atomic_store(&l->stop, true);
	state_lazy_prefetch(l); /* a held prefetch sees stop and ends */
	if (l->prefetch_started)
		pthread_join(l->prefetch, NULL);
	/* A prefetch stopped early left the range registered: nothing may wait in a fault. */
	(void)unregister(l);
	if (l->handler_started) {
		if (write(l->stop_fd, &one, sizeof(one)) < 0) {
			/* an eventfd write fails only on overflow: the handler is told already */
		}
		pthread_join(l->handler, NULL);
	}
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	if (l->file_fd >= 0)
		close(l->file_fd);
	close(l->uffd);
	free(l->extents);
	pthread_cond_destroy(&l->done_cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return NULL;
}

void state_lazy_get_stats(struct state_lazy *l, struct state_lazy_stats *ret)
{
	*ret = (struct state_lazy_stats){
		.faults = atomic_load(&l->faults),
		.fault_copies = atomic_load(&l->fault_copies),
		.prefetched_pages = atomic_load(&l->prefetched_pages),
		.done_ns = atomic_load(&l->done_ns),
		.start_ns = l->start_ns,
	};
	pthread_mutex_lock(&l->lock);
	ret->error = l->error;
	pthread_mutex_unlock(&l->lock);
}
