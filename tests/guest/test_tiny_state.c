/*
 * Saved state with a tiny guest (tests/guest/tiny/counter.S): a partition
 * is paused while its vCPU is inside a device read, saved, freed; a new
 * partition restores the file and the guest goes on counting: every number
 * logged once, none lost, the device read neither replayed nor lost; the
 * same with a second vCPU that never started. A file for a VM of another
 * memory size or vCPU count is refused. Needs /dev/kvm.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/clock.h"
#include "state/state.h"
#include "tiny/tiny.h"
#include "tiny_guest.h"
#include "vid/partition.h"

#define RUN_TIMEOUT_MS 120000
#define PAUSE_AT       150 /* the device read during which the partition is paused */

static const char *bin_dir;
static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES] = {0x7};

/* The guest's device and log; it outlives the first partition, as a restored device would. */
struct harness {
	struct partition *p;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t seq; /* the last number read */
	uint32_t log[TINY_STATE_COUNT + 8];
	unsigned nlog;
	int exit_status;
	bool at_pause; /* the read of PAUSE_AT is under way */
	bool pause_once;
};

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
	struct harness *h = opaque;
	uint32_t v;

	if (offset != TINY_PORT_SEQ - TINY_PORT_LOG)
		return 0;
	pthread_mutex_lock(&h->lock);
	v = ++h->seq;
	if (v == PAUSE_AT && h->pause_once) {
		h->pause_once = false;
		h->at_pause = true;
		pthread_cond_broadcast(&h->cond);
		/* Hold this exit until the pause is requested: the vCPU then holds with the IN
		 * unfinished, the case the pause must complete before saving. */
		while (!partition_is_paused(h->p)) {
			pthread_mutex_unlock(&h->lock);
			usleep(1000);
			pthread_mutex_lock(&h->lock);
		}
	}
	pthread_mutex_unlock(&h->lock);
	return v;
}

static void port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct harness *h = opaque;

	pthread_mutex_lock(&h->lock);
	if (offset + TINY_PORT_LOG == TINY_PORT_LOG && h->nlog < ARRAY_SIZE(h->log))
		h->log[h->nlog++] = (uint32_t)value;
	if (offset + TINY_PORT_LOG == TINY_PORT_EXIT) {
		h->exit_status = (int)value;
		partition_request_stop(h->p, PARTITION_STOP_POWER_OFF);
	}
	pthread_mutex_unlock(&h->lock);
}

static const struct io_ops port_ops = {.read = port_read, .write = port_write};

static struct partition *counter_partition(struct harness *h, uint64_t memory_bytes, unsigned vcpus)
{
	struct partition_config cfg = {.memory_bytes = memory_bytes, .vcpus = vcpus};
	struct partition *p = tiny_guest_partition_config(bin_dir, "counter", &cfg);

	assert_int_equal(
		io_bus_register(partition_pio_bus(p), TINY_PORT_LOG, 16, &port_ops, h, "counter"),
		0);
	return p;
}

static void wait_for_pause_point(struct harness *h)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += RUN_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&h->lock);
	while (!h->at_pause)
		if (pthread_cond_timedwait(&h->cond, &h->lock, &deadline) == ETIMEDOUT)
			break;
	if (!h->at_pause)
		fail_msg("the guest never read %u (it logged %u numbers)", PAUSE_AT, h->nlog);
	pthread_mutex_unlock(&h->lock);
}

