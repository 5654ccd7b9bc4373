/* Guest page-table walker; see x86_mmu.h. */
#include "vid/x86_mmu.h"

#include <errno.h>

#define CR0_PG	 (UINT64_C(1) << 31)
#define CR4_PSE	 (UINT64_C(1) << 4)
#define CR4_PAE	 (UINT64_C(1) << 5)
#define CR4_LA57 (UINT64_C(1) << 12)
#define EFER_LMA (UINT64_C(1) << 10)
#define PTE_P	 (UINT64_C(1) << 0)
#define PTE_PS	 (UINT64_C(1) << 7)
#define PTE_ADDR UINT64_C(0x000FFFFFFFFFF000)

#define CR0_PE	  (UINT64_C(1) << 0)
#define CR0_WP	  (UINT64_C(1) << 16)
#define CR4_SMEP  (UINT64_C(1) << 20)
#define CR4_SMAP  (UINT64_C(1) << 21)
#define EFER_NXE  (UINT64_C(1) << 11)
#define PTE_RW	  (UINT64_C(1) << 1)
#define PTE_US	  (UINT64_C(1) << 2)
#define PTE_XD	  (UINT64_C(1) << 63)
#define RFLAGS_VM (UINT64_C(1) << 17)

/* The rights a walk gathers: writable and user at every level, execute-disable at any. */
struct rights {
	bool write, user, xd;
};

static void gather(struct rights *r, uint64_t e)
{
	r->write = r->write && (e & PTE_RW);
	r->user = r->user && (e & PTE_US);
	r->xd = r->xd || (e & PTE_XD);
}

static int read_entry64(const struct guest_memory *mem, uint64_t table, unsigned index, uint64_t *e)
{
	return guest_memory_read(mem, table + index * 8u, e, sizeof(*e));
}

/* Long mode (4- or 5-level) and PAE walks share this: levels, then leaf sizes allowed. */
static int walk64(const struct guest_memory *mem, uint64_t table, int top_level, uint64_t linear,
		  uint64_t *gpa, struct rights *rights)
{
	int level;

	for (level = top_level; level >= 1; level--) {
		unsigned shift = 12 + 9 * (unsigned)(level - 1);
		unsigned index = (unsigned)(linear >> shift) & 0x1FF;
		uint64_t e;

		if (read_entry64(mem, table, index, &e) < 0 || !(e & PTE_P))
			return -EFAULT;
		gather(rights, e);
		/* PS means a leaf at the PDPT (1 GiB) and PD (2 MiB) levels only. */
		if (level == 1 || ((level == 2 || level == 3) && (e & PTE_PS))) {
			uint64_t page_mask = (UINT64_C(1) << shift) - 1;

			*gpa = ((e & PTE_ADDR) & ~page_mask) | (linear & page_mask);
			return 0;
		}
		table = e & PTE_ADDR;
	}
	return -EFAULT;
}

static int translate(const struct guest_memory *mem, const struct x86_paging *p, uint64_t linear,
		     uint64_t *gpa, struct rights *rights)
{
	*rights = (struct rights){.write = true, .user = true, .xd = false};
	if (!(p->cr0 & CR0_PG)) {
		*gpa = linear & 0xFFFFFFFF;
		return 0;
	}
	if (p->efer & EFER_LMA)
		return walk64(mem, p->cr3 & PTE_ADDR, (p->cr4 & CR4_LA57) ? 5 : 4, linear, gpa,
			      rights);
	linear &= 0xFFFFFFFF;
	if (p->cr4 & CR4_PAE) {
		uint64_t pdpte;

		/* PAE: CR3 points at four 8-byte PDPTEs, 32-byte aligned (no rights in them). */
		if (guest_memory_read(mem, (p->cr3 & 0xFFFFFFE0) + (linear >> 30) * 8, &pdpte,
				      sizeof(pdpte)) < 0 ||
		    !(pdpte & PTE_P))
			return -EFAULT;
		return walk64(mem, pdpte & PTE_ADDR, 2, linear, gpa, rights);
	}
	/* 32-bit paging: 4-byte entries, 4 MiB pages with CR4.PSE, no execute-disable. */
	uint32_t pde, pte;

	if (guest_memory_read(mem, (p->cr3 & 0xFFFFF000) + (linear >> 22) * 4, &pde, sizeof(pde)) <
		    0 ||
	    !(pde & PTE_P))
		return -EFAULT;
	gather(rights, pde);
	if ((pde & PTE_PS) && (p->cr4 & CR4_PSE)) {
		*gpa = ((uint64_t)(pde & 0xFFC00000) | ((uint64_t)(pde & 0x1FE000) << 19)) |
		       (linear & 0x3FFFFF);
		return 0;
	}
	if (guest_memory_read(mem, (pde & 0xFFFFF000) + ((linear >> 12) & 0x3FF) * 4, &pte,
			      sizeof(pte)) < 0 ||
	    !(pte & PTE_P))
		return -EFAULT;
	gather(rights, pte);
	*gpa = (pte & 0xFFFFF000) | (linear & 0xFFF);
	return 0;
}

