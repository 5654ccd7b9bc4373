/*
 * Decoder for the instructions completed by the worker; see x86_insn.h.
 * Intel SDM Vol. 2A §2.1 (prefixes), §2.2.1 (REX), Table 2-1/2-2 (16/32-bit
 * ModR/M), Table 2-3 (SIB), §2.2.1.6 (RIP-relative addressing).
 */
#include "vid/x86_insn.h"

#include <errno.h>

#define RFLAGS_CF (1u << 0)
#define RFLAGS_PF (1u << 2)
#define RFLAGS_AF (1u << 4)
#define RFLAGS_ZF (1u << 6)
#define RFLAGS_SF (1u << 7)
#define RFLAGS_OF (1u << 11)

struct cursor {
	const uint8_t *bytes;
	size_t len;
	size_t pos;
};

static int next_byte(struct cursor *c, uint8_t *b)
{
	if (c->pos >= c->len || c->pos >= X86_INSN_MAX_LEN)
		return c->pos >= X86_INSN_MAX_LEN ? -EOPNOTSUPP : -ENODATA;
	*b = c->bytes[c->pos++];
	return 0;
}

static int next_disp(struct cursor *c, unsigned size, int64_t *disp)
{
	uint64_t v = 0;
	unsigned i;
	uint8_t b;
	int r;

	for (i = 0; i < size; i++) {
		r = next_byte(c, &b);
		if (r < 0)
			return r;
		v |= (uint64_t)b << (8 * i);
	}
	if (size == 1)
		*disp = (int8_t)v;
	else if (size == 2)
		*disp = (int16_t)v;
	else
		*disp = (int32_t)v;
	return 0;
}

struct prefixes {
	bool opsize;   /* 66 */
	bool addrsize; /* 67 */
	bool rep;      /* F3 */
	bool repne;    /* F2 */
	bool lock;     /* F0 */
	int seg;       /* override, or -1 */
	uint8_t rex;   /* 0 if none */
};

static int read_prefixes(struct cursor *c, enum x86_cpu_mode mode, struct prefixes *p,
			 uint8_t *opcode)
{
	uint8_t b;
	int r;

	*p = (struct prefixes){.seg = -1};
	for (;;) {
		r = next_byte(c, &b);
		if (r < 0)
			return r;
		switch (b) {
		case 0x66: p->opsize = true; break;
		case 0x67: p->addrsize = true; break;
		case 0xF3:
			p->rep = true;
			p->repne = false;
			break;
		case 0xF2:
			p->repne = true;
			p->rep = false;
			break;
		case 0xF0: p->lock = true; break;
		case 0x26: p->seg = X86_ES; break;
		case 0x2E: p->seg = X86_CS; break;
		case 0x36: p->seg = X86_SS; break;
		case 0x3E: p->seg = X86_DS; break;
		case 0x64: p->seg = X86_FS; break;
		case 0x65: p->seg = X86_GS; break;
		default:
			/* REX counts only immediately before the opcode; a legacy prefix after it
			 * voids it. */
			if (mode == X86_MODE_64 && (b & 0xF0) == 0x40) {
				p->rex = b;
				r = next_byte(c, &b);
				if (r < 0)
					return r;
				if ((b & 0xF0) == 0x40 || b == 0x66 || b == 0x67 || b == 0xF2 ||
				    b == 0xF3 || b == 0xF0)
					return -EOPNOTSUPP; /* rare encodings: refuse, do not guess
							     */
			}
			*opcode = b;
			return 0;
		}
	}
}

/* 16-bit ModR/M memory forms (SDM Table 2-1). */
static int decode_modrm16(struct cursor *c, uint8_t mod, uint8_t rm, struct x86_mem_operand *m)
{
	static const int8_t base[8] = {X86_RBX, X86_RBX, X86_RBP, X86_RBP,
				       X86_RSI, X86_RDI, X86_RBP, X86_RBX};
	static const int8_t index[8] = {X86_RSI, X86_RDI, X86_RSI, X86_RDI, -1, -1, -1, -1};

	m->addr_size = 2;
	m->scale = 1;
	m->base = base[rm];
	m->index = index[rm];
	if (mod == 0 && rm == 6) {
		m->base = X86_NO_REG;
		return next_disp(c, 2, &m->disp);
	}
	if (m->base == X86_RBP)
		m->seg = X86_SS;
	return mod == 0 ? 0 : next_disp(c, mod == 1 ? 1 : 2, &m->disp);
}

/* 32/64-bit ModR/M memory forms with SIB (SDM Tables 2-2, 2-3, §2.2.1.6). */
static int decode_modrm32(struct cursor *c, enum x86_cpu_mode mode, uint8_t rex, uint8_t mod,
			  uint8_t rm, struct x86_mem_operand *m)
{
	uint8_t sib;
	int r;

	m->scale = 1;
	m->index = X86_NO_REG;
	if (rm == 4) {
		r = next_byte(c, &sib);
		if (r < 0)
			return r;
		unsigned idx = ((sib >> 3) & 7) | ((rex & 0x2) ? 8 : 0);
		unsigned b = (sib & 7) | ((rex & 0x1) ? 8 : 0);

		m->scale = 1u << (sib >> 6);
		m->index =
			idx == X86_RSP ? X86_NO_REG : (int)idx; /* index 100b without REX.X: none */
		if ((sib & 7) == 5 && mod == 0) {
			m->base = X86_NO_REG;
			return next_disp(c, 4, &m->disp);
		}
		m->base = (int)b;
	} else if (rm == 5 && mod == 0) {
		m->base = mode == X86_MODE_64 ? X86_RIP : X86_NO_REG;
		return next_disp(c, 4, &m->disp);
	} else {
		m->base = rm | ((rex & 0x1) ? 8 : 0);
	}
	if (m->base == X86_RSP || m->base == X86_RBP)
		m->seg = X86_SS;
	return mod == 0 ? 0 : next_disp(c, mod == 1 ? 1 : 4, &m->disp);
}

static int decode_popcnt(struct cursor *c, enum x86_cpu_mode mode, const struct prefixes *p,
			 struct x86_insn *insn)
{
	uint8_t modrm, mod, rm;
	int r;

	if (p->lock || p->repne)
		return -EOPNOTSUPP; /* LOCK POPCNT is #UD on hardware; F2 is another instruction */
	r = next_byte(c, &modrm);
	if (r < 0)
		return r;
	mod = modrm >> 6;
	rm = modrm & 7;
	insn->op = X86_INSN_POPCNT;
	if (p->rex & 0x8)
		insn->op_size = 8;
	else if (mode == X86_MODE_16)
		insn->op_size = p->opsize ? 4 : 2;
	else
		insn->op_size = p->opsize ? 2 : 4;
	insn->reg = ((modrm >> 3) & 7) | ((p->rex & 0x4) ? 8 : 0);
	if (mod == 3) {
		insn->rm_is_reg = true;
		insn->rm_reg = rm | ((p->rex & 0x1) ? 8 : 0);
		return 0;
	}
	insn->mem.seg = X86_DS;
	if (mode == X86_MODE_16 ? !p->addrsize : (mode == X86_MODE_32 && p->addrsize))
		r = decode_modrm16(c, mod, rm, &insn->mem);
	else {
		insn->mem.addr_size = mode == X86_MODE_64 ? (p->addrsize ? 4 : 8) : 4;
		r = decode_modrm32(c, mode, p->rex, mod, rm, &insn->mem);
	}
	if (r < 0)
		return r;
	if (p->seg >= 0)
		insn->mem.seg = (enum x86_seg)p->seg;
	return 0;
}

int x86_insn_decode(const uint8_t *bytes, size_t len, enum x86_cpu_mode mode, struct x86_insn *ret)
{
	struct cursor c = {.bytes = bytes, .len = len};
	struct x86_insn insn = {.reg = X86_NO_REG, .rm_reg = X86_NO_REG};
	struct prefixes p;
	uint8_t opcode, b;
	int r;

	r = read_prefixes(&c, mode, &p, &opcode);
	if (r < 0)
		return r;
	if (opcode == 0xCC) {
		if (p.lock)
			return -EOPNOTSUPP;
		insn.op = X86_INSN_INT3;
	} else if (opcode == 0x9B) {
		if (p.lock)
			return -EOPNOTSUPP;
		insn.op = X86_INSN_FWAIT;
	} else if (opcode == 0x0F && p.rep) {
		r = next_byte(&c, &b);
		if (r < 0)
			return r;
		if (b != 0xB8)
			return -EOPNOTSUPP;
		r = decode_popcnt(&c, mode, &p, &insn);
		if (r < 0)
			return r;
	} else {
		return -EOPNOTSUPP;
	}
	insn.len = (unsigned)c.pos;
	*ret = insn;
	return 0;
}

uint64_t x86_insn_effective_address(const struct x86_mem_operand *mem,
				    const uint64_t gprs[X86_NR_GPRS], uint64_t next_rip)
{
	uint64_t ea = (uint64_t)mem->disp;

	if (mem->base == X86_RIP)
		ea += next_rip;
	else if (mem->base >= 0 && mem->base < X86_NR_GPRS)
		ea += gprs[mem->base];
	if (mem->index >= 0 && mem->index < X86_NR_GPRS)
		ea += gprs[mem->index] * mem->scale;
	if (mem->addr_size == 2)
		ea &= 0xFFFF;
	else if (mem->addr_size == 4)
		ea &= 0xFFFFFFFF;
	return ea;
}

uint64_t x86_popcnt(uint64_t src, unsigned op_size, uint64_t rflags, uint64_t *result)
{
	if (op_size < 8)
		src &= (UINT64_C(1) << (op_size * 8)) - 1;
	*result = (uint64_t)__builtin_popcountll(src);
	rflags &=
		~(uint64_t)(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF);
	if (src == 0)
		rflags |= RFLAGS_ZF;
	return rflags;
}

uint64_t x86_gpr_merge(uint64_t old, uint64_t value, unsigned op_size)
{
	switch (op_size) {
	case 1: return (old & ~UINT64_C(0xFF)) | (value & 0xFF);
	case 2: return (old & ~UINT64_C(0xFFFF)) | (value & 0xFFFF);
	case 4: return value & 0xFFFFFFFF; /* 32-bit destinations zero-extend in 64-bit mode */
	default: return value;
	}
}
