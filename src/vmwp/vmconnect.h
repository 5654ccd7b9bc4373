/*
 * The machine's console devices (what Hyper-V's VMConnect shows): the
 * Hyper-V video PCI function, the synthetic video with its VRAM placed by
 * a KVM memory slot where the guest asks, and the synthetic keyboard and
 * mouse; attached to the worker's console server (rfb_server.h) while the
 * machine runs. One set per machine (per boot); the VRAM is the console
 * server's, so the screen survives reboots.
 */
#pragma once

#include "base/compiler.h"
#include "emu/pci_host.h"
#include "vid/partition.h"
#include "vmwp/rfb_server.h"
#include "vmwp/vmbus_host.h"

struct vmconnect;

/* PCI slot of the video function: 00:08.0, as on Hyper-V generation 1 machines. */
#define VMCONNECT_VIDEO_DEVFN PCI_DEVFN(8, 0)

/* server may be NULL (no console server: the devices still exist, nobody looks). */
int vmconnect_new(struct partition *p, struct pci_host *pci, struct vmbus_host *vmbus,
		  struct rfb_server *server, struct vmconnect **ret) must_check;
/* Detaches from the server, then frees the devices (the vCPUs have stopped). */
struct vmconnect *vmconnect_free(struct vmconnect *v);

struct json_object;
/*
 * The "console" member of the control status (docs/control.md): whether a
 * console is attached (clients), the screen's mode, each device's state and
 * counters. v or server may be NULL. NULL if both are.
 */
struct json_object *vmconnect_status_json(struct vmconnect *v, struct rfb_server *server);

struct synthvid *vmconnect_video(struct vmconnect *v);
/* The video PCI function (its configuration space is saved state). */
struct pci_video *vmconnect_pci_video(struct vmconnect *v);
struct synthkbd *vmconnect_keyboard(struct vmconnect *v);
struct synthhid *vmconnect_mouse(struct vmconnect *v);
