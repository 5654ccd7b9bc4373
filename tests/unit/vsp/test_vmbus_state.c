/*
 * Saved state of the VMBus and its VSPs (vmbus_server_quiesce/save/load,
 * docs/saved-state.md), without /dev/kvm: the guest-side clients
 * (tests/lib/vmbus_client.c, storvsc_client.c) play the guest over a
 * memfd as guest RAM. A "VM" here is the client's memory plus a server
 * with heartbeat, shutdown and a storvsp controller on a raw file. A save
 * frees the server and its devices; the restore builds new ones over the
 * SAME guest memory and loads the file, and the client goes on with the
 * relids, rings and requests it had.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "../vmbus/echo_vsp.h"
#include "base/log.h"
#include "hvdef/ic_proto.h"
#include "state/state.h"
#include "storvsc_client.h"
#include "vmbus_client.h"
#include "vsp/ic/heartbeat.h"
#include "vsp/ic/shutdown.h"
#include "vsp/storvsp/storvsp.h"
#include "test_util.h"

#define VCPUS	  4
#define RAM	  (64u << 20)
#define DISK_SIZE (8u << 20)
#define TMO	  5000
#define HB_PERIOD 30000000ull /* 30 ms */

static void quiet(void *opaque, enum log_level level, const char *line)
{
}

/* ---- The VM: client memory + server + devices ---- */

struct vm {
	struct vmbus_client *vc;
	char disk_path[256];
	bool with_storvsp, with_echo, second_controller;
	struct ic_heartbeat *hb;
	struct ic_shutdown *sd;
	struct storvsp *sp, *sp2;
	struct echo_vsp echo;
	struct vmbus_channel *echo_ch;
	/* The played guest. */
	struct vmbus_msg_offer_channel offers[16];
	int noffers;
	struct vmbus_client_channel *hb_ch;
	struct storvsc_client *sc;
	uint64_t buf; /* 64 pages of guest RAM for I/O */
};

static struct disk *open_disk(struct vm *vm)
{
	struct disk *d = NULL;
	char err[256];

	if (disk_open(vm->disk_path, 0, &d, err, sizeof(err)) < 0) {
		fprintf(stderr, "# disk_open: %s\n", err);
		abort();
	}
	return d;
}

static const struct vmbus_channel_ops echo_named_ops = {
	.open = echo_open,
	.packet = echo_packet,
	.wake = echo_wake,
	.vsp_name = "echo",
};

/* The devices, created in the same order each time (what a worker's configuration does). */
static void devices_new(struct vm *vm)
{
	struct vmbus_server *s = vmbus_client_server(vm->vc);
	struct storvsp_config sc = {
		.server = s, .mem = vmbus_client_memory(vm->vc), .controller = 0, .vcpus = VCPUS};

	assert_int_equal(ic_heartbeat_new(s, HB_PERIOD, &vm->hb), 0);
	assert_int_equal(ic_shutdown_new(s, &vm->sd), 0);
	if (vm->with_storvsp) {
		assert_int_equal(storvsp_new(&sc, &vm->sp), 0);
		assert_int_equal(storvsp_add_disk(vm->sp, 0, open_disk(vm), false), 0);
	}
	if (vm->second_controller) {
		sc.controller = 1;
		assert_int_equal(storvsp_new(&sc, &vm->sp2), 0);
	}
	if (vm->with_echo) {
		struct vmbus_channel_params p = {.name = "echo"};

		memset(&vm->echo, 0, sizeof(vm->echo));
		assert_int_equal(guid_parse("1c2d3e4f-0000-4000-8000-00000000ec40", &p.class_id),
				 0);
		p.instance_id = p.class_id;
		assert_int_equal(vmbus_channel_new(s, &p, &echo_named_ops, &vm->echo, &vm->echo_ch),
				 0);
	}
}

static void devices_free(struct vm *vm)
{
	vm->sp2 = storvsp_free(vm->sp2);
	vm->sp = storvsp_free(vm->sp);
	vm->sd = ic_shutdown_free(vm->sd);
	vm->hb = ic_heartbeat_free(vm->hb);
	vm->echo_ch = vmbus_channel_free(vm->echo_ch);
}

static struct vm *vm_new(bool with_storvsp)
{
	struct vmbus_client_config cfg = {.vcpus = VCPUS, .ram_size = RAM};
	struct vm *vm = calloc(1, sizeof(*vm));
	int fd;

	log_set_sink(quiet, NULL);
	vm->with_storvsp = with_storvsp;
	snprintf(vm->disk_path, sizeof(vm->disk_path), "%s/parvis-vmbus-state-%d-%p.raw",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), (void *)vm);
	fd = open(vm->disk_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
	assert_int_equal(vmbus_client_new(&cfg, &vm->vc), 0);
	vm->buf = vmbus_client_alloc(vm->vc, 64);
	devices_new(vm);
	return vm;
}

static void vm_free(struct vm *vm)
{
	if (vm->sc)
		storvsc_client_forget(vm->sc);
	if (vm->hb_ch)
		vmbus_client_channel_forget(vm->hb_ch);
	devices_free(vm);
	vmbus_client_free(vm->vc);
	unlink(vm->disk_path);
	free(vm);
}

/* Quiesces and saves the bus into a new state file (a memfd); the bus stays quiesced. */
static int save_file(struct vm *vm, int *ret_fd)
{
	static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
	struct state_writer *w;
	char err[256];
	int fd = memfd_create("vmbus-state", 0), r;

	assert_true(fd >= 0);
	assert_int_equal(vmbus_server_quiesce(vmbus_client_server(vm->vc), err, sizeof(err)), 0);
	assert_int_equal(state_writer_new(fd, digest, RAM, &w), 0);
	r = vmbus_server_save(vmbus_client_server(vm->vc), w);
	if (r == 0)
		assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	*ret_fd = fd;
	return r;
}

/* The old server and devices go; new ones like them (per vm's flags) come over the same memory. */
static void rebuild(struct vm *vm)
{
	devices_free(vm);
	vmbus_server_free(vmbus_client_detach_server(vm->vc));
	assert_int_equal(vmbus_client_attach_new_server(vm->vc), 0);
	devices_new(vm);
}

static int load_file(struct vm *vm, int fd, char *err, size_t errlen)
{
	struct state_reader *rd;
	int r = state_reader_new(fd, &rd, err, errlen);

	assert_int_equal(r, 0);
	r = vmbus_server_load(vmbus_client_server(vm->vc), rd, err, errlen);
	state_reader_free(rd);
	return r;
}

/* Save, free, rebuild, load: must succeed. */
static void save_and_restore(struct vm *vm)
{
	char err[256] = "";
	int fd;

	assert_int_equal(save_file(vm, &fd), 0);
	rebuild(vm);
	if (load_file(vm, fd, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	close(fd);
}

/* ---- The played guest ---- */

static const struct vmbus_msg_offer_channel *find_offer(struct vm *vm, const char *class_guid,
							unsigned subidx)
{
	struct guid want;
	int i;

	assert_int_equal(guid_parse(class_guid, &want), 0);
	for (i = 0; i < vm->noffers; i++)
		if (guid_equal(&vm->offers[i].offer.if_type, &want) &&
		    vm->offers[i].offer.sub_channel_index == subidx)
			return &vm->offers[i];
	fail_msg("no offer of %s", class_guid);
	return NULL;
}

static void guest_connect(struct vm *vm)
{
	assert_int_equal(vmbus_client_connect(vm->vc, VMBUS_VERSION_WIN10_V5_2), 1);
	vm->noffers = vmbus_client_request_offers(vm->vc, vm->offers, 16);
	assert_true(vm->noffers >= 2);
}

/*
 * One IC request answered as hv_utils does: versions 3.0 at negotiation,
 * seq + 1 for a heartbeat, OK for a shutdown.
 */
static void ic_serve(struct vmbus_client_channel *ch)
{
	struct vmbus_packet_desc d;
	uint8_t buf[4096];
	struct ic_msg_header h;
	size_t len = sizeof(buf);

	assert_int_equal(vmbus_client_recv_wait(ch, &d, buf, &len, TMO), 0);
	/* Only the newest request counts (the heartbeat abandoned the older ones). */
	for (;;) {
		struct vmbus_packet_desc d2;
		uint8_t buf2[4096];
		size_t len2 = sizeof(buf2);

		if (vmbus_client_recv(ch, &d2, buf2, &len2) < 0)
			break;
		d = d2;
		memcpy(buf, buf2, len2);
		len = len2;
	}
	assert_true(len >= IC_PREFIX_SIZE);
	memcpy(&h, buf + 8, sizeof(h));
	if (h.icmsgtype == IC_MSGTYPE_NEGOTIATE) {
		struct ic_negotiate n = {.icframe_vercnt = 1, .icmsg_vercnt = 1};

		memcpy(buf + IC_PREFIX_SIZE, &n, sizeof(n));
		memcpy(buf + IC_PREFIX_SIZE + 8, &(struct ic_version){3, 0}, 4);
		memcpy(buf + IC_PREFIX_SIZE + 12, &(struct ic_version){3, 0}, 4);
		h.icmsgsize = 16;
	} else if (h.icmsgtype == IC_MSGTYPE_SHUTDOWN) {
		h.status = IC_STATUS_OK;
	} else {
		uint64_t seq;

		assert_int_equal(h.icmsgtype, IC_MSGTYPE_HEARTBEAT);
		memcpy(&seq, buf + IC_PREFIX_SIZE, 8);
		seq++;
		memcpy(buf + IC_PREFIX_SIZE, &seq, 8);
	}
	h.icflags = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
	memcpy(buf + 8, &h, sizeof(h));
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, d.trans_id, buf, len), 0);
}

static void hb_serve(struct vm *vm)
{
	ic_serve(vm->hb_ch);
}

static uint64_t hb_answers(struct vm *vm)
{
	struct ic_heartbeat_status st;

	ic_heartbeat_get_status(vm->hb, &st);
	assert_int_equal(st.wrong_answers, 0);
	return st.answers;
}

/*
 * Answers requests until one counts: requests the heartbeat abandoned
 * (unanswered for 3 periods while the test did other things) are still in
 * the ring, and their answers are rightly ignored.
 */
static void hb_answer_one(struct vm *vm)
{
	uint64_t n = hb_answers(vm);
	unsigned i;

	for (i = 0; i < 20 && hb_answers(vm) == n; i++) {
		hb_serve(vm);
		WAIT_FOR(hb_answers(vm) > n);
	}
	assert_true(hb_answers(vm) > n);
}

static void open_heartbeat(struct vm *vm)
{
	assert_int_equal(vmbus_client_open(vm->vc, find_offer(vm, IC_HEARTBEAT_CLASS_GUID, 0), 4, 4,
					   0, &vm->hb_ch),
			 0);
	hb_serve(vm); /* negotiation */
	hb_serve(vm);
	assert_true(WAIT_FOR(hb_answers(vm) == 1));
}

static void open_storvsp(struct vm *vm)
{
	struct storvsc_client_config cfg = {.subchannels = VCPUS - 1};

	assert_int_equal(storvsc_client_open(vm->vc, find_offer(vm, STORVSP_SCSI_CLASS_GUID, 0),
					     &cfg, &vm->sc),
			 0);
	assert_int_equal(storvsc_client_channel_count(vm->sc), VCPUS);
}

static uint8_t *host(struct vm *vm, uint64_t gpa, size_t len)
{
	return guest_memory_ptr(vmbus_client_memory(vm->vc), gpa, len);
}

