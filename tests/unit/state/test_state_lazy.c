/*
 * Unit tests of the lazy RAM restore (src/state/state_lazy.c) over a real
 * userfaultfd on a memfd, without KVM: every page a thread touches comes
 * from the file (or is zero) before the prefetch runs; a kernel-mode fault
 * (read(2) into a missing page, as KVM's get_user_pages and a VSP's I/O
 * are) is served too; a page written before the prefetch reaches it is not
 * overwritten; a file that fails under the restore is reported, and every
 * fault still returns. Skipped where this process cannot make a
 * userfaultfd that serves kernel faults (not root, no /dev/userfaultfd).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "state/state.h"
#include "state/state_lazy.h"

#define RAM_BYTES (8 * MiB)
#define PAGE	  4096u

static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES] = {7};

struct ram {
	int fd;
	uint8_t *base;
};

static struct ram ram_new(void)
{
	struct ram m;

	m.fd = memfd_create("test-ram", MFD_CLOEXEC);
	assert_true(m.fd >= 0);
	assert_int_equal(ftruncate(m.fd, RAM_BYTES), 0);
	m.base = mmap(NULL, RAM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
	assert_true(m.base != MAP_FAILED);
	return m;
}

static void ram_free(struct ram *m)
{
	munmap(m->base, RAM_BYTES);
	close(m->fd);
}

/*
 * RAM with a 3 MiB run of patterned pages (more than one prefetch chunk and
 * many fault chunks), single pages here and there, and zeros between.
 */
static int make_file(struct ram *src)
{
	struct state_writer *w;
	int fd = memfd_create("test-state", MFD_CLOEXEC);
	uint64_t i;

	assert_true(fd >= 0);
	for (i = 1 * MiB; i < 4 * MiB; i += 8)
		*(uint64_t *)(src->base + i) = i * 0x9e3779b97f4a7c15ull;
	for (i = 5 * MiB; i < RAM_BYTES; i += 37 * PAGE)
		memset(src->base + i, (int)(i >> 12) | 1, PAGE);
	assert_int_equal(state_writer_new(fd, digest, RAM_BYTES, &w), 0);
	assert_int_equal(state_writer_ram(w, src->base, src->fd), 0);
	assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	return fd;
}

/* Written on the handler thread, read here after the fault: atomics, not plain ints. */
struct errors {
	atomic_int calls, err;
};

static void on_error(void *opaque, int err, const char *what)
{
	struct errors *e = opaque;

	atomic_store(&e->err, err);
	atomic_fetch_add(&e->calls, 1);
}

struct fixture {
	struct ram src, dst;
	int file;
	struct state_reader *r;
	struct state_lazy *l;
	struct errors errors;
};

/* NULL (the test is skipped) where no userfaultfd for kernel faults can be made. */
static struct fixture *start(bool held)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";
	int uffd;

	assert_non_null(f);
	if (state_lazy_open_uffd(&uffd, err, sizeof(err)) < 0) {
		print_message("no userfaultfd here: %s\n", err);
		free(f);
		return NULL;
	}
	f->src = ram_new();
	f->dst = ram_new();
	f->file = make_file(&f->src);
	assert_int_equal(state_reader_new(f->file, &f->r, err, sizeof(err)), 0);
	assert_int_equal((held ? state_lazy_start_held
			       : state_lazy_start)(f->r, uffd, f->dst.base, RAM_BYTES, on_error,
						   &f->errors, &f->l, err, sizeof(err)),
			 0);
	/* The reader may go: the loader keeps its own descriptor and extents. */
	f->r = state_reader_free(f->r);
	return f;
}

static void finish(struct fixture *f)
{
	state_lazy_free(f->l);
	close(f->file);
	ram_free(&f->src);
	ram_free(&f->dst);
	free(f);
}

static void test_faults_alone(void **state)
{
	struct fixture *f = start(true);
	struct state_lazy_stats st;

	if (!f)
		skip();
	/* Every page comes through a fault: the prefetch is held. */
	assert_memory_equal(f->dst.base, f->src.base, RAM_BYTES);
	state_lazy_get_stats(f->l, &st);
	assert_true(st.faults > 0);
	assert_true(st.fault_copies > 0);
	assert_int_equal(st.prefetched_pages, 0);
	assert_int_equal(st.done_ns, 0);
	/* Nothing is left for the prefetch: every page it tries is in (EEXIST). */
	state_lazy_prefetch(f->l);
	assert_int_equal(state_lazy_wait(f->l), 0);
	state_lazy_get_stats(f->l, &st);
	assert_int_equal(st.prefetched_pages, 0);
	assert_true(st.done_ns >= st.start_ns);
	assert_int_equal(f->errors.calls, 0);
	finish(f);
}

static void test_kernel_fault_and_prefetch(void **state)
{
	struct fixture *f = start(true);
	struct state_lazy_stats st;
	uint8_t *pipe_page;
	int p[2];

	if (!f)
		skip();
	/* A write before the prefetch: the prefetch must not put the file's page back. */
	f->dst.base[2 * MiB + 5] = 0xab;
	f->src.base[2 * MiB + 5] = 0xab;
	/* A kernel-mode fault: read(2) copying into a page that is not there yet. */
	pipe_page = f->dst.base + 3 * MiB + 8 * PAGE;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "kernel", 6), 6);
	assert_int_equal(read(p[0], pipe_page + 100, 6), 6);
	memcpy(f->src.base + 3 * MiB + 8 * PAGE + 100, "kernel", 6);
	close(p[0]);
	close(p[1]);
	state_lazy_prefetch(f->l);
	assert_int_equal(state_lazy_wait(f->l), 0);
	state_lazy_get_stats(f->l, &st);
	assert_true(st.prefetched_pages > 0);
	assert_true(st.faults >= 2);
	/* Unregistered now: the zero pages come as on any memfd. */
	assert_memory_equal(f->dst.base, f->src.base, RAM_BYTES);
	assert_int_equal(f->errors.calls, 0);
	finish(f);
}

static void test_prefetch_runs_at_once(void **state)
{
	struct fixture *f = start(false);

	if (!f)
		skip();
	assert_int_equal(state_lazy_wait(f->l), 0);
	assert_memory_equal(f->dst.base, f->src.base, RAM_BYTES);
	finish(f);
}

static void test_freed_while_held(void **state)
{
	struct fixture *f = start(true);

	if (!f)
		skip();
	f->dst.base[1 * MiB] ^= 1; /* one fault served, then freed with the prefetch never run */
	finish(f);
}

static void test_file_fails_under_it(void **state)
{
	struct fixture *f = start(true);
	volatile uint8_t v;

	if (!f)
		skip();
	/* The file loses its pages: the fault is reported, still answered (zero), never hangs. */
	assert_int_equal(ftruncate(f->file, 64 * 1024), 0);
	v = f->dst.base[1 * MiB + 3 * PAGE];
	(void)v;
	assert_int_equal(atomic_load(&f->errors.calls), 1);
	assert_int_equal(atomic_load(&f->errors.err), -EIO);
	state_lazy_prefetch(f->l);
	assert_int_equal(state_lazy_wait(f->l), -EIO);
	assert_int_equal(f->errors.calls, 1); /* once */
	finish(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_faults_alone),
		cmocka_unit_test(test_kernel_fault_and_prefetch),
		cmocka_unit_test(test_prefetch_runs_at_once),
		cmocka_unit_test(test_freed_while_held),
		cmocka_unit_test(test_file_fails_under_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
