/*
 * The synthetic video VSP: the host side of hyperv_fb (Linux) and Windows'
 * synthetic video driver. It negotiates the protocol (3.0, 3.2, 3.5),
 * offers the resolutions Hyper-V offers that fit the VRAM, places the VRAM
 * where the guest asks inside the VMBus MMIO window (the ACPI _CRS of
 * vmbus_acpi.c) by having the owner map it there (a KVM memory slot), keeps
 * the screen mode the guest reports, and collects its dirty rectangles and
 * pointer for the console (src/vmwp/rfb_server.c).
 *
 * The framebuffer is the VRAM itself: host memory mapped into the guest.
 * The console reads it in place; nothing copies the screen.
 *
 * Threads: the protocol runs on the channel's loop (vmbus.h). The console's
 * calls (synthvid_get_mode, _take_dirt, _set_dirt_needed, ...) may come
 * from any thread and take the VSP's lock only briefly; they never send.
 * ops->notify runs on the loop, must not block and must not call back.
 *
 * Wire format: hvdef/synthvid_proto.h; parsing: synthvid_msg.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vmbus/vmbus.h"
#include "vsp/synthvid/synthvid_msg.h"

struct synthvid;

struct synthvid_host_ops {
	/*
	 * Makes the VRAM (hva, size bytes) appear at guest physical gpa, in
	 * place of wherever it was; gpa UINT64_MAX: nowhere. Loop thread. 0 or
	 * -errno (the guest's request is then refused). NULL: nothing to map
	 * (tests).
	 */
	int (*place_vram)(void *opaque, uint64_t gpa, void *hva, uint64_t size);
	/* Mode, dirt or pointer changed. Loop thread; must not block (an eventfd write). */
	void (*notify)(void *opaque);
};

struct synthvid_config {
	/*
	 * The VRAM: page-aligned host memory of vram_size bytes (a whole number
	 * of MiB: the offer's mmio_megabytes), owned by the caller and kept
	 * for as long as the VSP; NULL: the VSP maps its own.
	 */
	void *vram;
	uint64_t vram_size; /* 0: SYNTHVID_DEFAULT_VRAM */
	/* Where the guest may place the VRAM: the VMBus MMIO window. */
	uint64_t window_base, window_size;
	/* The resolution offered as default (0: 1024x768), if it fits. */
	uint32_t default_width, default_height;
	const struct synthvid_host_ops *ops;
	void *opaque;
};

/* 16 MiB: 2560x1600 at 32 bits per pixel fits (Hyper-V's Gen 2 default VRAM is larger). */
#define SYNTHVID_DEFAULT_VRAM (16 * MiB)

int synthvid_new(struct vmbus_server *s, const struct synthvid_config *cfg,
		 struct synthvid **ret) must_check;
/* Closes and rescinds the channel (the VRAM is then unplaced). NULL is a no-op. */
struct synthvid *synthvid_free(struct synthvid *sv);

/* The VRAM and its size: valid for the VSP's life. */
void *synthvid_vram(struct synthvid *sv, uint64_t *size);
/* The current mode (all 0 until the guest's first SITUATION_UPDATE); any thread. */
void synthvid_get_mode(struct synthvid *sv, struct synthvid_mode *mode);

/*
 * Takes the dirty rectangles collected since the last call, clipped to the
 * mode they were reported in: up to max of them; if more arrived, one
 * rectangle bounding them all. Returns how many were written. *generation
 * (optional) gets the mode generation, which changes at every new mode.
 */
#define SYNTHVID_DIRT_QUEUE 32u
unsigned synthvid_take_dirt(struct synthvid *sv, struct synthvid_rect *rects, unsigned max,
			    uint64_t *generation);

/* Asks the guest to send DIRT (FEATURE_CHANGE is_dirt_needed) or to stop. Any thread. */
void synthvid_set_dirt_needed(struct synthvid *sv, bool needed);

struct synthvid_pointer {
	bool visible;
	int32_t x, y;
	uint32_t shape_width, shape_height, hot_x, hot_y;
	bool shape_argb;
	uint64_t shape_generation; /* changes at every new shape */
};
void synthvid_get_pointer(struct synthvid *sv, struct synthvid_pointer *p);
/*
 * Copies the latest complete shape (ARGB w*h*4 bytes, or the monochrome AND and XOR masks:
 * synthvid_pointer_bytes) into buf; its length, or 0 if none fits (synthvid_cursor.h reads it).
 */
size_t synthvid_get_pointer_shape(struct synthvid *sv, uint8_t *buf, size_t len);

struct synthvid_stats {
	uint32_t version;  /* negotiated (SYNTHVID_VERSION form), 0 before */
	uint64_t vram_gpa; /* UINT64_MAX: not placed */
	uint64_t messages, bad_messages, refused_versions, refused_vram, refused_modes;
	uint64_t dirt_messages, dirt_rects, dirt_clipped; /* clipped: empty or outside the screen */
	uint64_t situation_updates, pointer_updates, feature_changes_sent;
};
void synthvid_get_stats(struct synthvid *sv, struct synthvid_stats *st);
