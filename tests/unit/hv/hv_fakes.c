/* The fake platform of hv_fakes.h. */
#include "hv_fakes.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "hvdef/tlfs_msr.h"

static int fake_signal_msi(void *opaque, uint64_t address, uint32_t data)
{
	struct fake_platform *fp = opaque;
	int r = 0;

	pthread_mutex_lock(&fp->lock);
	if (fp->msi_fails) {
		r = -5;
	} else if (fp->nmsi < FAKE_MAX_MSI) {
		fp->msi_address[fp->nmsi] = address;
		fp->msi_data[fp->nmsi] = data;
		fp->nmsi++;
	}
	pthread_mutex_unlock(&fp->lock);
	return r;
}

static int fake_read_tsc(void *opaque, unsigned vp, uint64_t *tsc)
{
	struct fake_platform *fp = opaque;

	if (fp->tsc_fails)
		return -5;
	*tsc = fp->tsc;
	return 0;
}

static uint64_t fake_runtime(void *opaque, unsigned vp)
{
	struct fake_platform *fp = opaque;

	return fp->runtime_ns;
}

static const struct hv_platform_ops fake_ops = {
	.signal_msi = fake_signal_msi,
	.read_tsc = fake_read_tsc,
	.vp_runtime_ns = fake_runtime,
};

void fake_platform_init(struct fake_platform *fp, uint64_t ram)
{
	memset(fp, 0, sizeof(*fp));
	pthread_mutex_init(&fp->lock, NULL);
	assert_int_equal(guest_memory_new(ram, &fp->mem), 0);
}

int fake_hv_create(struct fake_platform *fp, unsigned vps, uint64_t tsc_hz,
		   const struct hv_config *cfg, struct hv **ret)
{
	struct hv_config def = {0};
	struct hv_platform p = {
		.ops = &fake_ops, .opaque = fp, .mem = fp->mem, .vp_count = vps, .tsc_hz = tsc_hz};

	return hv_create(&p, cfg ? cfg : &def, ret);
}

void fake_hv_new(struct fake_platform *fp, unsigned vps, uint64_t ram, const struct hv_config *cfg,
		 struct hv **ret)
{
	fake_platform_init(fp, ram);
	assert_int_equal(fake_hv_create(fp, vps, FAKE_TSC_HZ, cfg, ret), 0);
}

void fake_hv_free(struct fake_platform *fp, struct hv *hv)
{
	hv_free(hv);
	guest_memory_free(fp->mem);
	pthread_mutex_destroy(&fp->lock);
}

unsigned fake_msi_count(struct fake_platform *fp)
{
	unsigned n;

	pthread_mutex_lock(&fp->lock);
	n = fp->nmsi;
	pthread_mutex_unlock(&fp->lock);
	return n;
}

void fake_enable_hypercalls(struct hv *hv, uint64_t page_gpa)
{
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_GUEST_OS_ID, FAKE_OS_ID), 0);
	assert_int_equal(hv_msr_write(hv, 0, HV_MSR_HYPERCALL, page_gpa | HV_MSR_PAGE_ENABLE), 0);
}

uint64_t fake_hypercall(struct hv *hv, unsigned vp, uint64_t control, uint64_t input,
			uint64_t output)
{
	struct vcpu_gprs regs = {.rax = 0xDEAD, .rcx = control, .rdx = input, .r8 = output};

	assert_true(hv_hypercall(hv, vp, &regs, &FAKE_KERNEL64));
	/* The 64-bit convention changes RAX only. */
	assert_int_equal(regs.rcx, control);
	assert_int_equal(regs.rdx, input);
	assert_int_equal(regs.r8, output);
	return regs.rax;
}
