/*
 * The QEMU peer's guest for bench/console.py: a multiboot (v1) ELF that
 * QEMU's -kernel loads on -M pc with -vga std. It finds the standard VGA
 * (PCI 1234:1111) on bus 0, takes its BAR0 linear framebuffer, sets a
 * 1024x768x32 mode through the Bochs VBE "dispi" registers (index port
 * 0x1ce, data port 0x1cf; QEMU hw/display/vga.c, VBE_DISPI_INDEX_*), says
 * "R" on COM1, then obeys commands from COM1:
 *
 *   'F' c      fill the whole 1024x768 screen with colour c*0x010101^0x402000
 *   'L' r c    fill the 1024x16 band at row r*16 (one text line) with colour c
 *
 * answering "D" after the last store. Between commands it halts with the
 * UART's receive interrupt armed (IRQ 4 through the 8259), so the TCG vCPU
 * thread idles instead of spinning on the line-status register.
 *
 * Build: as --32 -o g.o console_qemu_guest.S && ld -m elf_i386 -Ttext 0x100000 -o g.elf g.o
 */
	.set MB_MAGIC, 0x1BADB002
	.set MB_FLAGS, 0
	.set COM1, 0x3f8

	.section .text
	.code32
	.align 4
multiboot_header:
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.globl _start
_start:
	cli
	mov $stack_top, %esp
	call find_vga
	call set_mode
	call setup_irq
	mov $'R', %al
	call putc
command:
	call getc
	cmp $'F', %al
	je full
	cmp $'L', %al
	je band
	jmp command

full:	/* 'F' c */
	call getc
	call colour
	mov lfb, %edi
	mov $(1024 * 768), %ecx
	rep stosl
	jmp done

band:	/* 'L' r c */
	call getc
	movzbl %al, %edi
	shl $16, %edi		/* r * 16 rows * 4096 bytes a row */
	add lfb, %edi
	call getc
	call colour
	mov $(1024 * 16), %ecx
	rep stosl
done:
	mov $'D', %al
	call putc
	jmp command

/* %al -> %eax = al * 0x010101 ^ 0x402000 (clobbers %edx) */
colour:
	movzbl %al, %eax
	imul $0x010101, %eax, %eax
	xor $0x402000, %eax
	ret

/* PCI configuration mechanism #1: the first function with 1234:1111 on bus 0. */
find_vga:
	xor %ebx, %ebx
1:	mov $0x80000000, %eax
	or %ebx, %eax
	mov $0xcf8, %dx
	out %eax, %dx
	mov $0xcfc, %dx
	in %dx, %eax
	cmp $0x11111234, %eax
	je 2f
	add $0x800, %ebx
	cmp $0x10000, %ebx
	jb 1b
	mov $'E', %al		/* no standard VGA: say so and stop */
	call putc
3:	hlt
	jmp 3b
2:	mov $0x80000010, %eax	/* BAR0: the linear framebuffer */
	or %ebx, %eax
	mov $0xcf8, %dx
	out %eax, %dx
	mov $0xcfc, %dx
	in %dx, %eax
	and $0xfffffff0, %eax
	mov %eax, lfb
	ret

.macro dispi index, value
	mov $\index, %ax
	mov $0x1ce, %dx
	out %ax, %dx
	mov $\value, %ax
	mov $0x1cf, %dx
	out %ax, %dx
.endm

set_mode:
	dispi 4, 0		/* ENABLE off while the geometry changes */
	dispi 1, 1024		/* XRES */
	dispi 2, 768		/* YRES */
	dispi 3, 32		/* BPP */
	dispi 4, 0x41		/* ENABLED | LFB_ENABLED */
	ret

/* An IDT whose every gate acknowledges the master 8259 and returns; the
 * 8259 remapped to 0x20, only IRQ 4 (COM1) unmasked; the UART raising its
 * "received data available" interrupt through OUT2. */
setup_irq:
	mov %cs, %ax
	shl $16, %eax
	mov $isr, %ecx
	mov %cx, %ax		/* low dword: selector << 16 | offset 15:0 */
	and $0xffff0000, %ecx
	or $0x8e00, %ecx	/* high dword: offset 31:16 | present, 32-bit interrupt gate */
	mov $idt, %edi
	mov $256, %ebx
1:	mov %eax, (%edi)
	mov %ecx, 4(%edi)
	add $8, %edi
	dec %ebx
	jnz 1b
	lidt idtr
	mov $0x11, %al
	out %al, $0x20
	out %al, $0xa0
	mov $0x20, %al
	out %al, $0x21
	mov $0x28, %al
	out %al, $0xa1
	mov $4, %al
	out %al, $0x21
	mov $2, %al
	out %al, $0xa1
	mov $1, %al
	out %al, $0x21
	out %al, $0xa1
	mov $0xef, %al
	out %al, $0x21
	mov $0xff, %al
	out %al, $0xa1
	mov $(COM1 + 1), %dx	/* IER: received data available */
	mov $1, %al
	out %al, %dx
	mov $(COM1 + 4), %dx	/* MCR: DTR | RTS | OUT2 */
	mov $0x0b, %al
	out %al, %dx
	ret

isr:
	push %eax
	mov $0x20, %al
	out %al, $0x20
	pop %eax
	iret

/* The next byte from COM1 in %al; halts until one is there. */
getc:
	cli
	mov $(COM1 + 5), %dx
	in %dx, %al
	test $1, %al
	jnz 1f
	sti
	hlt
	jmp getc
1:	mov $COM1, %dx
	in %dx, %al
	ret

putc:
	mov %al, %ah
	mov $(COM1 + 5), %dx
1:	in %dx, %al
	test $0x20, %al
	jz 1b
	mov $COM1, %dx
	mov %ah, %al
	out %al, %dx
	ret

	.section .data
	.align 8
idtr:
	.word 256 * 8 - 1
	.long idt
lfb:
	.long 0

	.section .bss
	.align 16
idt:
	.skip 256 * 8
	.skip 4096
stack_top:
