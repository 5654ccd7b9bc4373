/*
 * A tiny "kernel" in ELF form, booted by parvis-vmwp exactly as it boots
 * Linux's vmlinux (64-bit entry, RSI = boot_params). It greets on COM1,
 * then does what the first word of its command line says, so the worker's
 * exit paths are tested in seconds:
 *   poweroff    ACPI S5 through PM1a_CNT       -> worker exits 0
 *   reset       ACPI reset register            -> reboots (or exits 0 with --no-reboot)
 *   kbdreset    i8042 pulse of the reset line  -> same
 *   triple      exception without an IDT       -> exit status 3
 *   badinsn     x87 fnclex at CPL0 (PVM cannot emulate it) -> exit status 4 on PVM
 *   echo        copies COM1 input to COM1 output until it reads 'q', then powers off
 *   rtc         prints the CMOS RTC's hour:min:sec registers, then powers off
 *   idle        prints "idle", then halts forever (a VM that stays Running)
 *   count       prints a '.' every 2^16 iterations of a loop, forever (a VM
 *               whose progress is visible on its console: pause/resume tests)
 *   spin        prints "spinning", then loops forever without an exit (a VM
 *               that wants all of its vCPU: CPU-limit tests)
 *   numbers     prints 1, 2, ... 3000 on lines of their own, a short loop
 *               between them, then "numbers: done" and powers off (saved-state
 *               tests: every number must appear once, in order)
 *   fill        writes a non-zero word into every 4 KiB page of RAM above
 *               32 MiB (the e820 map of boot_params), prints "filled", then
 *               does what "numbers" does (the saved-state benchmark)
 */
#define COM1 0x3F8
#define PM1A_CNT 0x604
#define ACPI_RESET 0x60C
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define NUMBERS_LAST 3000
#define NUMBERS_DELAY (1 << 12)
#define FILL_FROM 0x2000000            /* 32 MiB: above the kernel, its stack and boot data */

	.code64
	.section .text
	.globl _start
_start:
	mov %rsi, %r15                 /* boot_params */
	lea banner(%rip), %rsi
	call puts
	mov BP_CMD_LINE_PTR(%r15), %ebx
	mov (%rbx), %eax               /* the first 4 bytes of the command line */
	cmp $0x65776f70, %eax          /* "powe" */
	je poweroff
	cmp $0x65736572, %eax          /* "rese" */
	je acpi_reset
	cmp $0x7264626b, %eax          /* "kbdr" */
	je kbd_reset
	cmp $0x70697274, %eax          /* "trip" */
	je triple
	cmp $0x69646162, %eax          /* "badi" */
	je badinsn
	cmp $0x6f686365, %eax          /* "echo" */
	je echo
	cmp $0x00637472, %eax          /* "rtc\0" */
	je rtc
	cmp $0x20637472, %eax          /* "rtc " */
	je rtc
	cmp $0x656c6469, %eax          /* "idle" */
	je idle
	cmp $0x6e756f63, %eax          /* "coun" */
	je count
	cmp $0x6e697073, %eax          /* "spin" */
	je spin
	cmp $0x626d756e, %eax          /* "numb" */
	je numbers
	cmp $0x6c6c6966, %eax          /* "fill" */
	je fill
	lea unknown(%rip), %rsi
	call puts
	jmp poweroff

poweroff:
	lea bye(%rip), %rsi
	call puts
	mov $PM1A_CNT, %dx
	mov $((5 << 10) | (1 << 13)), %ax   /* SLP_TYP = 5 (S5), SLP_EN */
	out %ax, %dx
	jmp hang

acpi_reset:
	mov $ACPI_RESET, %dx
	mov $6, %al
	out %al, %dx
	jmp hang

kbd_reset:
	mov $0xFE, %al                 /* i8042: pulse output port bit 0 (reset) */
	out %al, $0x64
	jmp hang

triple:
	sub $16, %rsp
	movw $0, (%rsp)
	movq $0, 2(%rsp)
	lidt (%rsp)
	ud2

badinsn:
	fnclex
	jmp poweroff

echo:
	mov $0x01, %al                 /* FCR: FIFOs on; interrupts stay off (IER 0) */
	mov $(COM1 + 2), %dx
	out %al, %dx
	lea ready(%rip), %rsi          /* input sent before this point may be lost, as on hardware */
	call puts
1:	mov $(COM1 + 5), %dx           /* LSR.DR */
	in %dx, %al
	test $1, %al
	jz 1b
	mov $COM1, %dx
	in %dx, %al
	cmp $'q', %al
	je poweroff
	call putc
	jmp 1b

rtc:
	mov $4, %bl                    /* hours, minutes, seconds: registers 4, 2, 0 */
2:	mov %bl, %al
	out %al, $0x70
	in $0x71, %al
	mov %al, %cl
	shr $4, %al
	add $'0', %al
	call putc
	mov %cl, %al
	and $0xF, %al
	add $'0', %al
	call putc
	test %bl, %bl
	jz 3f
	mov $':', %al
	call putc
	sub $2, %bl
	jmp 2b
3:	mov $'\n', %al
	call putc
	jmp poweroff

idle:
	lea idling(%rip), %rsi
	call puts
	jmp hang

count:
	mov $(1 << 16), %ecx
