/* The worker's VMBus and its glue to hv (vmbus_host.h). */
#include "vmwp/vmbus_host.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "hvdef/tlfs_hypercall.h"
#include "hvdef/vmbus_proto.h"

struct vmbus_host {
	struct hv *hv;
	struct vmbus_server *server;
	struct vmbus_acpi_config acpi;
	struct ic_heartbeat *heartbeat;
	struct ic_shutdown *shutdown;
	struct ic_timesync *timesync;
	struct ic_kvp *kvp;
	bool registered;
	/* Messages and signals the guest sent to VMBus (vmbus_host_guest_contacted). */
	atomic_uint_fast64_t guest_posts;
};

static int post_message(void *opaque, unsigned vp, unsigned sint, uint32_t type,
			const void *payload, size_t len)
{
	struct vmbus_host *h = opaque;

	return hv_synic_post_message(h->hv, vp, sint, type, payload, len);
}

static int signal_event(void *opaque, unsigned vp, unsigned sint, unsigned flag)
{
	struct vmbus_host *h = opaque;

	return hv_synic_signal_event(h->hv, vp, sint, flag);
}

static const struct vmbus_synic_ops synic_ops = {
	.post_message = post_message,
	.signal_event = signal_event,
};

static uint16_t post_status(enum vmbus_post_result r)
{
	switch (r) {
	case VMBUS_POST_OK: return HV_STATUS_SUCCESS;
	case VMBUS_POST_RETRY: return HV_STATUS_INSUFFICIENT_BUFFERS;
	case VMBUS_POST_INVALID: break;
	}
	return HV_STATUS_INVALID_PARAMETER;
}

/* One trampoline per message connection id: hv does not pass the id to the handler. */
static uint16_t on_message_1(void *opaque, unsigned vp, uint32_t type, const void *payload,
			     uint32_t len)
{
	struct vmbus_host *h = opaque;

	atomic_fetch_add(&h->guest_posts, 1);
	if (type != VMBUS_SYNIC_MESSAGE_TYPE)
		return HV_STATUS_INVALID_PARAMETER;
	return post_status(vmbus_server_handle_message(h->server, vp, VMBUS_MESSAGE_CONNECTION_ID,
						       payload, len));
}

static uint16_t on_message_4(void *opaque, unsigned vp, uint32_t type, const void *payload,
			     uint32_t len)
{
	struct vmbus_host *h = opaque;

	atomic_fetch_add(&h->guest_posts, 1);
	if (type != VMBUS_SYNIC_MESSAGE_TYPE)
		return HV_STATUS_INVALID_PARAMETER;
	return post_status(vmbus_server_handle_message(h->server, vp, VMBUS_MESSAGE_CONNECTION_ID_4,
						       payload, len));
}

static uint16_t on_event(void *opaque, unsigned vp, uint32_t connection_id, uint16_t flag)
{
	struct vmbus_host *h = opaque;

	atomic_fetch_add(&h->guest_posts, 1);
	vmbus_server_handle_signal(h->server, connection_id);
	return HV_STATUS_SUCCESS;
}

static void unregister(struct vmbus_host *h)
{
	if (!h->registered)
		return;
	/* Removing a registration cannot fail; the results say nothing new. */
	if (hv_register_message_handler(h->hv, VMBUS_MESSAGE_CONNECTION_ID, NULL, NULL) ||
	    hv_register_message_handler(h->hv, VMBUS_MESSAGE_CONNECTION_ID_4, NULL, NULL)) {
	}
	if (hv_register_event_handler(h->hv, VMBUS_CHANNEL_CONNECTION_FIRST, NULL, NULL)) {
	}
	h->registered = false;
}

static int register_handlers(struct vmbus_host *h)
{
	int r;

	h->registered = true;
	r = hv_register_message_handler(h->hv, VMBUS_MESSAGE_CONNECTION_ID, on_message_1, h);
	if (r == 0)
		r = hv_register_message_handler(h->hv, VMBUS_MESSAGE_CONNECTION_ID_4, on_message_4,
						h);
	/* Every channel connection id the server can hand out, in one registration. */
	if (r == 0)
		r = hv_register_event_range(h->hv, VMBUS_CHANNEL_CONNECTION_FIRST,
					    VMBUS_CHANNEL_CONNECTION_COUNT, on_event, h);
	return r;
}

int vmbus_host_new(struct hv *hv, struct guest_memory *mem, unsigned vcpus, struct vmbus_host **ret)
{
	struct vmbus_server_config cfg = {.mem = mem, .vcpus = vcpus, .synic = &synic_ops};
	struct vmbus_host *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	h->hv = hv;
	h->acpi = vmbus_acpi_config_for_ram(guest_memory_end(mem));
	cfg.synic_opaque = h;
	r = vmbus_server_new(&cfg, &h->server);
	/* The ICs in the order Hyper-V offers them: relids 1-4. */
	if (r == 0)
		r = ic_shutdown_new(h->server, &h->shutdown);
	if (r == 0)
		r = ic_timesync_new(h->server, NULL, &h->timesync);
	if (r == 0)
		r = ic_heartbeat_new(h->server, 0, &h->heartbeat);
	if (r == 0)
		r = ic_kvp_new(h->server, 0, &h->kvp);
	if (r == 0)
		r = register_handlers(h);
	if (r < 0) {
		vmbus_host_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

struct vmbus_host *vmbus_host_free(struct vmbus_host *h)
{
	if (!h)
		return NULL;
	unregister(h);
	ic_kvp_free(h->kvp);
	ic_heartbeat_free(h->heartbeat);
	ic_timesync_free(h->timesync);
	ic_shutdown_free(h->shutdown);
	vmbus_server_free(h->server);
	free(h);
	return NULL;
}

struct acpi_dsdt_contributor vmbus_host_dsdt(struct vmbus_host *h)
{
	return (struct acpi_dsdt_contributor){.emit = vmbus_acpi_emit, .opaque = &h->acpi};
}

struct vmbus_server *vmbus_host_server(struct vmbus_host *h)
{
	return h->server;
}

struct ic_heartbeat *vmbus_host_heartbeat(struct vmbus_host *h)
{
	return h->heartbeat;
}

struct ic_shutdown *vmbus_host_shutdown(struct vmbus_host *h)
{
	return h->shutdown;
}

struct ic_timesync *vmbus_host_timesync(struct vmbus_host *h)
{
	return h->timesync;
}

struct ic_kvp *vmbus_host_kvp(struct vmbus_host *h)
{
	return h->kvp;
}

void vmbus_host_mmio_window(struct vmbus_host *h, uint64_t *base, uint64_t *size)
{
	*base = h->acpi.mmio_base;
	*size = h->acpi.mmio_size;
}

bool vmbus_host_guest_contacted(struct vmbus_host *h)
{
	return atomic_load(&h->guest_posts) != 0 || vmbus_server_version(h->server) != 0;
}
