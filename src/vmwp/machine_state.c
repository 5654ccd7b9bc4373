/*
 * A whole machine's saved state (machine_state.h; docs/saved-state.md).
 *
 * The file holds, in this order: "config" (the canonical hardware text of
 * config_digest.c, so that a refusal can name what differs), KVM's
 * sections and RAM (vid/partition_state.c), then one section per device
 * of the table below, which is also the order of restore: the emulated
 * devices, then hv, whose load rewrites the hypercall and reference TSC
 * pages in the RAM restored before it; last "vmbus" (vmbus/vmbus_state.c,
 * with every VSP's state), once the guest has contacted the bus.
 */
#include "vmwp/machine_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "emu/acpi_pm.h"
#include "emu/cmos_rtc.h"
#include "emu/dec21140/dec21140.h"
#include "emu/debug_port.h"
#include "emu/fw_cfg.h"
#include "emu/i8042.h"
#include "emu/ide/piix4.h"
#include "emu/pci_host.h"
#include "emu/pci_video.h"
#include "emu/post_port.h"
#include "cpu/cpu_model.h"
#include "emu/uart16550.h"
#include "hv/hv.h"
#include "migration/migration_stream.h"
#include "state/state.h"
#include "vid/guest_memory.h"
#include "vmwp/config_digest.h"
#include "vmwp/firmware.h"
#include "vmwp/firmware_state.h"
#include "vmwp/machine_internal.h"
#include "vmwp/vmconnect.h"
#include "vmwp/vram_state.h"
#include "vsp/synthvid/synthvid.h"

_Static_assert(CONFIG_DIGEST_BYTES == STATE_CONFIG_DIGEST_BYTES, "one digest size");

#define CONFIG_SECTION	       "config"
#define CONFIG_SECTION_VERSION 1u
/*
 * Section "cpu" (v1, text "vendor=ID\nmodel=NAME\n"): the CPU model the state was saved with,
 * resolved ("baseline" is baseline-amd or baseline-intel), and its vendor. Registers, MSRs and
 * XSAVE layouts are the vendor's, so a state restores only on a host of the same vendor, as in
 * Hyper-V. Files from before this section have none; KVM's own checks refuse what does not fit.
 */
#define CPU_SECTION	     "cpu"
#define CPU_SECTION_VERSION  1u
#define CPU_SECTION_MAX	     128u
#define MACHINE_SECTIONS_MAX 24u
#define STATE_NAME_MAX	     256u /* the saved file's name; ".tmp" is added */

/* The devices' typed save and load behind state_section_ops' void pointers. */
#define SECTION_FUNCS(dev)                                                                         \
	static int dev##_save_op(void *opaque, struct state_out *out)                              \
	{                                                                                          \
		return dev##_save(opaque, out);                                                    \
	}                                                                                          \
	static int dev##_load_op(void *opaque, uint32_t version, struct state_in *in,              \
				 char *errbuf, size_t errlen)                                      \
	{                                                                                          \
		return dev##_load(opaque, version, in, errbuf, errlen);                            \
	}
#define SECTION_OPS(dev, section, ver)                                                             \
	{                                                                                          \
		.name = section, .version = ver, .save = dev##_save_op, .load = dev##_load_op      \
	}

SECTION_FUNCS(uart16550)
SECTION_FUNCS(pci_host)
SECTION_FUNCS(pci_video)
SECTION_FUNCS(acpi_pm)
SECTION_FUNCS(i8042)
SECTION_FUNCS(cmos_rtc)
SECTION_FUNCS(post_port)
SECTION_FUNCS(hv)
SECTION_FUNCS(piix4)
SECTION_FUNCS(firmware)
SECTION_FUNCS(fw_cfg)
SECTION_FUNCS(debug_port)
SECTION_FUNCS(vga)
SECTION_FUNCS(dec21140)

/* Section names as in docs/saved-state.md (the fuzz target loads by them). */
static const struct state_section_ops com1_ops =
	SECTION_OPS(uart16550, "uart.com1", UART16550_STATE_VERSION);
