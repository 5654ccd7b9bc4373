/* The machine's console devices (vmconnect.h). */
#include "vmwp/vmconnect.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>

#include "emu/pci_video.h"

struct vmconnect {
	struct partition *partition;
	struct rfb_server *server;
	struct pci_video *pci_video;
	struct synthvid *video;
	struct synthkbd *kbd;
	struct synthhid *mouse;
};

/* The video channel's loop: the guest's VRAM_LOCATION moves the memory slot. */
static int place_vram(void *opaque, uint64_t gpa, void *hva, uint64_t size)
{
	struct vmconnect *v = opaque;

	return partition_set_device_memory(v->partition, 0, gpa, hva, size);
}

static void notify(void *opaque)
{
	struct vmconnect *v = opaque;

	if (v->server)
		rfb_server_video_notify(v->server);
}

static const struct synthvid_host_ops video_ops = {.place_vram = place_vram, .notify = notify};

int vmconnect_new(struct partition *p, struct pci_host *pci, struct vmbus_host *vmbus,
		  struct rfb_server *server, struct vmconnect **ret)
{
	struct vmconnect *v = calloc(1, sizeof(*v));
	struct synthvid_config vc = {.ops = &video_ops};
	int r;

	if (!v)
		return -ENOMEM;
	v->partition = p;
	v->server = server;
	vc.opaque = v;
	if (server)
		vc.vram = rfb_server_vram(server, &vc.vram_size);
	vmbus_host_mmio_window(vmbus, &vc.window_base, &vc.window_size);
	r = pci_video_new(pci, VMCONNECT_VIDEO_DEVFN, &v->pci_video);
	/* Offered after the ICs and storage, in Hyper-V's order: video, keyboard, mouse. */
	if (r == 0)
		r = synthvid_new(vmbus_host_server(vmbus), &vc, &v->video);
	if (r == 0)
		r = synthkbd_new(vmbus_host_server(vmbus), &v->kbd);
	if (r == 0)
		r = synthhid_new(vmbus_host_server(vmbus), &v->mouse);
	if (r < 0) {
		vmconnect_free(v);
		return r;
	}
	if (server)
		rfb_server_attach(server, v->video, v->kbd, v->mouse);
	*ret = v;
	return 0;
}

struct vmconnect *vmconnect_free(struct vmconnect *v)
{
	if (!v)
		return NULL;
	if (v->server)
		rfb_server_attach(v->server, NULL, NULL, NULL);
	/* The video's close callback notifies: nothing to tell once detached. */
	v->server = NULL;
	synthhid_free(v->mouse);
	synthkbd_free(v->kbd);
	synthvid_free(v->video);
	pci_video_free(v->pci_video);
	free(v);
	return NULL;
}

struct synthvid *vmconnect_video(struct vmconnect *v)
{
	return v->video;
}

struct pci_video *vmconnect_pci_video(struct vmconnect *v)
{
	return v->pci_video;
}

struct synthkbd *vmconnect_keyboard(struct vmconnect *v)
{
	return v->kbd;
}

struct synthhid *vmconnect_mouse(struct vmconnect *v)
{
	return v->mouse;
}

#define ADD_U64(o, st, f) json_object_object_add(o, #f, json_object_new_int64((int64_t)(st).f))

static struct json_object *video_json(struct synthvid *sv)
{
	struct json_object *o = json_object_new_object();
	struct synthvid_stats st;
	struct synthvid_mode m;

	synthvid_get_stats(sv, &st);
	synthvid_get_mode(sv, &m);
	json_object_object_add(
		o, "version",
		st.version ? json_object_new_string(st.version == SYNTHVID_VERSION_WIN10  ? "3.5"
						    : st.version == SYNTHVID_VERSION_WIN8 ? "3.2"
											  : "3.0")
			   : NULL);
	json_object_object_add(
		o, "vram-gpa",
		st.vram_gpa == UINT64_MAX ? NULL : json_object_new_int64((int64_t)st.vram_gpa));
	json_object_object_add(o, "width", json_object_new_int((int)m.width));
	json_object_object_add(o, "height", json_object_new_int((int)m.height));
	json_object_object_add(o, "depth", json_object_new_int((int)m.depth));
	ADD_U64(o, st, messages);
	ADD_U64(o, st, bad_messages);
	ADD_U64(o, st, refused_versions);
	ADD_U64(o, st, refused_vram);
	ADD_U64(o, st, refused_modes);
	ADD_U64(o, st, dirt_messages);
	ADD_U64(o, st, dirt_rects);
	ADD_U64(o, st, dirt_clipped);
	ADD_U64(o, st, situation_updates);
	ADD_U64(o, st, pointer_updates);
	ADD_U64(o, st, feature_changes_sent);
	return o;
}

static struct json_object *keyboard_json(struct synthkbd *k)
{
	struct json_object *o = json_object_new_object();
	struct synthkbd_stats st;

	synthkbd_get_stats(k, &st);
	json_object_object_add(o, "ready", json_object_new_boolean(st.ready));
	json_object_object_add(o, "leds", json_object_new_int(st.leds));
	ADD_U64(o, st, events_sent);
	ADD_U64(o, st, events_dropped);
	ADD_U64(o, st, messages);
	ADD_U64(o, st, bad_messages);
	ADD_U64(o, st, refused_versions);
	return o;
}

static struct json_object *mouse_json(struct synthhid *m)
{
	struct json_object *o = json_object_new_object();
	struct synthhid_stats st;

	synthhid_get_stats(m, &st);
	json_object_object_add(o, "ready", json_object_new_boolean(st.ready));
	ADD_U64(o, st, reports_sent);
	ADD_U64(o, st, reports_dropped);
	ADD_U64(o, st, messages);
	ADD_U64(o, st, bad_messages);
	ADD_U64(o, st, refused_versions);
	return o;
}

struct json_object *vmconnect_status_json(struct vmconnect *v, struct rfb_server *server)
{
	struct json_object *o;

	if (!v && !server)
		return NULL;
	o = json_object_new_object();
	if (server) {
		struct json_object *s = json_object_new_object();
		struct rfb_server_stats st;

		rfb_server_get_stats(server, &st);
		json_object_object_add(s, "clients", json_object_new_int((int)st.clients));
		json_object_object_add(s, "tcp", json_object_new_boolean(st.tcp));
		json_object_object_add(s, "width", json_object_new_int((int)st.width));
		json_object_object_add(s, "height", json_object_new_int((int)st.height));
		ADD_U64(s, st, connections);
		ADD_U64(s, st, updates_marked);
		ADD_U64(s, st, key_events);
		ADD_U64(s, st, keys_unmapped);
		ADD_U64(s, st, pointer_events);
		ADD_U64(s, st, cursor_shapes);
		ADD_U64(s, st, cursor_refused);
		json_object_object_add(s, "source",
				       json_object_new_string(st.vga ? "vga" : "synthvid"));
		ADD_U64(s, st, vga_frames);
		ADD_U64(s, st, vga_bands);
		ADD_U64(s, st, i8042_keys);
		json_object_object_add(o, "attached", json_object_new_boolean(st.clients > 0));
		json_object_object_add(o, "server", s);
	} else {
		json_object_object_add(o, "attached", json_object_new_boolean(0));
	}
	if (v) {
		json_object_object_add(o, "video", video_json(v->video));
		json_object_object_add(o, "keyboard", keyboard_json(v->kbd));
		json_object_object_add(o, "mouse", mouse_json(v->mouse));
	}
	return o;
}