/* Writes 4 KiB blocks (pattern of round and block) on every channel, waits, reads them back. */
static void io_round(struct vm *vm, unsigned round)
{
	unsigned i, n = storvsc_client_channel_count(vm->sc);
	struct storvsc_completion c;

	for (i = 0; i < n; i++) {
		struct storvsc_channel *ch = storvsc_client_channel(vm->sc, i);
		uint64_t gpa = vm->buf + (uint64_t)i * 4096;

		memset(host(vm, gpa, 4096), (int)(round * 16 + i), 4096);
		assert_int_equal(storvsc_channel_submit_write(ch, 0, i * 8, 8, gpa, 100 + i, false),
				 0);
		assert_int_equal(storvsc_channel_poll(ch, &c, 1, TMO), 1);
		assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
		memset(host(vm, gpa, 4096), 0, 4096);
		assert_int_equal(storvsc_channel_submit_read(ch, 0, i * 8, 8, gpa, 200 + i), 0);
		assert_int_equal(storvsc_channel_poll(ch, &c, 1, TMO), 1);
		assert_int_equal(c.srb_status, SRB_STATUS_SUCCESS);
		for (unsigned b = 0; b < 4096; b++)
			if (host(vm, gpa, 4096)[b] != (uint8_t)(round * 16 + i))
				fail_msg("channel %u round %u: byte %u is %#x", i, round, b,
					 host(vm, gpa, 4096)[b]);
	}
}

/* 16 writes per channel submitted and not waited for: in flight when the quiesce comes. */
#define BURST 16u
static void submit_burst(struct vm *vm, unsigned round)
{
	unsigned i, k, n = storvsc_client_channel_count(vm->sc);

	for (i = 0; i < n; i++)
		for (k = 0; k < BURST; k++) {
			uint64_t gpa = vm->buf + (uint64_t)(16 + (i * BURST + k) % 48) * 4096;

			memset(host(vm, gpa, 4096), (int)(round + k), 4096);
			assert_int_equal(storvsc_channel_submit_write(
						 storvsc_client_channel(vm->sc, i), 0,
						 64 + (i * BURST + k) * 8, 8, gpa, 1000 + k, false),
					 0);
		}
}

/* Every write of the burst is answered exactly once. */
static void collect_burst(struct vm *vm)
{
	unsigned i, n = storvsc_client_channel_count(vm->sc);

	for (i = 0; i < n; i++) {
		struct storvsc_completion c[BURST + 1];
		bool seen[BURST] = {0};
		unsigned got = 0;

		while (got < BURST) {
			int m = storvsc_channel_poll(storvsc_client_channel(vm->sc, i), c,
						     BURST + 1, TMO);

			if (m <= 0)
				fail_msg("channel %u: %u of %u completions", i, got, BURST);
			for (int j = 0; j < m; j++) {
				unsigned k = (unsigned)(c[j].tag - 1000);

				assert_true(k < BURST);
				assert_false(seen[k]);
				assert_int_equal(c[j].srb_status, SRB_STATUS_SUCCESS);
				seen[k] = true;
				got++;
			}
		}
		/* Nothing more: no completion twice. */
		assert_int_equal(storvsc_channel_poll(storvsc_client_channel(vm->sc, i), c, 1, 50),
				 0);
	}
}

/* Every channel's requests were answered when the quiesce returned. */
static void assert_nothing_in_flight(struct vm *vm)
{
	struct storvsp_channel_stats cs;
	unsigned i;

	for (i = 0; i < VCPUS; i++) {
		assert_true(storvsp_get_channel_stats(vm->sp, i, &cs));
		assert_int_equal(cs.requests, cs.completions);
	}
}

/* ---- Tests ---- */

/* A bus the guest never connected to: after the restore the guest finds every offer. */
static void test_unconnected(void **state)
{
	struct vm *vm = vm_new(true);

	save_and_restore(vm);
	guest_connect(vm);
	assert_int_equal(vm->noffers, 3);
	open_heartbeat(vm);
	open_storvsp(vm);
	io_round(vm, 1);
	vm_free(vm);
}

/*
 * A connected bus with the heartbeat and storvsp (and its sub-channels)
 * open, writes in flight at the quiesce: they complete before it returns,
 * are answered once, the restored channels go on.
 */
static void test_connected(void **state)
{
	struct vm *vm = vm_new(true);
	uint32_t relids[VCPUS];
	struct vmbus_client_channel *sd_ch;
	struct ic_shutdown_status sst;
	uint64_t before;
	unsigned i;

	guest_connect(vm);
	open_heartbeat(vm);
	open_storvsp(vm);
	/* The shutdown IC, negotiated, with a request in flight at the save. */
	assert_int_equal(vmbus_client_open(vm->vc, find_offer(vm, IC_SHUTDOWN_CLASS_GUID, 0), 4, 4,
					   0, &sd_ch),
			 0);
	ic_serve(sd_ch);
	assert_true(WAIT_FOR(ic_shutdown_ready(vm->sd)));
	assert_int_equal(ic_shutdown_request(vm->sd, IC_SHUTDOWN_POWER_OFF, false, "saved"), 0);
	io_round(vm, 1);
	for (i = 0; i < VCPUS; i++)
		relids[i] = vmbus_client_channel_relid(
			storvsc_channel_vmbus(storvsc_client_channel(vm->sc, i)));
	submit_burst(vm, 7);
	{
		int fd;

		assert_int_equal(save_file(vm, &fd), 0);
		assert_nothing_in_flight(vm);
		before = hb_answers(vm);
		rebuild(vm);
		{
			char err[256] = "";

			if (load_file(vm, fd, err, sizeof(err)) != 0)
				fail_msg("load: %s", err);
		}
		close(fd);
	}
	collect_burst(vm);
	/* The sub-channels the guest had are back, with their relids, and carry I/O. */
	for (i = 0; i < VCPUS; i++) {
		struct storvsp_channel_stats cs;

		assert_true(storvsp_get_channel_stats(vm->sp, i, &cs));
		assert_int_equal(cs.state, VMBUS_CHANNEL_OPEN);
		assert_int_equal(cs.relid, relids[i]);
	}
	assert_int_equal(storvsp_version(vm->sp), storvsc_client_version(vm->sc));
	io_round(vm, 2);
	/* The heartbeat goes on from its saved number: answered, never wrong. */
	(void)before;
	hb_answer_one(vm);
	/* The shutdown request sent before the save is answered to the restored IC. */
	ic_serve(sd_ch);
	assert_true(WAIT_FOR((ic_shutdown_get_status(vm->sd, &sst), sst.accepted == 1)));
	assert_false(sst.pending);
	{
		struct ic_heartbeat_status st;

		ic_heartbeat_get_status(vm->hb, &st);
		assert_string_equal(st.state, "ready");
	}
	/* And once more, now that the channels have been restored once. */
	submit_burst(vm, 9);
	save_and_restore(vm);
	collect_burst(vm);
	io_round(vm, 3);
	hb_answer_one(vm);
	vmbus_client_channel_forget(sd_ch);
	vm_free(vm);
}

/* Quiesce and unquiesce without a save: everything goes on. */
static void test_quiesce_unquiesce(void **state)
{
	struct vm *vm = vm_new(true);
	char err[256];
	uint64_t n;

	guest_connect(vm);
	open_heartbeat(vm);
	open_storvsp(vm);
	submit_burst(vm, 3);
	assert_int_equal(vmbus_server_quiesce(vmbus_client_server(vm->vc), err, sizeof(err)), 0);
	assert_nothing_in_flight(vm);
	assert_int_equal(vmbus_server_quiesce(vmbus_client_server(vm->vc), err, sizeof(err)),
			 -EALREADY);
	vmbus_server_unquiesce(vmbus_client_server(vm->vc));
	collect_burst(vm);
	io_round(vm, 4);
	n = hb_answers(vm);
	hb_answer_one(vm);
	assert_true(hb_answers(vm) > n);
	/* Not quiesced: save refuses. */
	{
		static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
		struct state_writer *w;
		int fd = memfd_create("x", 0);

		assert_int_equal(state_writer_new(fd, digest, RAM, &w), 0);
		assert_int_equal(vmbus_server_save(vmbus_client_server(vm->vc), w), -EINVAL);
		assert_non_null(strstr(vmbus_server_save_error(vmbus_client_server(vm->vc)),
				       "not quiesced"));
		state_writer_free(w);
		close(fd);
	}
	vm_free(vm);
}