/* Runs the guest to the pause point, saves it into a memory file; returns the file. */
static int run_and_save(struct harness *h, unsigned vcpus)
{
	struct state_writer *w;
	char err[256] = "";
	uint64_t t0;
	int fd = memfd_create("tiny-state", MFD_CLOEXEC);

	assert_true(fd >= 0);
	h->pause_once = true;
	h->exit_status = -1;
	h->p = counter_partition(h, 32 * MiB, vcpus);
	assert_int_equal(partition_start(h->p), 0);
	wait_for_pause_point(h);
	assert_int_equal(partition_pause(h->p), 0);
	t0 = time_monotonic_ns();
	assert_int_equal(state_writer_new(fd, digest, 32 * MiB, &w), 0);
	if (partition_save_state(h->p, w, err, sizeof(err)) < 0)
		fail_msg("save: %s", err);
	assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	pthread_mutex_lock(&h->lock);
	print_message("# saved after %u numbers logged, device at %u: %lld bytes for 32 MiB of "
		      "RAM in %.2f ms\n",
		      h->nlog, h->seq, (long long)lseek(fd, 0, SEEK_END),
		      (double)(time_monotonic_ns() - t0) / 1e6);
	assert_int_equal(h->nlog, PAUSE_AT - 1);
	assert_int_equal(h->exit_status, -1);
	pthread_mutex_unlock(&h->lock);
	h->p = partition_free(h->p);
	return fd;
}

/* Saves with vcpus vCPUs (the APs never started: they stay so), restores, runs to the end. */
static void counter_continues(unsigned vcpus)
{
	struct harness h = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct state_reader *r;
	enum partition_stop_reason why;
	char err[256] = "";
	unsigned i;
	int fd = run_and_save(&h, vcpus);
	struct partition *p = counter_partition(&h, 32 * MiB, vcpus);

	assert_int_equal(state_reader_new(fd, &r, err, sizeof(err)), 0);
	assert_int_equal(state_reader_match(r, digest, 32 * MiB, err, sizeof(err)), 0);
	if (partition_load_state(p, r, err, sizeof(err)) < 0)
		fail_msg("restore: %s", err);
	state_reader_free(r);
	pthread_mutex_lock(&h.lock);
	h.p = p;
	pthread_mutex_unlock(&h.lock);
	if (partition_start(p) < 0)
		fail_msg("start of the restored partition: %s", partition_stop_detail(p));
	why = partition_wait_timeout(p, RUN_TIMEOUT_MS);
	pthread_mutex_lock(&h.lock);
	if (why != PARTITION_STOP_POWER_OFF || h.exit_status != 0)
		fail_msg("restored guest: stop %s, status %d, %u numbers logged, last %u; %s",
			 partition_stop_reason_name(why), h.exit_status, h.nlog,
			 h.nlog ? h.log[h.nlog - 1] : 0, partition_stop_detail(p));
	assert_int_equal(h.nlog, TINY_STATE_COUNT);
	for (i = 0; i < h.nlog; i++)
		if (h.log[i] != i + 1)
			fail_msg("log entry %u is %u", i, h.log[i]);
	pthread_mutex_unlock(&h.lock);
	partition_free(p);
	close(fd);
}

static void test_counter_continues_after_restore(void **state)
{
	counter_continues(1);
}

static void test_two_vcpus_continue_after_restore(void **state)
{
	counter_continues(2);
}

static void test_other_memory_size_or_vcpus_refused(void **state)
{
	struct harness h = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct state_reader *r;
	char err[256] = "";
	int fd = run_and_save(&h, 2);
	struct partition *p = counter_partition(&h, 64 * MiB, 2);
	struct partition *one = counter_partition(&h, 32 * MiB, 1);

	assert_int_equal(state_reader_new(fd, &r, err, sizeof(err)), 0);
	assert_int_equal(partition_load_state(p, r, err, sizeof(err)), -ESTALE);
	if (!strstr(err, "memory"))
		fail_msg("error '%s' does not name the memory size", err);
	assert_int_equal(partition_load_state(one, r, err, sizeof(err)), -ESTALE);
	if (!strstr(err, "vCPUs"))
		fail_msg("error '%s' does not name the vCPU count", err);
	state_reader_free(r);
	partition_free(one);
	partition_free(p);
	close(fd);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_continues_after_restore),
		cmocka_unit_test(test_two_vcpus_continue_after_restore),
		cmocka_unit_test(test_other_memory_size_or_vcpus_refused),
	};

	return tiny_guest_run_tests(argc, argv, "tiny-state", tests, ARRAY_SIZE(tests), &bin_dir);
}
