# __chkstk for the Linux cross build only (assembled by build.sh with
# mingw-w64's `as`). The x64 compiler calls it before it allocates a stack
# frame larger than a page, with the frame's size in RAX, so that each page
# is touched in order and an overflow hits the stack's guard page. The
# WDK's ntoskrnl.lib carries it as static code for the Windows product
# build; mingw-w64's libntoskrnl.a, an import library only, does not.
# Keeps every register but the flags and does not move RSP.
        .text
        .globl  __chkstk
__chkstk:
        push    %rcx
        push    %rax
        cmp     $0x1000, %rax
        # The caller's RSP: above the two pushes and the return address.
        lea     24(%rsp), %rcx
        jb      2f
1:      sub     $0x1000, %rcx
        test    %rcx, (%rcx)
        sub     $0x1000, %rax
        cmp     $0x1000, %rax
        ja      1b
2:      sub     %rax, %rcx
        test    %rcx, (%rcx)
        pop     %rax
        pop     %rcx
        ret