/* A guest message that came while quiesced is saved and processed after the restore. */
static void test_queued_message(void **state)
{
	struct vm *vm = vm_new(false);
	struct vmbus_msg_initiate_contact m = {
		.header.msgtype = VMBUS_MSG_INITIATE_CONTACT,
		.vmbus_version_requested = VMBUS_VERSION_WIN10_V5_2,
		.interrupt_page_or_sint = VMBUS_MESSAGE_SINT,
	};
	struct vmbus_msg_version_response resp;
	char err[256] = "";
	size_t len = sizeof(resp);
	int fd;

	assert_int_equal(vmbus_server_quiesce(vmbus_client_server(vm->vc), err, sizeof(err)), 0);
	assert_int_equal(vmbus_client_post(vm->vc, VMBUS_MESSAGE_CONNECTION_ID_4, &m, sizeof(m)),
			 VMBUS_POST_OK);
	/* Held: no answer while quiesced. */
	assert_int_equal(vmbus_client_recv_msg(vm->vc, &resp, &len, 100), -ETIMEDOUT);
	vmbus_server_unquiesce(vmbus_client_server(vm->vc)); /* save_file quiesces again */
	assert_int_equal(vmbus_client_expect(vm->vc, VMBUS_MSG_VERSION_RESPONSE, &resp, &len, TMO),
			 0);
	/* Now the other way: a REQUESTOFFERS queued at the save is answered by the new bus. */
	assert_int_equal(vmbus_server_quiesce(vmbus_client_server(vm->vc), err, sizeof(err)), 0);
	{
		struct vmbus_msg_header ro = {.msgtype = VMBUS_MSG_REQUESTOFFERS};

		assert_int_equal(
			vmbus_client_post(vm->vc, VMBUS_MESSAGE_CONNECTION_ID_4, &ro, sizeof(ro)),
			VMBUS_POST_OK);
	}
	vmbus_server_unquiesce(vmbus_client_server(vm->vc));
	/* The offers and their end, sent once the queue moved again. */
	{
		uint8_t buf[VMBUS_MESSAGE_MAX_SIZE];
		struct vmbus_msg_header h;
		unsigned offers = 0;

		for (;;) {
			len = sizeof(buf);
			assert_int_equal(vmbus_client_recv_msg(vm->vc, buf, &len, TMO), 0);
			memcpy(&h, buf, sizeof(h));
			if (h.msgtype == VMBUS_MSG_ALLOFFERS_DELIVERED)
				break;
			assert_int_equal(h.msgtype, VMBUS_MSG_OFFERCHANNEL);
			offers++;
		}
		assert_int_equal(offers, 2);
	}
	/* Queued at the save: an UNLOAD, answered by the restored bus. */
	assert_int_equal(save_file(vm, &fd), 0);
	{
		struct vmbus_msg_header ul = {.msgtype = VMBUS_MSG_UNLOAD};
		static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
		struct state_writer *w;

		close(fd);
		fd = memfd_create("vmbus-state", 0);
		assert_int_equal(
			vmbus_client_post(vm->vc, VMBUS_MESSAGE_CONNECTION_ID_4, &ul, sizeof(ul)),
			VMBUS_POST_OK);
		assert_int_equal(state_writer_new(fd, digest, RAM, &w), 0);
		assert_int_equal(vmbus_server_save(vmbus_client_server(vm->vc), w), 0);
		assert_int_equal(state_writer_finish(w), 0);
		state_writer_free(w);
	}
	rebuild(vm);
	if (load_file(vm, fd, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	close(fd);
	assert_int_equal(vmbus_client_expect(vm->vc, VMBUS_MSG_UNLOAD_RESPONSE, &resp, &len, TMO),
			 0);
	assert_int_equal(vmbus_server_version(vmbus_client_server(vm->vc)), 0);
	vm_free(vm);
}

/* A CLOSECHANNEL queued at the save closes the restored, running channel. */
static void test_queued_close(void **state)
{
	struct vm *vm = vm_new(false);
	struct vmbus_msg_relid m = {.header.msgtype = VMBUS_MSG_CLOSECHANNEL};
	struct ic_heartbeat_status st;
	char err[256] = "";
	int fd;

	guest_connect(vm);
	open_heartbeat(vm);
	m.child_relid = vmbus_client_channel_relid(vm->hb_ch);
	{
		static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
		struct state_writer *w;

		fd = memfd_create("vmbus-state", 0);
		assert_int_equal(
			vmbus_server_quiesce(vmbus_client_server(vm->vc), err, sizeof(err)), 0);
		assert_int_equal(
			vmbus_client_post(vm->vc, VMBUS_MESSAGE_CONNECTION_ID_4, &m, sizeof(m)),
			VMBUS_POST_OK);
		assert_int_equal(state_writer_new(fd, digest, RAM, &w), 0);
		assert_int_equal(vmbus_server_save(vmbus_client_server(vm->vc), w), 0);
		assert_int_equal(state_writer_finish(w), 0);
		state_writer_free(w);
	}
	rebuild(vm);
	if (load_file(vm, fd, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	close(fd);
	assert_true(
		WAIT_FOR((ic_heartbeat_get_status(vm->hb, &st), strcmp(st.state, "closed") == 0)));
	vmbus_client_channel_forget(vm->hb_ch);
	vm->hb_ch = NULL;
	vm_free(vm);
}

/* The saved channels and the new VM's differ: refused, naming the channel. */
static void test_channel_mismatch(void **state)
{
	struct vm *vm = vm_new(true);
	char err[256] = "";
	int fd;

	guest_connect(vm);
	open_storvsp(vm);
	assert_int_equal(save_file(vm, &fd), 0);
	/* Without the controller. */
	vm->with_storvsp = false;
	rebuild(vm);
	assert_int_equal(load_file(vm, fd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not in this VM"));
	assert_non_null(strstr(err, "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"));
	/* With one controller more. */
	vm->with_storvsp = true;
	vm->second_controller = true;
	rebuild(vm);
	assert_int_equal(load_file(vm, fd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "storvsp1-0"));
	assert_non_null(strstr(err, "not in the saved state"));
	/* A used bus refuses to load. */
	vm->second_controller = false;
	rebuild(vm);
	guest_connect(vm);
	assert_int_equal(load_file(vm, fd, err, sizeof(err)), -EBUSY);
	close(fd);
	storvsc_client_forget(vm->sc);
	vm->sc = NULL;
	vm_free(vm);
}

/* An open channel whose VSP has no save: the save is refused by name; the bus goes on. */
static void test_vsp_without_save(void **state)
{
	struct vm *vm = vm_new(false);
	struct vmbus_client_channel *ch;
	struct vmbus_packet_desc d;
	uint8_t buf[64];
	size_t len = sizeof(buf);
	int fd;

	devices_free(vm);
	vm->with_echo = true;
	devices_new(vm);
	guest_connect(vm);
	/* Offered but not open: nothing to lose, the save works. */
	assert_int_equal(save_file(vm, &fd), 0);
	close(fd);
	vmbus_server_unquiesce(vmbus_client_server(vm->vc));
	assert_int_equal(
		vmbus_client_open(vm->vc, find_offer(vm, "1c2d3e4f-0000-4000-8000-00000000ec40", 0),
				  2, 2, 0, &ch),
		0);
	assert_int_equal(save_file(vm, &fd), -EBUSY);
	close(fd);
	assert_string_equal(vmbus_server_save_error(vmbus_client_server(vm->vc)),
			    "echo on channel 'echo' cannot be saved yet");
	vmbus_server_unquiesce(vmbus_client_server(vm->vc));
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(vmbus_client_send(ch, VMBUS_PKT_DATA_INBAND, 0, 9, buf, sizeof(buf)), 0);
	assert_int_equal(vmbus_client_recv_wait(ch, &d, buf, &len, TMO), 0);
	assert_int_equal(buf[0], 0x5a);
	vmbus_client_channel_forget(ch);
	vm_free(vm);
}

/* Writes a state file whose "vmbus" section is data (len bytes), version `version`. */
static int file_with_section(const void *data, size_t len, uint32_t version)
{
	static const uint8_t digest[STATE_CONFIG_DIGEST_BYTES];
	struct state_writer *w;
	int fd = memfd_create("vmbus-bad", 0);

	assert_int_equal(state_writer_new(fd, digest, RAM, &w), 0);
	assert_int_equal(state_writer_section(w, VMBUS_STATE_SECTION, version, data, len), 0);
	assert_int_equal(state_writer_finish(w), 0);
	state_writer_free(w);
	return fd;
}

/*
 * A hostile section: every truncation of a real one, and each 4-byte field
 * set to 0xffffffff, loaded into a new bus: a clean refusal (or a state
 * the checks accept), never a crash (ASan) or a hang.
 */
static void test_bad_fields(void **state)
{
	struct vm *vm = vm_new(true);
	struct state_reader *rd;
	char err[256];
	void *data;
	size_t len, cut;
	uint32_t version;
	unsigned refused = 0;
	int fd;

	guest_connect(vm);
	open_heartbeat(vm);
	open_storvsp(vm);
	assert_int_equal(save_file(vm, &fd), 0);
	assert_int_equal(state_reader_new(fd, &rd, err, sizeof(err)), 0);
	assert_int_equal(state_reader_section(rd, VMBUS_STATE_SECTION, &version, &data, &len, err,
					      sizeof(err)),
			 0);
	state_reader_free(rd);
	close(fd);
	print_message("# section 'vmbus' of heartbeat, shutdown, storvsp with 3 sub-channels: %zu "
		      "bytes\n",
		      len);
	/* A newer version. */
	rebuild(vm);
	fd = file_with_section(data, len, VMBUS_STATE_VERSION + 1);
	assert_int_equal(load_file(vm, fd, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "this build reads up to"));
	close(fd);
	/* Truncations, in steps so that the test stays short (each is a new bus). */
	for (cut = 0; cut < len; cut += len / 24 + 1) {
		rebuild(vm);
		fd = file_with_section(data, cut, 1);
		err[0] = 0;
		assert_true(load_file(vm, fd, err, sizeof(err)) < 0);
		assert_non_null(strstr(err, "vmbus"));
		close(fd);
		refused++;
	}
	/* Fields out of range. */
	for (cut = 0; cut + 4 <= len; cut += 4 * (len / 96 + 1)) {
		uint8_t *bad = malloc(len);

		memcpy(bad, data, len);
		memset(bad + cut, 0xff, 4);
		rebuild(vm);
		fd = file_with_section(bad, len, 1);
		err[0] = 0;
		if (load_file(vm, fd, err, sizeof(err)) < 0) {
			assert_true(err[0] != 0);
			refused++;
		}
		close(fd);
		free(bad);
	}
	/* Trailing garbage. */
	{
		uint8_t *more = calloc(1, len + 8);

		memcpy(more, data, len);
		rebuild(vm);
		fd = file_with_section(more, len + 8, 1);
		assert_int_equal(load_file(vm, fd, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "after the last field"));
		close(fd);
		free(more);
	}
	print_message("# %u hostile sections refused\n", refused);
	assert_true(refused > 24);
	free(data);
	storvsc_client_forget(vm->sc);
	vm->sc = NULL;
	vmbus_client_channel_forget(vm->hb_ch);
	vm->hb_ch = NULL;
	vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unconnected),	  cmocka_unit_test(test_connected),
		cmocka_unit_test(test_quiesce_unquiesce), cmocka_unit_test(test_queued_message),
		cmocka_unit_test(test_queued_close),	  cmocka_unit_test(test_channel_mismatch),
		cmocka_unit_test(test_vsp_without_save),  cmocka_unit_test(test_bad_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
