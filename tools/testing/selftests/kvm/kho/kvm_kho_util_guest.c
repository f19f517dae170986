// SPDX-License-Identifier: GPL-2.0
/*
 * The guest of the KVM Live Update tests, 32-bit code that runs in
 * protected mode with flat segments and no paging, copied to KK_CODE:
 *
 *   - vCPU 0, when it first starts, fills KK_REGION_SIZE bytes at
 *     KK_REGION with a pattern derived from each word's address, stores
 *     the checksum in the control page and says so on KK_PORT_INIT;
 *   - then every vCPU loops forever: it increments its counter in its slot
 *     of the control page, checks it against the copy it stored last time,
 *     and about KK_REPORTS_PER_SEC times a second writes its TSC to the
 *     slot and reports the counter on KK_PORT_REPORT;
 *   - vCPU 1 also re-reads the region 64 KiB per iteration and, at the end
 *     of each pass, compares the checksum: a pass is reported on
 *     KK_PORT_CSUM_OK with the number of passes so far;
 *   - anything the guest finds wrong is reported on KK_PORT_FAIL.
 *
 * kk_create_vm_sized() patches the two immediates KK_REGION_END in the
 * copy for a smaller region.
 */
#include "kvm_kho_guest_asm.h"

/*
 * Registers: esi = vCPU id (set by the VMM), ebx = this vCPU's slot,
 * ebp = vCPU 1's position in the region. Only relative jumps and calls,
 * so the code runs wherever it is copied.
 */
asm(
"	.pushsection .rodata.kk_guest, \"a\"\n"
"	.globl kk_guest_start\n"
"	.globl kk_guest_end\n"
"	.code32\n"
"kk_guest_start:\n"
"	cld\n"
"	mov %esi, %ebx\n"
"	shl $6, %ebx\n"
"	add $" KK_XSTR(KK_SLOT0) ", %ebx\n"
"	test %esi, %esi\n"
"	jnz .Lkk_wait_init\n"
	/* vCPU 0: fill the region, checksum it as it goes */
	KK_ASM_FILL(".Lkk_fill", "$" KK_XSTR(KK_REGION_END))
"	mov %ecx, %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_INIT) "\n"
"	jmp .Lkk_loop\n"
	/* the others wait for the fill */
".Lkk_wait_init:\n"
"	pause\n"
"	cmpl $1, " KK_XSTR(KK_CTL_INIT) "\n"
"	jne .Lkk_wait_init\n"
"	mov $" KK_XSTR(KK_REGION) ", %ebp\n"
"	movl $" KK_XSTR(KK_SUM_INIT) ", 0x14(%ebx)\n"
	/* the main loop: count, check, report now and then */
".Lkk_loop:\n"
"	mov (%ebx), %eax\n"
"	cmp 4(%ebx), %eax\n"
"	jne .Lkk_counter_bad\n"
"	inc %eax\n"
"	mov %eax, (%ebx)\n"
"	mov %eax, 4(%ebx)\n"
"	cmp $1, %esi\n"
"	jne .Lkk_no_verify\n"
"	call .Lkk_verify\n"
"	jmp .Lkk_time\n"
".Lkk_no_verify:\n"
"	test $0x3ff, %eax\n"
"	jnz .Lkk_loop\n"
".Lkk_time:\n"
	/* report when TSC - TSC of the last report >= interval (or < 0) */
"	rdtsc\n"
"	mov %eax, %ecx\n"
"	mov %edx, %edi\n"
"	sub 8(%ebx), %eax\n"
"	sbb 12(%ebx), %edx\n"
"	jnz .Lkk_report\n"
"	cmp " KK_XSTR(KK_CTL_INTERVAL) ", %eax\n"
"	jb .Lkk_loop\n"
".Lkk_report:\n"
"	mov %ecx, 8(%ebx)\n"
"	mov %edi, 12(%ebx)\n"
"	mov (%ebx), %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_REPORT) "\n"
"	jmp .Lkk_loop\n"
".Lkk_counter_bad:\n"
"	mov %eax, 0x18(%ebx)\n"
"	incl 0x1c(%ebx)\n"
"	mov $" KK_XSTR(KK_FAIL_COUNTER) ", %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_FAIL) "\n"
"	mov (%ebx), %eax\n"
"	mov %eax, 4(%ebx)\n"
"	jmp .Lkk_loop\n"
	/* vCPU 1: checksum the next 64 KiB; at the end of a pass, compare */
".Lkk_verify:\n"
	KK_ASM_SUM_CHUNK(".Lkk_verify_word", "0x14")
"	cmp $" KK_XSTR(KK_REGION_END) ", %ebp\n"
"	jb .Lkk_verify_done\n"
"	mov $" KK_XSTR(KK_REGION) ", %ebp\n"
"	movl $" KK_XSTR(KK_SUM_INIT) ", 0x14(%ebx)\n"
"	cmp " KK_XSTR(KK_CTL_CSUM) ", %eax\n"
"	jne .Lkk_verify_bad\n"
"	incl 0x10(%ebx)\n"
"	mov 0x10(%ebx), %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_CSUM_OK) "\n"
".Lkk_verify_done:\n"
"	ret\n"
".Lkk_verify_bad:\n"
"	mov %eax, 0x18(%ebx)\n"
"	incl 0x1c(%ebx)\n"
"	mov $" KK_XSTR(KK_FAIL_CSUM) ", %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_FAIL) "\n"
"	ret\n"
"kk_guest_end:\n"
"	.code64\n"
"	.popsection\n"
);

