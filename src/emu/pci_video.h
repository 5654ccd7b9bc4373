/*
 * The emulated Hyper-V video PCI function (1414:5353), as on Hyper-V's
 * generation 1 machines. It draws nothing: Linux's hyperv_fb, booted
 * without EFI, looks for it before it uses the synthetic video channel
 * (drivers/video/fbdev/hyperv_fb.c hvfb_getmem: "Unable to find PCI Hyper-V
 * video" otherwise) and takes BAR 0 as the range firmware framebuffers
 * occupied. See pci_video.c.
 */
#pragma once

#include <stdint.h>

#include "base/compiler.h"
#include "emu/pci_host.h"

struct pci_video;

/* Plugs the function into host at devfn. */
int pci_video_new(struct pci_host *host, unsigned devfn, struct pci_video **ret) must_check;
/* Unplugs and frees; NULL is a no-op. Returns NULL. */
struct pci_video *pci_video_free(struct pci_video *v);

/* BAR 0 as the guest last programmed it (for tests). */
uint32_t pci_video_bar0(struct pci_video *v);

/*
 * Saved state (src/state/): the configuration space (command, BAR 0,
 * interrupt line). load refuses read-only bytes that differ from this
 * device's, naming the byte; the owner maps the VRAM at the restored
 * pci_video_bar0(). Before the vCPUs run or while they are paused.
 */
#define PCI_VIDEO_STATE_VERSION 1u
struct state_out;
struct state_in;
int pci_video_save(struct pci_video *v, struct state_out *out) must_check;
int pci_video_load(struct pci_video *v, uint32_t version, struct state_in *in, char *errbuf,
		   size_t errlen) must_check;

#define PCI_VIDEO_VENDOR    0x1414u /* Microsoft */
#define PCI_VIDEO_DEVICE    0x5353u /* Hyper-V video */
#define PCI_VIDEO_BAR0_SIZE (64u << 20)
/* Where BAR 0 starts out: where Hyper-V's generation 1 BIOS puts it, inside PCI0's window. */
#define PCI_VIDEO_BAR0_BASE 0xF8000000u
