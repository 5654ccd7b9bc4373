/*
 * The parts of the ELF-64 format a vmlinux loader reads: the file header
 * and the program headers. Spec: "ELF-64 Object File Format" v1.5
 * (file header §3, program header table §6) and the System V AMD64 psABI
 * (EM_X86_64). All fields little-endian (ELFDATA2LSB is checked).
 * Read from file bytes with memcpy, never by casting a pointer into them.
 */
#pragma once

#include <stdint.h>

#define ELF_MAGIC     "\177ELF"
#define ELF_MAGIC_LEN 4

/* e_ident[] indexes and values. */
#define EI_CLASS    4
#define EI_DATA	    5
#define EI_VERSION  6
#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define EV_CURRENT  1

#define ET_EXEC	  2  /* e_type: executable file */
#define EM_X86_64 62 /* e_machine: AMD x86-64 */
#define PT_LOAD	  1  /* p_type: loadable segment */

/* ELF-64 §3, Figure 2: the file header at offset 0. */
struct elf64_ehdr {
	uint8_t e_ident[16];
	uint16_t e_type;
	uint16_t e_machine;
	uint32_t e_version;
	uint64_t e_entry; /* for vmlinux: the physical address of startup_64 */
	uint64_t e_phoff; /* file offset of the program header table */
	uint64_t e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize;
	uint16_t e_phentsize; /* size of one program header */
	uint16_t e_phnum;     /* number of program headers */
	uint16_t e_shentsize;
	uint16_t e_shnum;
	uint16_t e_shstrndx;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64, "ELF-64 file header is 64 bytes");

/* ELF-64 §6, Figure 6: one program header. */
struct elf64_phdr {
	uint32_t p_type;
	uint32_t p_flags;
	uint64_t p_offset; /* file offset of the segment's bytes */
	uint64_t p_vaddr;
	uint64_t p_paddr;  /* for vmlinux: where the segment goes in physical memory */
	uint64_t p_filesz; /* bytes in the file */
	uint64_t p_memsz;  /* bytes in memory, >= p_filesz; the rest is zero */
	uint64_t p_align;
};
_Static_assert(sizeof(struct elf64_phdr) == 56, "ELF-64 program header is 56 bytes");