/*
 * The exception stubs (kk_install_idt() copies them to KK_EXC). Each
 * vector's stub is KK_EXC_STUB bytes: it pushes a zero where the CPU
 * pushes no error code, then the vector, and jumps to the common part,
 * which finds the vCPU's slot by its APIC ID, records vector, error code,
 * EIP and CR2 there, reports KK_FAIL_EXCEPTION and halts.
 */
asm(
"	.pushsection .rodata.kk_exc, \"a\"\n"
"	.globl kk_exc_start\n"
"	.globl kk_exc_end\n"
"	.code32\n"
"	.balign " KK_XSTR(KK_EXC_STUB) "\n"
"kk_exc_start:\n"
"	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
"	.balign " KK_XSTR(KK_EXC_STUB) "\n"
"	.if !(\\v == 8 || \\v == 10 || \\v == 11 || \\v == 12 || \\v == 13 || \\v == 14 || \\v == 17 || \\v == 21 || \\v == 29 || \\v == 30)\n"
"	push $0\n"
"	.endif\n"
"	push $\\v\n"
"	jmp .Lkk_exc_common\n"
"	.endr\n"
"	.balign " KK_XSTR(KK_EXC_STUB) "\n"
".Lkk_exc_common:\n"
"	mov " KK_XSTR(KK_APIC_ID) ", %eax\n"
"	shr $24, %eax\n"
"	shl $6, %eax\n"
"	add $" KK_XSTR(KK_SLOT0) ", %eax\n"
"	pop %ecx\n"
"	mov %ecx, 0x20(%eax)\n"
"	pop %ecx\n"
"	mov %ecx, 0x24(%eax)\n"
"	mov (%esp), %ecx\n"
"	mov %ecx, 0x28(%eax)\n"
"	mov %cr2, %ecx\n"
"	mov %ecx, 0x2c(%eax)\n"
"	mov $" KK_XSTR(KK_FAIL_EXCEPTION) ", %eax\n"
"	out %eax, $" KK_XSTR(KK_PORT_FAIL) "\n"
".Lkk_exc_halt:\n"
"	hlt\n"
"	jmp .Lkk_exc_halt\n"
"kk_exc_end:\n"
"	.code64\n"
"	.popsection\n"
);