static const struct state_section_ops com2_ops =
	SECTION_OPS(uart16550, "uart.com2", UART16550_STATE_VERSION);
static const struct state_section_ops pci_host_ops =
	SECTION_OPS(pci_host, "pci.host", PCI_HOST_STATE_VERSION);
static const struct state_section_ops pci_video_ops =
	SECTION_OPS(pci_video, "pci.video", PCI_VIDEO_STATE_VERSION);
static const struct state_section_ops acpi_pm_ops =
	SECTION_OPS(acpi_pm, "acpi.pm", ACPI_PM_STATE_VERSION);
static const struct state_section_ops i8042_ops = SECTION_OPS(i8042, "i8042", I8042_STATE_VERSION);
static const struct state_section_ops cmos_rtc_ops =
	SECTION_OPS(cmos_rtc, "cmos.rtc", CMOS_RTC_STATE_VERSION);
static const struct state_section_ops post_ops =
	SECTION_OPS(post_port, "post", POST_PORT_STATE_VERSION);
static const struct state_section_ops hv_ops = SECTION_OPS(hv, "hv", HV_STATE_VERSION);
static const struct state_section_ops piix4_ops =
	SECTION_OPS(piix4, "ide.piix4", PIIX4_STATE_VERSION);
/* A machine started from its BIOS (firmware.c): "bios" first, so that another image is named. */
static const struct state_section_ops firmware_ops =
	SECTION_OPS(firmware, FIRMWARE_STATE_SECTION, FIRMWARE_STATE_VERSION);
static const struct state_section_ops fw_cfg_ops =
	SECTION_OPS(fw_cfg, "fw_cfg", FW_CFG_STATE_VERSION);
static const struct state_section_ops debugcon_ops =
	SECTION_OPS(debug_port, "debugcon", DEBUG_PORT_STATE_VERSION);
static const struct state_section_ops vga_ops = SECTION_OPS(vga, "vga", VGA_STATE_VERSION);
/* One per legacy network adapter, by its index (its PCI slot 00:(0a+N).0). */
static const struct state_section_ops dec21140_ops[DEC21140_MAX_ADAPTERS] = {
	SECTION_OPS(dec21140, "dec21140.0", DEC21140_STATE_VERSION),
	SECTION_OPS(dec21140, "dec21140.1", DEC21140_STATE_VERSION),
	SECTION_OPS(dec21140, "dec21140.2", DEC21140_STATE_VERSION),
	SECTION_OPS(dec21140, "dec21140.3", DEC21140_STATE_VERSION),
};

struct machine_section {
	const struct state_section_ops *ops;
	void *dev;
};

/* The BIOS's sections (after pci.host, whose PAM registers it set); returns how many. */
static unsigned firmware_machine_sections(struct machine *m, struct machine_section *t)
{
	unsigned n = 0;

	t[n++] = (struct machine_section){&firmware_ops, m->firmware};
	t[n++] = (struct machine_section){&fw_cfg_ops, firmware_fw_cfg(m->firmware)};
	t[n++] = (struct machine_section){&debugcon_ops, firmware_debug_port(m->firmware)};
	if (firmware_vga(m->firmware))
		t[n++] = (struct machine_section){&vga_ops, firmware_vga(m->firmware)};
	return n;
}

/* The machine's sections in restore order; returns how many. */
static unsigned machine_sections(struct machine *m, struct machine_section *t)
{
	unsigned n = 0;

	t[n++] = (struct machine_section){&com1_ops, m->com1};
	t[n++] = (struct machine_section){&com2_ops, m->com2};
	t[n++] = (struct machine_section){&pci_host_ops, m->pci};
	if (m->firmware)
		n += firmware_machine_sections(m, t + n);
	if (m->piix4)
		t[n++] = (struct machine_section){&piix4_ops, m->piix4};
	for (unsigned k = 0; k < DEC21140_MAX_ADAPTERS; k++) {
		struct dec21140 *d = network_legacy(m->network, k);

		if (d)
			t[n++] = (struct machine_section){&dec21140_ops[k], d};
	}
	if (m->vmconnect)
		t[n++] =
			(struct machine_section){&pci_video_ops, vmconnect_pci_video(m->vmconnect)};
	t[n++] = (struct machine_section){&acpi_pm_ops, m->pm};
	t[n++] = (struct machine_section){&i8042_ops, m->kbc};
	t[n++] = (struct machine_section){&cmos_rtc_ops, m->rtc};
	t[n++] = (struct machine_section){&post_ops, m->post};
	t[n++] = (struct machine_section){&hv_ops, m->hv};
	return n;
}

/*
 * The legacy network adapters' I/O threads stop between two frames (dec21140_quiesce), after
 * the vCPUs and before RAM is written: their DMA into guest RAM ends with it, so the RAM saved
 * and the rings' positions saved agree. Undone on a failed save (the VM goes on).
 */
static void legacy_quiesce(struct machine *m, bool on)
{
	for (unsigned k = 0; k < DEC21140_MAX_ADAPTERS; k++) {
		struct dec21140 *d = network_legacy(m->network, k);

		if (d && on)
			dec21140_quiesce(d);
		else if (d)
			dec21140_unquiesce(d);
	}
}

/*
 * Section "vmbus" (vmbus/vmbus_state.c), last: only once the guest has contacted the bus.
 * Before that the bus holds nothing of the guest's, and its channels come back from the
 * configuration.
 */
static int write_vmbus(struct machine *m, struct state_writer *w, char *err, size_t errlen)
{
	struct vmbus_server *s = vmbus_host_server(m->vmbus);
	int r;

	if (!vmbus_host_guest_contacted(m->vmbus))
		return 0;
	r = vmbus_server_save(s, w);
	if (r < 0)
		snprintf(err, errlen, "VMBus: %s",
			 vmbus_server_save_error(s)[0] ? vmbus_server_save_error(s) : strerror(-r));
	return r;
}

static int cpu_section_write(struct machine *m, struct state_writer *w)
{
	const struct cpu_model *cm = partition_cpu_model(m->partition);
	char text[CPU_SECTION_MAX];
	int n = snprintf(text, sizeof(text), "vendor=%s\nmodel=%s\n", cm->vendor_id, cm->name);

	return state_writer_section(w, CPU_SECTION, CPU_SECTION_VERSION, text, (size_t)n);
}

/* The value of "key=" in a section's text lines, into out (at most outlen - 1 bytes). */
static bool cpu_section_value(const char *text, size_t len, const char *key, char *out,
			      size_t outlen)
{
	size_t klen = strlen(key);

	for (size_t at = 0; at < len;) {
		const char *line = text + at, *nl = memchr(line, '\n', len - at);
		size_t llen = nl ? (size_t)(nl - line) : len - at;

		if (llen > klen && !memcmp(line, key, klen) && line[klen] == '=' &&
		    llen - klen - 1 < outlen) {
			memcpy(out, line + klen + 1, llen - klen - 1);
			out[llen - klen - 1] = '\0';
			return true;
		}
		at += llen + 1;
	}
	return false;
}

/* A state saved on another CPU vendor is refused, naming both (section "cpu" above). */
static int cpu_section_check(struct machine *m, struct state_reader *r, char *err, size_t errlen)
{
	const struct cpu_model *cm = partition_cpu_model(m->partition);
	char vendor[16] = "", model[32] = "?", why[64];
	uint32_t version;
	void *saved = NULL;
	size_t len = 0;
	int ret;

	if (!state_reader_has(r, CPU_SECTION))
		return 0;
	ret = state_reader_section(r, CPU_SECTION, &version, &saved, &len, why, sizeof(why));
	if (ret == 0 && (version != CPU_SECTION_VERSION || len > CPU_SECTION_MAX ||
			 !cpu_section_value(saved, len, "vendor", vendor, sizeof(vendor))))
		ret = -EINVAL;
	if (ret < 0)
		snprintf(err, errlen, "section 'cpu': unreadable (version %u, %zu bytes)", version,
			 len);
	else if ((void)cpu_section_value(saved, len, "model", model, sizeof(model)),
		 strcmp(vendor, cm->vendor_id)) {
		snprintf(
			err, errlen,
			"the saved state was made on an %s host (CPU model %s); this host's CPU is "
			"%s, and a VM's state restores only on a host of the same CPU vendor",
			vendor, model, cm->vendor_id);
		ret = -ESTALE;
	}
	free(saved);
	return ret;
}

/*
 * Guest-visible memory outside RAM, by vram_state.c's chunks: the synthetic video's VRAM
 * ("video.vram.N": the screen as the guest left it), the VGA's framebuffer ("vga.lfb.N") and
 * the BIOS image's copy ("bios.rom.N", writable by the guest like RAM). Returns how many.
 */
struct memory_chunks {
	const char *prefix;
	uint8_t *mem;
	uint64_t size;
	bool whole; /* vram_state_read's: the BIOS copy holds the image until the load */
};
#define MEMORY_CHUNKS_MAX 3u

static unsigned memory_chunks(struct machine *m, struct memory_chunks *t)
{
	unsigned n = 0;
	uint64_t size = 0;

	if (m->vmconnect) {
		uint8_t *vram = synthvid_vram(vmconnect_video(m->vmconnect), &size);

		t[n++] = (struct memory_chunks){VRAM_STATE_PREFIX, vram, size, false};
	}
	if (firmware_vga(m->firmware))
		t[n++] = (struct memory_chunks){VGA_LFB_PREFIX,
						vga_framebuffer(firmware_vga(m->firmware)),
						VGA_LFB_SIZE, false};
	if (m->firmware) {
		uint8_t *rom = firmware_rom(m->firmware, &size);

		t[n++] = (struct memory_chunks){FIRMWARE_ROM_PREFIX, rom, size, true};
	}
	return n;
}

static int write_memory(struct machine *m, struct state_writer *w, char *err, size_t errlen)
{
	struct memory_chunks t[MEMORY_CHUNKS_MAX];
	unsigned i, n = memory_chunks(m, t);
	int r = 0;

	for (i = 0; r == 0 && i < n; i++)
		r = vram_state_write(w, t[i].prefix, t[i].mem, t[i].size, err, errlen);
	return r;
}

/* A file from before the VRAM's sections has none: a black screen until the guest redraws. */
static int load_memory(struct machine *m, struct state_reader *r, char *err, size_t errlen)
{
	struct memory_chunks t[MEMORY_CHUNKS_MAX];
	unsigned i, n = memory_chunks(m, t);
	int ret = 0;

	for (i = 0; ret == 0 && i < n; i++)
		ret = vram_state_read(r, t[i].prefix, t[i].mem, t[i].size, t[i].whole, err, errlen);
	return ret;
}

static int write_sections(struct machine *m, const struct vm_config *cfg, int fd, bool with_ram,
			  const struct machine_save_progress *progress, char *err, size_t errlen)
{
	struct machine_section t[MACHINE_SECTIONS_MAX];
	uint8_t digest[CONFIG_DIGEST_BYTES];
	struct state_writer *w = NULL;
	char *text = config_hardware_text(cfg);
	unsigned i, n = machine_sections(m, t);
	int r = text ? config_digest(cfg, digest) : -ENOMEM;

	if (r == 0)
		r = state_writer_new(fd, digest,
				     guest_memory_ram_size(partition_memory(m->partition)), &w);
	if (r == 0 && progress && progress->fn)
		state_writer_set_progress(w, progress->fn, progress->opaque);
	if (r == 0)
		r = state_writer_section(w, CONFIG_SECTION, CONFIG_SECTION_VERSION, text,
					 strlen(text));
	if (r == 0)
		r = cpu_section_write(m, w);
	if (r < 0)
		snprintf(err, errlen, "cannot start the file: %s", strerror(-r));
	if (r == 0)
		r = with_ram ? partition_save_state(m->partition, w, err, errlen)
			     : partition_save_state_without_ram(m->partition, w, err, errlen);
	for (i = 0; r == 0 && i < n; i++) {
		r = state_save_device(w, t[i].ops, t[i].dev);
		if (r < 0)
			snprintf(err, errlen, "cannot save section '%s': %s", t[i].ops->name,
				 strerror(-r));
	}
	if (r == 0)
		r = write_memory(m, w, err, errlen);
	if (r == 0)
		r = write_vmbus(m, w, err, errlen);
	if (r == 0) {
		r = state_writer_finish(w);
		if (r < 0)
			snprintf(err, errlen, "cannot finish the file: %s", strerror(-r));
	}
	state_writer_free(w);
	free(text);
	return r;
}

