/*
 * kill -9 of a worker during heavy writes, then a restart: a child process
 * runs what a worker runs for storage (the VMBus server, storvsp, the VHDX
 * back end with its io_uring queue) with the guest-side storvsc client
 * (tests/lib/storvsc_client.c) writing through it at queue depth 16,
 * SYNCHRONIZE CACHE after each batch; after each flush completes, the child
 * reports how many slots it has written. The parent kills it at a random
 * moment, then opens the image as a restarted worker would (the log is
 * replayed), checks that every slot reported flushed reads back intact, and
 * that `qemu-img check` (another implementation) finds the image sound.
 * The child never exits on its own (done writing, it waits for the kill), so
 * any death but SIGKILL, or an exit status, is a failure of the stack.
 * Suite 'disk' (needs qemu-img).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/log.h"
#include "disk/disk.h"
#include "disk/vhdx.h"
#include "storvsc_client.h"
#include "vsp/storvsp/storvsp.h"

#define SLOT	  (64u << 10)
#define SLOTS	  2048u
#define DEPTH	  16u
#define DISK_SIZE ((uint64_t)SLOT * SLOTS * 2) /* one slot in two is used: blocks half full */
#define ROUNDS	  8

static uint64_t slot_offset(unsigned i)
{
	return (uint64_t)((i * 1237u) % (SLOTS * 2)) * SLOT;
}

static void fill(uint8_t *buf, unsigned slot)
{
	uint64_t *p = (uint64_t *)buf;

	for (size_t k = 0; k < SLOT / 8; k++)
		p[k] = (slot_offset(slot) + k * 8) * UINT64_C(0x9E3779B97F4A7C15) ^ (slot + 1);
}

static void quiet(void *opaque, enum log_level level, const char *msg)
{
}

/* The child: a worker's storage stack and a guest writing through it. Never returns. */
static void writer(const char *path, int out)
{
	struct vmbus_client_config vcfg = {.vcpus = 1, .ram_size = 64 << 20};
	struct storvsp_config scfg = {.controller = 0, .vcpus = 1};
	struct storvsc_client_config ccfg = {0};
	struct vmbus_msg_offer_channel offers[4];
	struct storvsc_completion done[DEPTH];
	struct vmbus_client *vc;
	struct storvsc_client *sc;
	struct storvsc_channel *ch;
	struct storvsp *sp;
	struct disk *d;
	uint64_t buf[DEPTH];
	struct guid want;
	int n, i;

	log_set_sink(quiet, NULL);
	if (disk_open(path, 0, &d, NULL, 0) < 0 || vmbus_client_new(&vcfg, &vc) < 0)
		_exit(10);
	scfg.server = vmbus_client_server(vc);
	scfg.mem = vmbus_client_memory(vc);
	if (storvsp_new(&scfg, &sp) < 0 || storvsp_add_disk(sp, 0, d, false) < 0)
		_exit(11);
	if (guid_parse(STORVSP_SCSI_CLASS_GUID, &want) < 0 ||
	    vmbus_client_connect(vc, VMBUS_VERSION_WIN10_V5_2) != 1)
		_exit(12);
	n = vmbus_client_request_offers(vc, offers, 4);
	for (i = 0; i < n && !guid_equal(&offers[i].offer.if_type, &want); i++)
		;
	if (i == n || storvsc_client_open(vc, &offers[i], &ccfg, &sc) < 0)
		_exit(13);
	ch = storvsc_client_channel(sc, 0);
	for (unsigned k = 0; k < DEPTH; k++)
		buf[k] = vmbus_client_alloc(vc, SLOT / 4096);
	for (unsigned first = 0; first < SLOTS; first += DEPTH) {
		struct storvsc_request sync = {.cdb = {0x35}, .cdb_len = 10, .tag = 1000};
		struct storvsc_completion sc_done;
		unsigned inflight = 0;

		for (unsigned k = 0; k < DEPTH; k++) {
			uint8_t data[SLOT];

			fill(data, first + k);
			if (guest_memory_write(vmbus_client_memory(vc), buf[k], data, SLOT) < 0 ||
			    storvsc_channel_submit_write(ch, 0, slot_offset(first + k) / 512,
							 SLOT / 512, buf[k], k, false) < 0)
				_exit(14);
			inflight++;
		}
		while (inflight) {
			n = storvsc_channel_poll(ch, done, DEPTH, 10000);
			if (n <= 0)
				_exit(15);
			for (i = 0; i < n; i++)
				if (done[i].srb_status != 1 || done[i].scsi_status)
					_exit(16);
			inflight -= (unsigned)n;
		}
		/* Every write of the batch completed: SYNCHRONIZE CACHE makes them durable. */
		if (storvsc_channel_scsi(ch, &sync, &sc_done, 10000) < 0 || sc_done.srb_status != 1)
			_exit(17);
		unsigned flushed = first + DEPTH;
		if (write(out, &flushed, sizeof(flushed)) != sizeof(flushed))
			_exit(18);
	}
	/* Done before the kill (a fast host): wait for it, so every round dies the same way. */
	for (;;)
		pause();
}

static int qemu_img_check(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", path);
	return system(cmd);
}

static void test_kill_during_writes(void **state)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct vhdx_create_params p = {.size = DISK_SIZE, .block_size = 1 << 20};
	uint8_t *want = malloc(SLOT), *got = malloc(SLOT);
	unsigned total = 0;
	char path[256], err[256];

	snprintf(path, sizeof(path), "%s/parvis-storvsp-crash-%d.vhdx", dir, (int)getpid());
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int round = 0; round < ROUNDS; round++) {
		unsigned flushed = 0, n;
		struct disk *d;
		int fds[2];

		unlink(path);
		assert_int_equal(vhdx_create(path, &p, err, sizeof(err)), 0);
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		if (pid == 0) {
			close(fds[0]);
			writer(path, fds[1]);
		}
		close(fds[1]);
		long ms = 100 + rand() % 1400;
		struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		/* Our SIGKILL, nothing else: an exit status or a crash (SIGSEGV, ASan) fails. */
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("round %d: the writer %s %d, not by SIGKILL", round,
				 WIFSIGNALED(status) ? "died of signal" : "exited with status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		while (read(fds[0], &n, sizeof(n)) == sizeof(n))
			flushed = n;
		close(fds[0]);
		total += flushed;
		/* The restart: the image opens read-write (the log, if any, is replayed). */
		assert_int_equal(disk_open(path, 0, &d, err, sizeof(err)), 0);
		for (unsigned i = 0; i < flushed; i++) {
			fill(want, i);
			assert_int_equal(disk_read(d, slot_offset(i), got, SLOT), 0);
			if (memcmp(want, got, SLOT))
				fail_msg("round %d: slot %u of %u flushed slots lost", round, i,
					 flushed);
		}
		disk_close(d);
		assert_int_equal(qemu_img_check(path), 0);
	}
	print_message("# %u flushed slots verified after %d kills\n", total, ROUNDS);
	/* Slots verified, or the test checked only that an image opens. */
	assert_true(total > 0);
	unlink(path);
	free(want);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill_during_writes)};

	if (system("qemu-img --version >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP qemu-img is not installed\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
