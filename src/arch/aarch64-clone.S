/* SPDX-License-Identifier: MIT */
/*
 * long pv__clone_run(long nr, long a1, long a2, long a3, long a4,
 *                    const struct pv__clone_entry *e);
 *
 * The contract is x86_64-clone.S's (see src/syscall.h).  aarch64's clone
 * takes (flags, stack, parent_tid, tls, child_tid): a4 goes to x4 and tls
 * is 0.  fn and arg live in x19 and x20, callee-saved, which the kernel
 * preserves across svc (it writes only x0) and the child inherits.
 */
        .text
        .globl  pv__clone_run
        .hidden pv__clone_run
        .type   pv__clone_run, %function
        .p2align 2
pv__clone_run:
        .cfi_startproc
        stp     x29, x30, [sp, #-32]!
        .cfi_def_cfa_offset 32
        .cfi_offset x29, -32
        .cfi_offset x30, -24
        mov     x29, sp
        stp     x19, x20, [sp, #16]
        .cfi_offset x19, -16
        .cfi_offset x20, -8
        ldp     x19, x20, [x5]  /* e->fn, e->arg */
        mov     x8, x0
        mov     x0, x1
        mov     x1, x2
        mov     x2, x3
        mov     x3, xzr
        /* x4 is a4 already */
        svc     #0
        cbz     x0, 1f
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #32
        .cfi_restore x19
        .cfi_restore x20
        .cfi_restore x29
        .cfi_restore x30
        .cfi_def_cfa_offset 0
        ret
1:
        /* The child, on its own stack: the frame above is the parent's. */
        .cfi_undefined x30
        mov     x29, xzr
        mov     x30, xzr
        mov     x9, sp
        and     sp, x9, #-16
        mov     x0, x20
        blr     x19
        mov     x8, #94         /* exit_group; x0 is fn's result */
        svc     #0
        brk     #0
        .cfi_endproc
        .size   pv__clone_run, .-pv__clone_run

        .section .note.GNU-stack, "", %progbits
