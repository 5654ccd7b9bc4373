/*
 * The synthetic video VSP (synthvid.h). Runs on its channel's loop; the
 * console's getters take `lock`. Guest side: Linux 6.1
 * drivers/video/fbdev/hyperv_fb.c (hvfb_probe, synthvid_connect_vsp,
 * synthvid_send_config, synthvid_recv_sub).
 */
#include "vsp/synthvid/synthvid.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/log.h"
#include "hvdef/synthvid_proto.h"
#include "hvdef/vmbus_proto.h"

#define NO_GPA UINT64_MAX

/*
 * The resolutions Hyper-V offers (its VM settings' list, smallest first);
 * those that do not fit the VRAM at 32 bits per pixel are left out.
 */
static const struct synthvid_resolution resolutions[] = {
	{640, 480},   {800, 600},   {1024, 768},  {1152, 864},	{1280, 720},  {1280, 768},
	{1280, 800},  {1280, 1024}, {1366, 768},  {1440, 900},	{1600, 900},  {1600, 1200},
	{1680, 1050}, {1920, 1080}, {1920, 1200}, {2560, 1440}, {2560, 1600},
};

struct synthvid {
	struct synthvid_config cfg;
	uint8_t *vram;
	bool own_vram;
	struct vmbus_channel *ch;
	struct guest_error_log errors;

	/* Loop thread only. */
	uint32_t version;	  /* negotiated; 0 before */
	uint64_t vram_gpa;	  /* NO_GPA: not placed */
	int feature_sent;	  /* is_dirt_needed last sent; -1: none sent on this open */
	_Atomic bool dirt_needed; /* what the console wants */

	pthread_mutex_t lock; /* the fields below */
	struct synthvid_mode mode;
	uint64_t generation;
	struct synthvid_rect dirt[SYNTHVID_DIRT_QUEUE];
	unsigned ndirt;
	bool dirt_overflow; /* dirt[0] bounds everything since the last take */
	struct synthvid_pointer pointer;
	uint8_t shape[SYNTHVID_CURSOR_MAX_X * SYNTHVID_CURSOR_MAX_Y * 4];
	size_t shape_len;
	struct synthvid_stats stats;
};

static void guest_error(struct synthvid *sv, uint64_t *counter, const char *what)
{
	pthread_mutex_lock(&sv->lock);
	sv->stats.bad_messages++;
	if (counter)
		(*counter)++;
	pthread_mutex_unlock(&sv->lock);
	guest_error_report(&sv->errors, "%s", what);
}

static void notify(struct synthvid *sv)
{
	if (sv->cfg.ops && sv->cfg.ops->notify)
		sv->cfg.ops->notify(sv->cfg.opaque);
}

/* Room for one reply, taken before the request's effects: a full ring leaves it in place. */
static int reserve(struct synthvid *sv, size_t body)
{
	return vmbus_channel_reserve(sv->ch, sizeof(struct vmbus_pipe_header) +
						     sizeof(struct synthvid_msg_header) + body);
}

static void send_reserved(struct synthvid *sv, uint32_t type, const void *body, size_t len)
{
	uint8_t buf[sizeof(struct vmbus_pipe_header) + sizeof(struct synthvid_msg_header) +
		    sizeof(struct synthvid_resolution_resp)];
	struct vmbus_pipe_header pipe = {
		.packet_type = VMBUS_PIPE_PACKET_DATA,
		.len = (uint32_t)(sizeof(struct synthvid_msg_header) + len)};
	struct synthvid_msg_header h = {
		.type = type, .size = (uint32_t)(sizeof(struct synthvid_msg_header) + len)};

	memcpy(buf, &pipe, sizeof(pipe));
	memcpy(buf + sizeof(pipe), &h, sizeof(h));
	memcpy(buf + sizeof(pipe) + sizeof(h), body, len);
	/* Room is reserved: only a broken ring or a close can fail, and those end the channel. */
	if (vmbus_channel_send_reserved(sv->ch, VMBUS_PKT_DATA_INBAND, 0, 0, buf,
					sizeof(pipe) + sizeof(h) + len) < 0) {
	}
}

static bool version_ok(uint32_t v)
{
	return v == SYNTHVID_VERSION_WIN7 || v == SYNTHVID_VERSION_WIN8 ||
	       v == SYNTHVID_VERSION_WIN10;
}

