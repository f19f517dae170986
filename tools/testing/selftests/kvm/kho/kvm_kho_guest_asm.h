/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pieces of 32-bit guest code for guests on the layout of kvm_kho_util.h:
 * the test guest (kvm_kho_util_guest.c) and the demo's guest are built of
 * them, so both fill and check memory the same way.
 */
#ifndef KVM_KHO_GUEST_ASM_H
#define KVM_KHO_GUEST_ASM_H

#include "kvm_kho_util.h"

#define KK_STR(x)	#x
#define KK_XSTR(x)	KK_STR(x)

/*
 * The fill of vCPU 0, as guest asm: the pattern from KK_REGION up to @end
 * (an operand of cmp: an immediate or a control page word), its checksum
 * into the control page, then KK_CTL_INIT set. @l: a label to use.
 */
#define KK_ASM_FILL(l, end)						\
	"	mov $" KK_XSTR(KK_REGION) ", %edi\n"			\
	"	mov $" KK_XSTR(KK_SUM_INIT) ", %ecx\n"			\
	l ":\n"								\
	"	mov %edi, %eax\n"					\
	"	xor $" KK_XSTR(KK_PATTERN_XOR) ", %eax\n"		\
	"	imul $" KK_XSTR(KK_PATTERN_MUL) ", %eax, %eax\n"	\
	"	mov %eax, (%edi)\n"					\
	"	rol $1, %ecx\n"						\
	"	add %eax, %ecx\n"					\
	"	add $4, %edi\n"						\
	"	cmp " end ", %edi\n"					\
	"	jb " l "\n"						\
	"	mov %ecx, " KK_XSTR(KK_CTL_CSUM) "\n"			\
	"	movl $1, " KK_XSTR(KK_CTL_INIT) "\n"

/*
 * The checksum of the next 64 KiB at %ebp, as guest asm: the running sum
 * is the word at @sum(%ebx) (@sum a string); %ebp moves on. @l: a label.
 */
#define KK_ASM_SUM_CHUNK(l, sum)					\
	"	mov " sum "(%ebx), %eax\n"				\
	"	mov $" KK_XSTR(KK_CHUNK_WORDS) ", %ecx\n"		\
	l ":\n"								\
	"	rol $1, %eax\n"						\
	"	add (%ebp), %eax\n"					\
	"	add $4, %ebp\n"						\
	"	dec %ecx\n"						\
	"	jnz " l "\n"						\
	"	mov %eax, " sum "(%ebx)\n"

#endif /* KVM_KHO_GUEST_ASM_H */
