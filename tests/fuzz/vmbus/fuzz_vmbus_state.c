/*
 * Fuzz target: vmbus_server_load (src/vmbus/vmbus_state.c) and the VSPs'
 * loads it calls (the integration services, storvsp) on a "vmbus"
 * section whose bytes the fuzzer controls. Each input is wrapped in a
 * state file (the file format itself is fuzz_state_file's) and loaded
 * into a new server with the channels a worker creates (heartbeat,
 * shutdown, timesync, KVP, one SCSI controller on 4 VPs, one network
 * adapter on a datagram socket pair standing in for its TAP, the video,
 * keyboard and mouse), over one guest
 * memory: a refusal must be clean, an accepted state must run (its loops
 * start) and be freed without a leak. Seeds: ../corpus/vmbus_state, by
 * make_vmbus_state_corpus.py.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "state/state.h"
#include "vmbus/vmbus.h"
#include "vsp/ic/heartbeat.h"
#include "vsp/ic/kvp.h"
#include "vsp/ic/shutdown.h"
#include "vsp/ic/timesync.h"
#include "vsp/input/synthhid.h"
#include "vsp/input/synthkbd.h"
#include "vsp/netvsp/netvsp.h"
#include "vsp/storvsp/storvsp.h"
#include "vsp/synthvid/synthvid.h"

#define RAM   (16u << 20)
#define VCPUS 4u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fake_post(void *opaque, unsigned vp, unsigned sint, uint32_t type, const void *payload,
		     size_t len)
{
	return 0;
}

static int fake_signal(void *opaque, unsigned vp, unsigned sint, unsigned flag)
{
	return 0;
}

static const struct vmbus_synic_ops fake_synic = {.post_message = fake_post,
						  .signal_event = fake_signal};

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

static struct guest_memory *memory(void)
{
	static struct guest_memory *mem;

	if (!mem && guest_memory_new(RAM, &mem) < 0)
		__builtin_trap();
	return mem;
}

/* The video's VRAM, made once (the device would map its own each time). */
static void *vram(void)
{
	static void *v;

	if (!v) {
		v = mmap(NULL, SYNTHVID_DEFAULT_VRAM, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (v == MAP_FAILED)
			__builtin_trap();
	}
	return v;
}

/* The section as a state file in a memfd. */
static int state_file(const uint8_t *data, size_t size)
{
	static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
	struct state_writer *w;
	int fd = memfd_create("fuzz-vmbus-state", MFD_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = state_writer_new(fd, digest, RAM, &w);
	if (r == 0)
		r = state_writer_section(w, VMBUS_STATE_SECTION, VMBUS_STATE_VERSION, data, size);
	if (r == 0)
		r = state_writer_finish(w);
	state_writer_free(w);
	if (r < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmbus_server_config cfg = {
		.mem = memory(),
		.vcpus = VCPUS,
		.synic = &fake_synic,
		.manual_dispatch = true,
		.channel_poll_ns = UINT64_MAX,
	};
	struct ic_timesync_config tcfg = {0};
	struct vmbus_server *s;
	struct ic_heartbeat *hb;
	struct ic_shutdown *sd;
	struct ic_timesync *ts;
	struct ic_kvp *kvp;
	struct storvsp *sp;
	struct netvsp *nv;
	struct netvsp_config ncfg = {.mem = memory(), .vcpus = VCPUS, .ntap = 1, .connected = true};
	int pair[2];
	struct synthvid_config vcfg = {
		.vram = vram(), .window_base = 1ull << 30, .window_size = 256ull << 20};
	struct synthvid *sv;
	struct synthkbd *kbd;
	struct synthhid *hid;
	struct storvsp_config scfg = {.mem = memory(), .vcpus = VCPUS};
	struct state_reader *rd;
	char err[256];
	int fd = state_file(data, size);

	log_set_sink(quiet, NULL);
	if (fd < 0)
		return 0;
	if (vmbus_server_new(&cfg, &s) < 0)
		__builtin_trap();
	scfg.server = s;
	ncfg.server = s;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0)
		__builtin_trap();
	ncfg.tap_fds = &pair[0];
	/* In the worker's order (src/vmwp/), so that the relids are a worker's. */
	if (ic_shutdown_new(s, &sd) < 0 || ic_timesync_new(s, &tcfg, &ts) < 0 ||
	    ic_heartbeat_new(s, 0, &hb) < 0 || ic_kvp_new(s, 0, &kvp) < 0 ||
	    storvsp_new(&scfg, &sp) < 0 || netvsp_new(&ncfg, &nv) < 0 ||
	    synthvid_new(s, &vcfg, &sv) < 0 || synthkbd_new(s, &kbd) < 0 ||
	    synthhid_new(s, &hid) < 0)
		__builtin_trap();
	if (state_reader_new(fd, &rd, err, sizeof(err)) < 0)
		__builtin_trap();
	err[0] = 0;
	if (vmbus_server_load(s, rd, err, sizeof(err)) == 0) {
		vmbus_server_dispatch(s); /* the queued messages it restored */
		snprintf(err, sizeof(err), "loaded");
	} else if (!err[0]) {
		__builtin_trap(); /* a refusal says why */
	}
	/* For checking a seed corpus by hand. */
	if (getenv("VMBUS_STATE_FUZZ_VERBOSE"))
		fprintf(stderr, "%s\n", err);
	state_reader_free(rd);
	close(fd);
	synthhid_free(hid);
	synthkbd_free(kbd);
	synthvid_free(sv);
	netvsp_free(nv);
	close(pair[1]);
	storvsp_free(sp);
	ic_kvp_free(kvp);
	ic_heartbeat_free(hb);
	ic_timesync_free(ts);
	ic_shutdown_free(sd);
	vmbus_server_free(s);
	return 0;
}