static int on_version(struct synthvid *sv, const struct synthvid_msg *m)
{
	struct synthvid_version_resp resp = {.version = m->u.version.version,
					     .max_video_outputs = 1};

	if (reserve(sv, sizeof(resp)) < 0)
		return VMBUS_PACKET_BUSY;
	resp.is_accepted = version_ok(resp.version);
	if (resp.is_accepted) {
		sv->version = resp.version;
	} else {
		pthread_mutex_lock(&sv->lock);
		sv->stats.refused_versions++;
		pthread_mutex_unlock(&sv->lock);
	}
	pthread_mutex_lock(&sv->lock);
	sv->stats.version = sv->version;
	pthread_mutex_unlock(&sv->lock);
	send_reserved(sv, SYNTHVID_VERSION_RESPONSE, &resp, sizeof(resp));
	return VMBUS_PACKET_DONE;
}

static bool fits(const struct synthvid *sv, uint32_t w, uint32_t h)
{
	return (uint64_t)w * h * 4 <= sv->cfg.vram_size;
}

static int on_resolution(struct synthvid *sv, const struct synthvid_msg *m)
{
	struct synthvid_resolution_resp resp = {.is_standard = 0};
	unsigned max = m->u.resolution.maximum_resolution_count, n = 0, i;
	uint32_t dw = sv->cfg.default_width, dh = sv->cfg.default_height;
	int def = -1;

	if (max > SYNTHVID_MAX_RESOLUTIONS)
		max = SYNTHVID_MAX_RESOLUTIONS;
	for (i = 0; i < ARRAY_SIZE(resolutions) && n < max; i++) {
		if (!fits(sv, resolutions[i].width, resolutions[i].height))
			continue;
		if (resolutions[i].width == dw && resolutions[i].height == dh)
			def = (int)n;
		resp.supported_resolution[n++] = resolutions[i];
	}
	/* A default the list lacks (or that does not fit): the largest entry offered. */
	if (def < 0 && n)
		def = (int)n - 1;
	resp.resolution_count = (uint8_t)n;
	resp.default_resolution_index = (uint8_t)(def < 0 ? 0 : def);
	if (reserve(sv, sizeof(resp)) < 0)
		return VMBUS_PACKET_BUSY;
	/* The guest reads the whole struct: send it, unused entries zero. */
	send_reserved(sv, SYNTHVID_RESOLUTION_RESPONSE, &resp, sizeof(resp));
	return VMBUS_PACKET_DONE;
}

static bool in_window(const struct synthvid *sv, uint64_t gpa)
{
	uint64_t size = sv->cfg.vram_size;

	return IS_ALIGNED(gpa, 4096) && gpa >= sv->cfg.window_base &&
	       gpa - sv->cfg.window_base <= sv->cfg.window_size &&
	       sv->cfg.window_size - (gpa - sv->cfg.window_base) >= size;
}

static int place(struct synthvid *sv, uint64_t gpa)
{
	int r = 0;

	if (gpa == sv->vram_gpa)
		return 0;
	if (sv->cfg.ops && sv->cfg.ops->place_vram)
		r = sv->cfg.ops->place_vram(sv->cfg.opaque, gpa, sv->vram, sv->cfg.vram_size);
	if (r == 0)
		sv->vram_gpa = gpa;
	pthread_mutex_lock(&sv->lock);
	sv->stats.vram_gpa = sv->vram_gpa;
	pthread_mutex_unlock(&sv->lock);
	return r;
}

static void send_feature_change(struct synthvid *sv);

static int on_vram(struct synthvid *sv, const struct synthvid_msg *m)
{
	struct synthvid_vram_location_ack ack = {.user_ctx = m->u.vram.user_ctx};
	uint64_t gpa = m->u.vram.is_vram_gpa_specified ? m->u.vram.vram_gpa : NO_GPA;

	if (gpa != NO_GPA && !in_window(sv, gpa)) {
		/* No ack: the guest's probe times out instead of using memory that is not there. */
		guest_error(sv, &sv->stats.refused_vram, "VRAM_LOCATION outside the VMBus window");
		return VMBUS_PACKET_DONE;
	}
	if (reserve(sv, sizeof(ack)) < 0)
		return VMBUS_PACKET_BUSY;
	if (place(sv, gpa) < 0) {
		vmbus_channel_unreserve(sv->ch, sizeof(struct vmbus_pipe_header) +
							sizeof(struct synthvid_msg_header) +
							sizeof(ack));
		guest_error(sv, &sv->stats.refused_vram,
			    "VRAM_LOCATION: the host could not map it");
		return VMBUS_PACKET_DONE;
	}
	send_reserved(sv, SYNTHVID_VRAM_LOCATION_ACK, &ack, sizeof(ack));
	send_feature_change(sv);
	return VMBUS_PACKET_DONE;
}

static int on_situation(struct synthvid *sv, const struct synthvid_msg *m)
{
	struct synthvid_situation_update_ack ack = {.user_ctx = m->u.situation.user_ctx};
	struct synthvid_mode mode;
	const char *why;

	if (synthvid_mode_check(&m->u.situation, sv->cfg.vram_size, &mode, &why) < 0) {
		guest_error(sv, &sv->stats.refused_modes, why);
		return VMBUS_PACKET_DONE;
	}
	if (reserve(sv, sizeof(ack)) < 0)
		return VMBUS_PACKET_BUSY;
	pthread_mutex_lock(&sv->lock);
	sv->stats.situation_updates++;
	if (!synthvid_mode_equal(&mode, &sv->mode)) {
		sv->mode = mode;
		sv->generation++;
		sv->ndirt = 0; /* the console redraws the whole new screen */
		sv->dirt_overflow = false;
	}
	pthread_mutex_unlock(&sv->lock);
	send_reserved(sv, SYNTHVID_SITUATION_UPDATE_ACK, &ack, sizeof(ack));
	notify(sv);
	return VMBUS_PACKET_DONE;
}

static void merge(struct synthvid_rect *a, const struct synthvid_rect *b)
{
	a->x1 = MIN(a->x1, b->x1);
	a->y1 = MIN(a->y1, b->y1);
	a->x2 = MAX(a->x2, b->x2);
	a->y2 = MAX(a->y2, b->y2);
}

static void add_dirt(struct synthvid *sv, const struct synthvid_rect *r)
{
	unsigned i;

	if (sv->dirt_overflow) {
		merge(&sv->dirt[0], r);
		return;
	}
	if (sv->ndirt < SYNTHVID_DIRT_QUEUE) {
		sv->dirt[sv->ndirt++] = *r;
		return;
	}
	for (i = 1; i < sv->ndirt; i++)
		merge(&sv->dirt[0], &sv->dirt[i]);
	merge(&sv->dirt[0], r);
	sv->ndirt = 1;
	sv->dirt_overflow = true;
}

static int on_dirt(struct synthvid *sv, const struct synthvid_msg *m)
{
	unsigned i, kept = 0, clipped = 0;

	pthread_mutex_lock(&sv->lock);
	sv->stats.dirt_messages++;
	for (i = 0; i < m->u.dirt.count; i++) {
		struct synthvid_rect r = synthvid_msg_dirt_rect(m, i);

		if (!sv->mode.width || m->u.dirt.video_output != 0 ||
		    !synthvid_rect_clip(&r, sv->mode.width, sv->mode.height)) {
			clipped++;
			continue;
		}
		add_dirt(sv, &r);
		kept++;
	}
	sv->stats.dirt_rects += kept;
	sv->stats.dirt_clipped += clipped;
	pthread_mutex_unlock(&sv->lock);
	if (kept)
		notify(sv);
	return VMBUS_PACKET_DONE;
}

static int on_pointer_position(struct synthvid *sv, const struct synthvid_msg *m)
{
	pthread_mutex_lock(&sv->lock);
	sv->pointer.visible = m->u.pointer_position.is_visible != 0;
	sv->pointer.x = m->u.pointer_position.image_x;
	sv->pointer.y = m->u.pointer_position.image_y;
	sv->stats.pointer_updates++;
	pthread_mutex_unlock(&sv->lock);
	notify(sv);
	return VMBUS_PACKET_DONE;
}

static int on_pointer_shape(struct synthvid *sv, const struct synthvid_msg *m)
{
	const struct synthvid_pointer_shape *h = &m->u.pointer_shape.hdr;

	/* Shapes in several parts (Windows guests) are kept only when complete in one. */
	if (h->part_idx != SYNTHVID_CURSOR_COMPLETE && h->part_idx != 0)
		return VMBUS_PACKET_DONE;
	pthread_mutex_lock(&sv->lock);
	sv->pointer.shape_width = h->width;
	sv->pointer.shape_height = h->height;
	sv->pointer.hot_x = h->hot_x;
	sv->pointer.hot_y = h->hot_y;
	sv->pointer.shape_argb = h->is_argb != 0;
	sv->pointer.shape_generation++;
	sv->shape_len = m->u.pointer_shape.pixels_len;
	memcpy(sv->shape, m->u.pointer_shape.pixels, sv->shape_len);
	sv->stats.pointer_updates++;
	pthread_mutex_unlock(&sv->lock);
	notify(sv);
	return VMBUS_PACKET_DONE;
}