int x86_mmu_translate(const struct guest_memory *mem, const struct x86_paging *p, uint64_t linear,
		      uint64_t *gpa)
{
	struct rights rights;

	return translate(mem, p, linear, gpa, &rights);
}

/* SDM Vol. 3A §4.6.1: may this access go to a page with these rights? */
static bool allowed(const struct x86_paging *p, const struct x86_access *a, const struct rights *r)
{
	bool user_mode = a->cpl == 3;

	if (!(p->cr0 & CR0_PG))
		return true;
	switch (a->kind) {
	case X86_ACCESS_FETCH:
		if (r->xd && (p->efer & EFER_NXE))
			return false;
		return user_mode ? r->user : !(r->user && (p->cr4 & CR4_SMEP));
	case X86_ACCESS_READ:
		return user_mode ? r->user : !(r->user && (p->cr4 & CR4_SMAP) && !a->ac);
	case X86_ACCESS_WRITE:
		if (user_mode)
			return r->user && r->write;
		if (r->user && (p->cr4 & CR4_SMAP) && !a->ac)
			return false;
		return r->write || !(p->cr0 & CR0_WP);
	}
	return false;
}

int x86_mmu_translate_access(const struct guest_memory *mem, const struct x86_paging *p,
			     const struct x86_access *access, uint64_t linear, uint64_t *gpa)
{
	struct rights rights;
	int r = translate(mem, p, linear, gpa, &rights);

	if (r < 0)
		return r;
	return allowed(p, access, &rights) ? 0 : -EACCES;
}

int x86_mmu_read_access(const struct guest_memory *mem, const struct x86_paging *p,
			const struct x86_access *access, uint64_t linear, void *dst, size_t len)
{
	uint8_t *out = dst;

	while (len) {
		size_t chunk = MIN(len, 4096 - (linear & 0xFFF));
		uint64_t gpa;
		int r = x86_mmu_translate_access(mem, p, access, linear, &gpa);

		if (r < 0)
			return r;
		if (guest_memory_read(mem, gpa, out, chunk) < 0)
			return -EFAULT;
		out += chunk;
		linear += chunk;
		len -= chunk;
	}
	return 0;
}

unsigned x86_cpl(uint64_t cr0, unsigned ss_dpl, uint64_t rflags)
{
	if (!(cr0 & CR0_PE))
		return 0; /* real mode */
	if (rflags & RFLAGS_VM)
		return 3; /* virtual-8086 mode */
	return ss_dpl & 3;
}

int x86_mmu_read(const struct guest_memory *mem, const struct x86_paging *p, uint64_t linear,
		 void *dst, size_t len)
{
	uint8_t *out = dst;

	while (len) {
		size_t chunk = MIN(len, 4096 - (linear & 0xFFF));
		uint64_t gpa;

		if (x86_mmu_translate(mem, p, linear, &gpa) < 0 ||
		    guest_memory_read(mem, gpa, out, chunk) < 0)
			return -EFAULT;
		out += chunk;
		linear += chunk;
		len -= chunk;
	}
	return 0;
}