/*
 * The directory of the file and the file's name in it: dirfd if the caller gave one (the
 * name is path's last component), else path's directory opened here (*owned set).
 */
static int open_directory(int dirfd, const char *path, int *ret_fd, const char **ret_name,
			  bool *owned, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	int fd;

	*owned = false;
	if (path[0] != '/' || !slash || !slash[1] || strlen(slash + 1) >= STATE_NAME_MAX) {
		snprintf(err, errlen, "\"path\" %s: give the absolute path of a file", path);
		return -EINVAL;
	}
	*ret_name = slash + 1;
	if (dirfd != AT_FDCWD) {
		*ret_fd = dirfd;
		return 0;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;

		snprintf(err, errlen, "directory %.256s: %s", dir, strerror(errno));
		return r;
	}
	*ret_fd = fd;
	*owned = true;
	return 0;
}

int machine_save(struct machine *m, const struct vm_config *cfg, int dirfd, const char *path,
		 const struct machine_save_progress *progress, struct machine_save_result *res,
		 char *err, size_t errlen)
{
	uint64_t t0 = time_monotonic_ns();
	char tmp[STATE_NAME_MAX + 8], why[384] = "";
	const char *name = NULL;
	struct stat st;
	bool owned = false, quiesced;
	int dfd = -1, fd = -1, r;

	/* The vCPUs are paused: the bus stops at a packet boundary once disk I/O is answered. */
	quiesced = vmbus_host_guest_contacted(m->vmbus);
	if (quiesced) {
		r = vmbus_server_quiesce(vmbus_host_server(m->vmbus), why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "cannot save the VM: VMBus does not quiesce: %s",
				 why);
			return r;
		}
	}
	legacy_quiesce(m, true);
	r = open_directory(dirfd, path, &dfd, &name, &owned, why, sizeof(why));
	if (r == 0) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", name);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = -errno;
			snprintf(why, sizeof(why), "cannot create %s.tmp: %s", path,
				 strerror(errno));
		}
	}
	if (r == 0)
		r = write_sections(m, cfg, fd, true, progress, why, sizeof(why));
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0) {
		r = -errno;
		snprintf(why, sizeof(why), "cannot rename %s.tmp to %s: %s", path, name,
			 strerror(errno));
	}
	/* The rename reaches the disk with the directory (ext4 orders it, others may not). */
	if (r == 0 && fsync(dfd) < 0 && errno != EINVAL) {
		r = -errno;
		snprintf(why, sizeof(why), "cannot sync the directory of %s: %s", path,
			 strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	if (r < 0 && fd >= 0 && unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT)
		pv_log(LOG_WARN, "saved state: cannot remove %s.tmp: %s", path, strerror(errno));
	if (owned)
		close(dfd);
	if (r < 0) {
		snprintf(err, errlen, "cannot save the VM to %s: %s", path,
			 why[0] ? why : strerror(-r));
		legacy_quiesce(m, false); /* as if nothing happened */
		if (quiesced)
			vmbus_server_unquiesce(vmbus_host_server(m->vmbus));
		return r;
	}
	/* Saved: the bus and the legacy adapters stay quiesced, the machine is about to be freed.
	 */
	res->bytes = (uint64_t)st.st_size;
	res->ms = (time_monotonic_ns() - t0) / 1000000;
	return 0;
}

/* After a digest mismatch: names the hardware that differs, from the file's "config". */
static void name_difference(struct state_reader *r, const struct vm_config *cfg, char *err,
			    size_t errlen)
{
	char *ours = config_hardware_text(cfg), what[320] = "", why[64];
	uint32_t version;
	void *saved = NULL;
	size_t len = 0;

	if (ours &&
	    state_reader_section(r, CONFIG_SECTION, &version, &saved, &len, why, sizeof(why)) ==
		    0 &&
	    config_text_difference(saved, len, ours, strlen(ours), what, sizeof(what)))
		snprintf(err, errlen,
			 "the saved state was made with other hardware than this VM's: %s", what);
	free(saved);
	free(ours);
}

/* Every section of the file is one this machine restores: no device's state is dropped. */
static int check_sections(struct machine *m, struct state_reader *r,
			  const struct machine_section *t, unsigned n, char *err, size_t errlen)
{
	struct memory_chunks c[MEMORY_CHUNKS_MAX];
	unsigned nc = memory_chunks(m, c);
	static const char *const own[] = {CONFIG_SECTION, CPU_SECTION,	      "kvm.irqchip",
					  "kvm.pit",	  "kvm.clock",	      "ram",
					  "ram.index",	  VMBUS_STATE_SECTION};
	const char *name;
	unsigned i, j;

	for (i = 0; (name = state_reader_section_name(r, i, NULL, NULL)); i++) {
		/* partition_load_state counts the vCPUs, load_memory the memory chunks */
		bool known = !strncmp(name, "vcpu.", 5);

		for (j = 0; !known && j < nc; j++)
			known = !strncmp(name, c[j].prefix, strlen(c[j].prefix));
		for (j = 0; !known && j < ARRAY_SIZE(own); j++)
			known = !strcmp(name, own[j]);
		for (j = 0; !known && j < n; j++)
			known = !strcmp(name, t[j].ops->name);
		if (!known) {
			snprintf(err, errlen,
				 "the saved state has section '%s', which this VM has no device "
				 "for (a newer build's file, or another configuration)",
				 name);
			return -ESTALE;
		}
	}
	return 0;
}

/* RAM from the file (with_ram: read at once, or lazily through uffd >= 0, which is taken). */
static int load_sections(struct machine *m, struct state_reader *r, bool with_ram, int uffd,
			 char *err, size_t errlen)
{
	struct machine_section t[MACHINE_SECTIONS_MAX];
	unsigned i, n = machine_sections(m, t);
	char why[384];
	int ret;

	ret = check_sections(m, r, t, n, err, errlen);
	if (ret == 0)
		ret = cpu_section_check(m, r, err, errlen);
	if (ret < 0) {
		if (uffd >= 0)
			close(uffd);
		return ret;
	}
	/* Lazy RAM first: the loads below touch RAM (hv's pages, VMBus rings), served as faults. */
	ret = with_ram ? partition_load_state_lazy(m->partition, r, uffd, why, sizeof(why))
		       : partition_load_state_without_ram(m->partition, r, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, errlen, "%s", why);
		return ret;
	}
	for (i = 0; i < n; i++) {
		ret = state_load_device(r, t[i].ops, t[i].dev, why, sizeof(why));
		if (ret < 0) {
			snprintf(err, errlen, "section '%s': %s", t[i].ops->name, why);
			return ret;
		}
	}
	ret = load_memory(m, r, err, errlen);
	if (ret < 0)
		return ret;
	/* After RAM and hv, before any vCPU (vmbus.h); absent: the guest never contacted it. */
	if (state_reader_has(r, VMBUS_STATE_SECTION)) {
		ret = vmbus_server_load(vmbus_host_server(m->vmbus), r, why, sizeof(why));
		if (ret < 0) {
			snprintf(err, errlen, "section 'vmbus': %s", why);
			return ret;
		}
	}
	return 0;
}