/* FEATURE_CHANGE when what the console wants differs from what the guest was last told. */
static void send_feature_change(struct synthvid *sv)
{
	struct synthvid_feature_change fc = {.is_situ_needed = 1};
	bool want = atomic_load(&sv->dirt_needed);

	if (!sv->version || sv->vram_gpa == NO_GPA || sv->feature_sent == (int)want)
		return;
	fc.is_dirt_needed = want;
	fc.is_ptr_pos_needed = fc.is_ptr_shape_needed = 1;
	if (reserve(sv, sizeof(fc)) < 0)
		return; /* the wake callback runs again once there is room */
	send_reserved(sv, SYNTHVID_FEATURE_CHANGE, &fc, sizeof(fc));
	sv->feature_sent = want;
	pthread_mutex_lock(&sv->lock);
	sv->stats.feature_changes_sent++;
	pthread_mutex_unlock(&sv->lock);
}

/* Dispatch by type; NULL: the guest may send it, nothing is answered (Windows-only requests). */
static int (*const handlers[SYNTHVID_MSG_TYPE_COUNT])(struct synthvid *,
						      const struct synthvid_msg *) = {
	[SYNTHVID_VERSION_REQUEST] = on_version,
	[SYNTHVID_RESOLUTION_REQUEST] = on_resolution,
	[SYNTHVID_VRAM_LOCATION] = on_vram,
	[SYNTHVID_SITUATION_UPDATE] = on_situation,
	[SYNTHVID_DIRT] = on_dirt,
	[SYNTHVID_POINTER_POSITION] = on_pointer_position,
	[SYNTHVID_POINTER_SHAPE] = on_pointer_shape,
};

/* Messages other than the version request need a negotiated version. */
static int sv_packet(void *opaque, struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
	struct synthvid *sv = opaque;
	struct synthvid_msg m;
	const char *why;

	(void)ch;
	if (pkt->type != VMBUS_PKT_DATA_INBAND) {
		guest_error(sv, NULL, "packet is not in-band data");
		return VMBUS_PACKET_DONE;
	}
	if (synthvid_msg_parse(pkt->data, pkt->len, &m, &why) < 0) {
		guest_error(sv, NULL, why);
		return VMBUS_PACKET_DONE;
	}
	pthread_mutex_lock(&sv->lock);
	sv->stats.messages++;
	pthread_mutex_unlock(&sv->lock);
	if (m.type != SYNTHVID_VERSION_REQUEST && !sv->version) {
		guest_error(sv, NULL, "message before the version was negotiated");
		return VMBUS_PACKET_DONE;
	}
	if (!handlers[m.type])
		return VMBUS_PACKET_DONE;
	return handlers[m.type](sv, &m);
}

static void sv_wake(void *opaque, struct vmbus_channel *ch)
{
	(void)ch;
	send_feature_change(opaque);
}

static int sv_open(void *opaque, struct vmbus_channel *ch, const uint8_t *user_data)
{
	struct synthvid *sv = opaque;

	(void)ch;
	(void)user_data;
	sv->version = 0;
	sv->feature_sent = -1;
	return 0;
}

static void sv_close(void *opaque, struct vmbus_channel *ch)
{
	struct synthvid *sv = opaque;

	(void)ch;
	/* A closed channel's guest driver is gone: its VRAM placement with it. */
	if (place(sv, NO_GPA) < 0)
		sv->vram_gpa = NO_GPA;
	sv->version = 0;
	pthread_mutex_lock(&sv->lock);
	sv->stats.version = 0;
	sv->mode = (struct synthvid_mode){0};
	sv->generation++;
	sv->ndirt = 0;
	pthread_mutex_unlock(&sv->lock);
	notify(sv);
}

/*
 * Saved state, format 1: u32 format, u32 version, u64 VRAM GPA (NO_GPA: not
 * placed), i32 feature change last sent; the mode (u8 active, u32 width,
 * height, pitch, depth); the pointer (u8 visible, i32 x, y, u32 width,
 * height, hot x, hot y, u8 ARGB) and u32 length and bytes of its shape.
 * The VRAM's contents are the worker's (mapped guest memory, saved with it).
 */