4:	dec %ecx
	jnz 4b
	mov $'.', %al
	call putc
	jmp count

spin:
	lea spinning(%rip), %rsi
	call puts
5:	jmp 5b                         /* no pause: pause-loop exiting would leave the guest */

/* Every e820 RAM entry (type 1), from FILL_FROM on: one non-zero qword per page. */
fill:
	movzbl BP_E820_ENTRIES(%r15), %ecx
	lea BP_E820_TABLE(%r15), %rbx
6:	test %ecx, %ecx
	jz 9f
	cmpl $1, 16(%rbx)
	jne 8f
	mov (%rbx), %rdi               /* start */
	mov 8(%rbx), %rdx
	add %rdi, %rdx                 /* end */
	mov $FILL_FROM, %rax
	cmp %rax, %rdi
	cmovb %rax, %rdi
	add $0xfff, %rdi
	and $~0xfff, %rdi
7:	cmp %rdx, %rdi
	jae 8f
	mov %rdi, (%rdi)               /* its own address: non-zero, different in every page */
	add $0x1000, %rdi
	jmp 7b
8:	add $20, %rbx
	dec %ecx
	jmp 6b
9:	lea filled(%rip), %rsi
	call puts
	/* fall through */

/* 1..NUMBERS_LAST in decimal, one a line; R12 counts, kept in a register across the delay. */
numbers:
	mov $1, %r12d
10:	mov %r12, %rax
	call putdec
	mov $'\n', %al
	call putc
	mov $NUMBERS_DELAY, %ecx
11:	dec %ecx
	jnz 11b
	inc %r12d
	cmp $NUMBERS_LAST, %r12d
	jbe 10b
	lea numbers_done(%rip), %rsi
	call puts
	jmp poweroff

/* putdec: RAX (unsigned) in decimal to COM1 */
putdec:
	sub $32, %rsp
	lea 31(%rsp), %rdi
	movb $0, (%rdi)
	mov $10, %r8
12:	xor %edx, %edx
	div %r8
	add $'0', %dl
	dec %rdi
	mov %dl, (%rdi)
	test %rax, %rax
	jnz 12b
	mov %rdi, %rsi
	call puts
	add $32, %rsp
	ret

hang:
	hlt
	jmp hang

/*
 * PVH entry (Xen's HVM direct boot, which QEMU implements for -kernel):
 * 32-bit protected mode, paging off, EBX = struct hvm_start_info. It builds
 * page tables identity-mapping the first 4 GiB with 2 MiB pages, enters
 * long mode, and continues at _start with a boot_params whose cmd_line_ptr
 * is the PVH command line, so both VMMs run the same code. Parvis enters at
 * _start directly, as it does for vmlinux. Only bench/vmms.py uses this.
 */
	.code32
pvh_start:
	mov 24(%ebx), %eax             /* hvm_start_info.cmdline_paddr (low half) */
	mov %eax, boot_params + BP_CMD_LINE_PTR
	movl $(pdpt + 3), pml4
	movl $(pd + 3), pdpt
	movl $(pd + 0x1000 + 3), pdpt + 8
	movl $(pd + 0x2000 + 3), pdpt + 16
	movl $(pd + 0x3000 + 3), pdpt + 24
	xor %ecx, %ecx
5:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax                 /* present, writable, 2 MiB page */
	mov %eax, pd(, %ecx, 8)
	inc %ecx
	cmp $2048, %ecx
	jne 5b
	mov $pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax                 /* PAE */
	mov %eax, %cr4
	mov $0xC0000080, %ecx          /* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax           /* PG, PE */
	mov %eax, %cr0
	lgdt gdt_desc
	ljmp $0x08, $pvh_long
	.code64
pvh_long:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	lea stack_top(%rip), %rsp
	lea boot_params(%rip), %rsi
	jmp _start

/* puts: the NUL-terminated string at RSI */
puts:
	lodsb
	test %al, %al
	jz 1f
	call putc
	jmp puts
1:	ret

/* putc: AL to COM1, waiting for THRE */
putc:
	push %rax
	mov $(COM1 + 5), %dx
1:	in %dx, %al
	test $0x20, %al
	jz 1b
	pop %rax
	mov $COM1, %dx
	out %al, %dx
	ret

	.section .rodata
	.align 8
gdt:	.quad 0
	.quad 0x00af9a000000ffff       /* 64-bit code */
	.quad 0x00cf92000000ffff       /* data */
gdt_desc:
	.word 23
	.long gdt
banner:	.asciz "Parvis tiny kernel\n"
bye:	.asciz "tiny kernel: powering off\n"
ready:	.asciz "echo: ready\n"
idling:	.asciz "tiny kernel: idle\n"
spinning: .asciz "tiny kernel: spinning\n"
filled:	.asciz "filled\n"
numbers_done: .asciz "numbers: done\n"
unknown: .asciz "tiny kernel: unknown command, powering off\n"

	.section .note.pvh, "a", @note
	.align 4
	.long 4                        /* name size: "Xen\0" */
	.long 4                        /* descriptor size */
	.long 18                       /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start

	.section .bss
	.align 4096
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4 * 4096                 /* 4 GiB: the "fill" mode reaches all of a 2 GiB guest */
boot_params:
	.skip 4096
	.skip 4096
stack_top:
