/*
 * The worker's VMBus: a VMBus server glued to the partition's Hyper-V
 * interface (hv/), and the integration services it offers (heartbeat,
 * shutdown, time sync, KVP). One per machine, built after hv and before
 * the ACPI tables (it contributes the VMBus device to the DSDT), freed
 * after the vCPUs have stopped and before hv.
 *
 * Glue: HvPostMessage on connection ids 1 and 4 goes to
 * vmbus_server_handle_message(), HvSignalEvent on a channel's connection
 * id (one registration for the server's whole range,
 * VMBUS_CHANNEL_CONNECTION_FIRST..+COUNT) to vmbus_server_handle_signal(); the server's
 * post_message and signal_event are hv_synic_post_message() and hv_synic_signal_event().
 */
#pragma once

#include "base/compiler.h"
#include "boot/acpi_tables.h"
#include "hv/hv.h"
#include "vmbus/vmbus.h"
#include "vmbus/vmbus_acpi.h"
#include "vsp/ic/heartbeat.h"
#include "vsp/ic/kvp.h"
#include "vsp/ic/shutdown.h"
#include "vsp/ic/timesync.h"

struct vmbus_host;

int vmbus_host_new(struct hv *hv, struct guest_memory *mem, unsigned vcpus,
		   struct vmbus_host **ret) must_check;
struct vmbus_host *vmbus_host_free(struct vmbus_host *h);

/* The DSDT contributor (\_SB.VMOD.VMBS), valid as long as h. */
struct acpi_dsdt_contributor vmbus_host_dsdt(struct vmbus_host *h);
struct vmbus_server *vmbus_host_server(struct vmbus_host *h);
struct ic_heartbeat *vmbus_host_heartbeat(struct vmbus_host *h);
struct ic_shutdown *vmbus_host_shutdown(struct vmbus_host *h);
struct ic_timesync *vmbus_host_timesync(struct vmbus_host *h);
struct ic_kvp *vmbus_host_kvp(struct vmbus_host *h);

/*
 * Whether the guest has sent VMBus anything yet (a message or a signal, even
 * one still queued): until then the bus has no state of the guest's and a
 * saved state needs no section for it (the channels are made again from the
 * configuration).
 */
bool vmbus_host_guest_contacted(struct vmbus_host *h);

/* The VMBus MMIO window the DSDT describes (\_SB.VMOD._CRS), where the guest places VRAM. */
void vmbus_host_mmio_window(struct vmbus_host *h, uint64_t *base, uint64_t *size);