static int sv_save(void *opaque, struct vmbus_channel *ch, struct state_out *out)
{
	struct synthvid *sv = opaque;

	state_out_u32(out, 1);
	state_out_u32(out, sv->version);
	state_out_u64(out, sv->vram_gpa);
	state_out_u32(out, (uint32_t)sv->feature_sent);
	pthread_mutex_lock(&sv->lock);
	state_out_u8(out, sv->mode.active);
	state_out_u32(out, sv->mode.width);
	state_out_u32(out, sv->mode.height);
	state_out_u32(out, sv->mode.pitch);
	state_out_u32(out, sv->mode.depth);
	state_out_u8(out, sv->pointer.visible);
	state_out_u32(out, (uint32_t)sv->pointer.x);
	state_out_u32(out, (uint32_t)sv->pointer.y);
	state_out_u32(out, sv->pointer.shape_width);
	state_out_u32(out, sv->pointer.shape_height);
	state_out_u32(out, sv->pointer.hot_x);
	state_out_u32(out, sv->pointer.hot_y);
	state_out_u8(out, sv->pointer.shape_argb);
	state_out_u32(out, (uint32_t)sv->shape_len);
	state_out_bytes(out, sv->shape, sv->shape_len);
	pthread_mutex_unlock(&sv->lock);
	return 0;
}

static int sv_load(void *opaque, struct vmbus_channel *ch, struct state_in *in, char *err,
		   size_t errlen)
{
	struct synthvid *sv = opaque;
	uint32_t format = state_in_u32(in), version = state_in_u32(in);
	uint64_t gpa = state_in_u64(in);
	int32_t feature = (int32_t)state_in_u32(in);
	struct synthvid_mode mode = {0};
	struct synthvid_pointer p = {0};
	uint32_t shape_len;
	bool open = vmbus_channel_state(ch) == VMBUS_CHANNEL_OPEN;

	mode.active = state_in_u8(in) != 0;
	mode.width = state_in_u32(in);
	mode.height = state_in_u32(in);
	mode.pitch = state_in_u32(in);
	mode.depth = state_in_u32(in);
	p.visible = state_in_u8(in) != 0;
	p.x = (int32_t)state_in_u32(in);
	p.y = (int32_t)state_in_u32(in);
	p.shape_width = state_in_u32(in);
	p.shape_height = state_in_u32(in);
	p.hot_x = state_in_u32(in);
	p.hot_y = state_in_u32(in);
	p.shape_argb = state_in_u8(in) != 0;
	shape_len = state_in_u32(in);
	if (in->error || format != 1 || (version && (!version_ok(version) || !open)) ||
	    (gpa != NO_GPA && (!version || !in_window(sv, gpa))) || feature < -1 || feature > 1 ||
	    shape_len > sizeof(sv->shape) || shape_len > in->len - in->pos ||
	    (mode.active && (!version || (mode.depth != 16 && mode.depth != 32) ||
			     (uint64_t)mode.pitch * mode.height > sv->cfg.vram_size ||
			     (uint64_t)mode.width * (mode.depth / 8) > mode.pitch))) {
		snprintf(err, errlen,
			 "video state: format %u, version %#x, VRAM at %#llx, mode %ux%u", format,
			 version, (unsigned long long)gpa, mode.width, mode.height);
		return -EINVAL;
	}
	if (gpa != NO_GPA && place(sv, gpa) < 0) {
		snprintf(err, errlen, "cannot map the VRAM at %#llx again",
			 (unsigned long long)gpa);
		return -EIO;
	}
	sv->version = version;
	sv->feature_sent = feature;
	pthread_mutex_lock(&sv->lock);
	sv->stats.version = version;
	sv->mode = mode;
	sv->generation++;
	sv->ndirt = 0; /* the console redraws the whole screen */
	sv->dirt_overflow = false;
	p.shape_generation = sv->pointer.shape_generation + 1;
	sv->pointer = p;
	sv->shape_len = shape_len;
	state_in_bytes(in, sv->shape, shape_len);
	pthread_mutex_unlock(&sv->lock);
	notify(sv);
	return 0;
}

static const struct vmbus_channel_ops sv_ops = {
	.save = sv_save,
	.load = sv_load,
	.vsp_name = "synthvid",
	.open = sv_open,
	.packet = sv_packet,
	.wake = sv_wake,
	.close = sv_close,
};

int synthvid_new(struct vmbus_server *s, const struct synthvid_config *cfg, struct synthvid **ret)
{
	struct vmbus_channel_params params = {
		.name = "synthvid",
		.pipe_message_mode = true,
		.max_packet_size = ALIGN_UP(SYNTHVID_MAX_GUEST_MSG + 64, 8),
	};
	struct synthvid *sv = calloc(1, sizeof(*sv));
	int r;

	if (!sv)
		return -ENOMEM;
	sv->cfg = *cfg;
	if (!sv->cfg.vram_size)
		sv->cfg.vram_size = SYNTHVID_DEFAULT_VRAM;
	if (!sv->cfg.default_width || !sv->cfg.default_height) {
		sv->cfg.default_width = 1024;
		sv->cfg.default_height = 768;
	}
	r = -EINVAL;
	if (!IS_ALIGNED(sv->cfg.vram_size, MiB) || sv->cfg.vram_size / MiB > UINT16_MAX ||
	    sv->cfg.vram_size < 640 * 480 * 4)
		goto fail;
	params.mmio_megabytes = (uint16_t)(sv->cfg.vram_size / MiB);
	if (guid_parse(SYNTHVID_CLASS_GUID, &params.class_id) < 0 ||
	    guid_parse(SYNTHVID_INSTANCE_GUID, &params.instance_id) < 0)
		goto fail;
	sv->vram = cfg->vram;
	if (!sv->vram) {
		sv->vram = mmap(NULL, sv->cfg.vram_size, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (sv->vram == MAP_FAILED) {
			r = -errno;
			sv->vram = NULL;
			goto fail;
		}
		sv->own_vram = true;
	}
	sv->vram_gpa = NO_GPA;
	sv->stats.vram_gpa = NO_GPA;
	sv->feature_sent = -1;
	pthread_mutex_init(&sv->lock, NULL);
	guest_error_log_init(&sv->errors, "synthvid");
	r = vmbus_channel_new(s, &params, &sv_ops, sv, &sv->ch);
	if (r < 0) {
		pthread_mutex_destroy(&sv->lock);
		goto fail;
	}
	*ret = sv;
	return 0;
fail:
	if (sv->own_vram)
		munmap(sv->vram, sv->cfg.vram_size);
	free(sv);
	return r;
}

struct synthvid *synthvid_free(struct synthvid *sv)
{
	if (!sv)
		return NULL;
	vmbus_channel_free(sv->ch);
	pthread_mutex_destroy(&sv->lock);
	if (sv->own_vram)
		munmap(sv->vram, sv->cfg.vram_size);
	free(sv);
	return NULL;
}

void *synthvid_vram(struct synthvid *sv, uint64_t *size)
{
	if (size)
		*size = sv->cfg.vram_size;
	return sv->vram;
}

void synthvid_get_mode(struct synthvid *sv, struct synthvid_mode *mode)
{
	pthread_mutex_lock(&sv->lock);
	*mode = sv->mode;
	pthread_mutex_unlock(&sv->lock);
}

unsigned synthvid_take_dirt(struct synthvid *sv, struct synthvid_rect *rects, unsigned max,
			    uint64_t *generation)
{
	unsigned n, i;

	pthread_mutex_lock(&sv->lock);
	n = sv->ndirt;
	if (n > max && max) {
		for (i = 1; i < n; i++)
			merge(&sv->dirt[0], &sv->dirt[i]);
		n = 1;
	}
	if (!max)
		n = 0;
	memcpy(rects, sv->dirt, n * sizeof(*rects));
	sv->ndirt = 0;
	sv->dirt_overflow = false;
	if (generation)
		*generation = sv->generation;
	pthread_mutex_unlock(&sv->lock);
	return n;
}

void synthvid_set_dirt_needed(struct synthvid *sv, bool needed)
{
	if (atomic_exchange(&sv->dirt_needed, needed) != needed)
		vmbus_channel_wake(sv->ch);
}

void synthvid_get_pointer(struct synthvid *sv, struct synthvid_pointer *p)
{
	pthread_mutex_lock(&sv->lock);
	*p = sv->pointer;
	pthread_mutex_unlock(&sv->lock);
}

size_t synthvid_get_pointer_shape(struct synthvid *sv, uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&sv->lock);
	if (sv->shape_len <= len) {
		memcpy(buf, sv->shape, sv->shape_len);
		n = sv->shape_len;
	}
	pthread_mutex_unlock(&sv->lock);
	return n;
}

void synthvid_get_stats(struct synthvid *sv, struct synthvid_stats *st)
{
	pthread_mutex_lock(&sv->lock);
	*st = sv->stats;
	st->bad_messages = sv->stats.bad_messages;
	pthread_mutex_unlock(&sv->lock);
}
