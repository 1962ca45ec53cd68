/* SPDX-License-Identifier: MIT */
/*
 * long pv__clone_run(long nr, long a1, long a2, long a3, long a4,
 *                    const struct pv__clone_entry *e);
 *
 * Issue clone3(a1, a2) or clone(a1, a2, a3, a4, 0) (nr says which).  In the
 * parent, return the syscall's result.  In the child, which with CLONE_VM
 * starts on the stack the arguments name and must never return into the
 * caller's frame (that frame belongs to the suspended parent), call
 * e->fn(e->arg) and exit_group() with its result.
 *
 * fn and arg live in rbx and r12, which the kernel preserves across syscall
 * (it clobbers only rax, rcx and r11) and which the parent path restores.
 */
        .text
        .globl  pv__clone_run
        .hidden pv__clone_run
        .type   pv__clone_run, @function
pv__clone_run:
        .cfi_startproc
        push    %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbx, 0
        push    %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r12, 0
        mov     (%r9), %rbx     /* e->fn */
        mov     8(%r9), %r12    /* e->arg */
        mov     %rdi, %rax
        mov     %rsi, %rdi
        mov     %rdx, %rsi
        mov     %rcx, %rdx
        mov     %r8, %r10
        xor     %r8d, %r8d
        syscall
        test    %rax, %rax
        jz      1f
        pop     %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore r12
        pop     %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore rbx
        ret
1:
        .cfi_undefined rip
        xor     %ebp, %ebp
        and     $-16, %rsp
        mov     %r12, %rdi
        call    *%rbx
        mov     %eax, %edi
        mov     $231, %eax      /* exit_group */
        syscall
        hlt
        .cfi_endproc
        .size   pv__clone_run, .-pv__clone_run

        .section .note.GNU-stack, "", @progbits