int machine_restore_new(const struct vm_config *cfg, struct boot_files *files,
			struct state_reader *r, int uffd, struct console *com1,
			struct console *com2, struct rfb_server *screen, struct machine **ret,
			bool *config_error, char *err, size_t errlen)
{
	uint8_t digest[CONFIG_DIGEST_BYTES];
	struct machine *m;
	int rc;

	*config_error = false;
	rc = config_digest(cfg, digest);
	if (rc < 0)
		snprintf(err, errlen, "configuration digest: %s", strerror(-rc));
	if (rc == 0)
		rc = state_reader_match(r, digest, cfg->memory_bytes, err, errlen);
	if (rc == -ESTALE && state_reader_info(r)->memory_bytes == cfg->memory_bytes)
		name_difference(r, cfg, err, errlen);
	if (rc == 0)
		rc = machine_build(cfg, files, false, com1, com2, screen, &m, config_error, err,
				   errlen);
	if (rc < 0) {
		if (uffd >= 0)
			close(uffd);
		return rc;
	}
	rc = load_sections(m, r, true, uffd, err, errlen);
	if (rc < 0) {
		machine_free(m);
		return rc;
	}
	machine_attach_vga(m, screen);
	*ret = m;
	return 0;
}

void machine_restore_started(struct machine *m)
{
	hv_synic_resume_interrupts(m->hv);
	/* Made quiesced (machine_build): INTA# driven now, over the restored IOAPIC, then frames.
	 */
	for (unsigned k = 0; k < DEC21140_MAX_ADAPTERS; k++) {
		struct dec21140 *d = network_legacy(m->network, k);

		if (d)
			dec21140_restore_started(d);
	}
}

int machine_save_devices(struct machine *m, const struct vm_config *cfg, int fd, bool *quiesced,
			 char *err, size_t errlen)
{
	char why[384] = "";
	int r;

	*quiesced = false;
	if (vmbus_host_guest_contacted(m->vmbus)) {
		r = vmbus_server_quiesce(vmbus_host_server(m->vmbus), why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "VMBus does not quiesce: %s", why);
			return r;
		}
		*quiesced = true;
	}
	legacy_quiesce(m, true);
	r = write_sections(m, cfg, fd, false, NULL, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "cannot save the devices: %s", why[0] ? why : strerror(-r));
		machine_unquiesce(m, *quiesced);
		*quiesced = false;
	}
	return r;
}

void machine_unquiesce(struct machine *m, bool quiesced)
{
	legacy_quiesce(m, false);
	if (quiesced)
		vmbus_server_unquiesce(vmbus_host_server(m->vmbus));
}

int machine_incoming_new(const struct vm_config *cfg, struct boot_files *files,
			 struct migration_reader *in, struct console *com1, struct console *com2,
			 struct rfb_server *screen, struct machine **ret, bool *config_error,
			 char *err, size_t errlen)
{
	uint8_t digest[CONFIG_DIGEST_BYTES];
	struct machine *m;
	int rc;

	*config_error = false;
	rc = config_digest(cfg, digest);
	if (rc < 0) {
		snprintf(err, errlen, "configuration digest: %s", strerror(-rc));
		return rc;
	}
	rc = migration_reader_match(in, digest, cfg->memory_bytes, err, errlen);
	if (rc < 0)
		return rc;
	rc = machine_build(cfg, files, false, com1, com2, screen, &m, config_error, err, errlen);
	if (rc < 0)
		return rc;
	/* The memfd is mapped whole at region 0's address (guest_memory.c). */
	rc = migration_reader_run(in, guest_memory_region(partition_memory(m->partition), 0)->hva,
				  err, errlen);
	if (rc == 0)
		rc = load_sections(m, migration_reader_devices(in), false, -1, err, errlen);
	if (rc < 0) {
		machine_free(m);
		return rc;
	}
	machine_attach_vga(m, screen);
	*ret = m;
	return 0;
}
